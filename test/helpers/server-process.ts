// Runs the compiled CLI (`node dist/cli/rivulet.js ...`) as a real child process, the way a user
// or a service manager does. `startServerProcess` waits for the `Rivulet listening on <url>` line
// the server prints on stdout once it accepts connections; failures to start include the
// process's stderr so the reason is in the test report. Every process started here is killed when
// the test worker exits, whatever happened to the test.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
// RIVULET_TEST_CLI points the tests at another build, e.g. a deliberately broken copy of dist/
// to check that a test notices.
export const CLI_PATH = process.env['RIVULET_TEST_CLI'] ?? join(REPO_ROOT, 'dist', 'cli', 'rivulet.js');
/** The device's entry point, run as its #! line says (with its V8 flags), as a device runs it. */
export const AGENT_BIN_PATH = join(dirname(CLI_PATH), 'rivulet-agent.js');

const LISTENING = /^Rivulet listening on (\S+)\s*$/m;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  /** The URL the server printed, e.g. http://127.0.0.1:41234. */
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (and its pipes are closed). */
  exited: Promise<Exit>;
  /** Sends `signal` and waits for the exit; SIGKILL if it has not gone after `timeoutMs`. */
  kill(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export interface StartOptions {
  /** Reused as is (e.g. to restart on the same data); a fresh temp dir (removed at exit) otherwise. */
  dataDir?: string;
  /** Extra arguments after `server --port 0 --data-dir DIR`. */
  args?: string[];
  /** Replaces `--port 0`. */
  port?: number;
  timeoutMs?: number;
}

const live = new Set<ChildProcess>();
const createdDirs = new Set<string>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of createdDirs) rmSync(dir, { recursive: true, force: true });
});

function assertBuilt(path: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} does not exist: run \`bash scripts/setup.sh\` (it compiles the sources to dist/) before the tests.`);
  }
}

/**
 * Spawns `node dist/cli/rivulet.js ...args` (or, with `bin: 'rivulet-agent'`, the executable
 * dist/cli/rivulet-agent.js) with piped output, tracked for clean-up.
 */
export function spawnCli(
  args: string[],
  { env = process.env, bin = 'rivulet' }: { env?: NodeJS.ProcessEnv; bin?: 'rivulet' | 'rivulet-agent' } = {},
): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<Exit> } {
  const path = bin === 'rivulet' ? CLI_PATH : AGENT_BIN_PATH;
  assertBuilt(path);
  const child = bin === 'rivulet' ? spawn(process.execPath, [path, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(path, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  exited.catch(() => {});
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs the CLI to completion (SIGKILL after `timeoutMs`) and returns its exit and output. */
export async function runCli(args: string[], timeoutMs = 15_000, bin: 'rivulet' | 'rivulet-agent' = 'rivulet'): Promise<Exit & { stdout: string; stderr: string; timedOut: boolean }> {
  const run = spawnCli(args, { bin });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    run.child.kill('SIGKILL');
  }, timeoutMs);
  const exit = await run.exited.finally(() => clearTimeout(timer));
  return { ...exit, stdout: run.stdout(), stderr: run.stderr(), timedOut };
}

/** A fresh temporary directory; removed by the returned cleanup, or when the test worker exits. */
export async function tempDir(prefix = 'rivulet-proc-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  createdDirs.add(path);
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Starts `rivulet server` and resolves once it printed its URL. Rejects (after killing it) if the
 * process exits first or nothing is printed within `timeoutMs`, with its stderr in the message.
 */
export async function startServerProcess(options: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? (await tempDir('rivulet-proc-data-')).path;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const args = ['server', '--port', String(options.port ?? 0), '--data-dir', dataDir, ...(options.args ?? [])];
  const run = spawnCli(args);
  const { child } = run;

  const describe = (what: string) =>
    `rivulet ${args.join(' ')} ${what}\n--- stdout ---\n${run.stdout()}\n--- stderr ---\n${run.stderr()}`;

  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = LISTENING.exec(run.stdout());
      if (match) {
        cleanup();
        resolve(match[1]!);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(describe(`printed no "Rivulet listening on" line within ${timeoutMs} ms`)));
    }, timeoutMs);
    const onExit = (exit: Exit) => {
      cleanup();
      reject(new Error(describe(`exited (code ${exit.code}, signal ${exit.signal}) before listening`)));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
    };
    child.stdout!.on('data', check);
    run.exited.then(onExit, reject);
    check();
  });

  const port = Number(new URL(url).port);
  if (!Number.isInteger(port) || port <= 0) {
    child.kill('SIGKILL');
    throw new Error(describe(`printed a URL without a usable port: ${url}`));
  }

  return {
    url,
    port,
    dataDir,
    child,
    stdout: run.stdout,
    stderr: run.stderr,
    exited: run.exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await run.exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection with `message` if it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (after ${ms} ms)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
