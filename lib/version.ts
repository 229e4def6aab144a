// The package's version, read once: the CLI's --version and the agent's heartbeats both show it.

import { readFileSync } from 'node:fs';

/** package.json's version (only the string is kept, not the parsed file). */
export const VERSION = packageVersion();

function packageVersion(): string {
  // Compiled, this file is dist/lib/version.js; the tests run it from lib/version.ts.
  for (const relative of ['../package.json', '../../package.json']) {
    let text: string;
    try {
      text = readFileSync(new URL(relative, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    return (JSON.parse(text) as { version: string }).version;
  }
  throw new Error(`package.json not found above ${import.meta.url}`);
}
