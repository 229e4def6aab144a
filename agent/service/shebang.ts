// The agent's launch line lives in one place, the `#!` line of cli/rivulet-agent.ts (its V8 flags
// and libuv pool size, and why). A systemd unit cannot run a script through `env -S`, so the
// installer reads that line and turns it into Environment= and the node flags. Pure.

/** How the `#!` line starts node: variables first, then node's own flags. */
export interface NodeLaunch {
  environment: Record<string, string>;
  nodeFlags: string[];
}

/** A `#!` line that is not `#!/usr/bin/env -S [NAME=value…] node [--flag…]`. */
export class ShebangError extends Error {
  override readonly name = 'ShebangError';
}

/** Parses `#!/usr/bin/env -S UV_THREADPOOL_SIZE=16 node --lite-mode …` (also `#!/usr/bin/env node`). */
export function parseNodeShebang(line: string): NodeLaunch {
  const match = /^#!\s*\S*\/env\s+(?:-S\s+)?(.*)$/.exec(line.trim());
  if (!match) throw new ShebangError(`not an "#!/usr/bin/env … node" line: ${JSON.stringify(line)}`);
  const words = match[1]!.split(/\s+/).filter((word) => word !== '');
  const environment: Record<string, string> = {};
  let index = 0;
  for (; index < words.length && /^[A-Za-z_]\w*=/.test(words[index]!); index++) {
    const word = words[index]!;
    const equals = word.indexOf('=');
    environment[word.slice(0, equals)] = word.slice(equals + 1);
  }
  if (words[index] !== 'node') throw new ShebangError(`the "#!" line does not run node: ${JSON.stringify(line)}`);
  return { environment, nodeFlags: words.slice(index + 1) };
}
