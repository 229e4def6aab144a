// A real pseudo-terminal pair from socat, the way gpsd's gpsfake feeds its tests: a simulator
// writes to one end and a reader opens the other exactly as it would a USB adapter. Killing socat
// removes both ends, which to the reader looks like an unplugged device; opening a new pair at the
// same link paths is the replug.

import { spawn, type ChildProcess } from 'node:child_process';
import { readlink, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link openPtyPair}. */
export interface PtyPairOptions {
  /** Symlink created for the reader's end (where a reader opens the "device"). */
  devicePath: string;
  /** Symlink created for the simulator's end. */
  simulatorPath: string;
  /** The socat executable; `socat` from PATH unless given. */
  socat?: string;
  /** Give up when socat hasn't set up both ends by then; 5000 ms unless given. */
  readyTimeoutMs?: number;
}

/** A running pty pair. */
export interface PtyPair {
  readonly devicePath: string;
  readonly simulatorPath: string;
  /** The pts nodes the links point to, e.g. `/dev/pts/3`. */
  readonly devicePts: string;
  readonly simulatorPts: string;
  /** The options it was opened with, to open it again (see replugPtyPair). */
  readonly options: PtyPairOptions;
  /** Ends socat (removing both ends and their links) and waits until it has exited. */
  close(): Promise<void>;
}

/** Starts socat with two linked ptys and resolves once both links point at their pts. */
export async function openPtyPair(options: PtyPairOptions): Promise<PtyPair> {
  for (const field of ['devicePath', 'simulatorPath'] as const) {
    if (typeof options[field] !== 'string' || options[field] === '') throw new RangeError(`options.${field} must be a non-empty string.`);
  }
  if (options.devicePath === options.simulatorPath) throw new RangeError('options.devicePath and options.simulatorPath must differ.');
  const timeoutMs = options.readyTimeoutMs ?? 5000;
  // `raw,echo=0` on both ends: bytes pass untouched, with no line discipline and no echo.
  const child = spawn(
    options.socat ?? 'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${options.devicePath}`, `pty,raw,echo=0,link=${options.simulatorPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  const ptys: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4096);
    // socat -d -d reports each end as "… N PTY is /dev/pts/7", in address order.
    for (const match of text.matchAll(/PTY is (\S+)/g)) ptys.push(match[1]!);
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));

  const kill = async (): Promise<void> => {
    await stopChild(child, exited);
    // socat removes its links on a clean exit; a SIGKILLed one leaves them dangling.
    await Promise.all([removeLinkTo(options.devicePath, ptys[0]), removeLinkTo(options.simulatorPath, ptys[1])]);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`cannot start socat: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`socat exited (${child.exitCode ?? child.signalCode}) before the pty pair was ready: ${stderr.trim()}`);
    }
    // A stale link from an earlier run may still exist: wait until each link names *this* socat's pts.
    if (ptys.length >= 2 && (await linksTo(options.devicePath, ptys[0]!)) && (await linksTo(options.simulatorPath, ptys[1]!))) break;
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`socat did not set up ${options.devicePath} and ${options.simulatorPath} within ${timeoutMs} ms: ${stderr.trim()}`);
    }
    await sleep(10);
  }

  let closing: Promise<void> | undefined;
  return {
    devicePath: options.devicePath,
    simulatorPath: options.simulatorPath,
    devicePts: ptys[0]!,
    simulatorPts: ptys[1]!,
    options: { ...options },
    close: () => (closing ??= kill()),
  };
}

/**
 * Closes a pair, waits `offMs` (the device is "unplugged") and opens it again at the same paths.
 * When `signal` aborts during the wait, the device stays unplugged and the closed pair is returned.
 */
export async function replugPtyPair(pair: PtyPair, offMs: number, signal?: AbortSignal): Promise<PtyPair> {
  await pair.close();
  try {
    await sleep(offMs, undefined, signal ? { signal } : {});
  } catch {
    return pair;
  }
  return openPtyPair(pair.options);
}

async function linksTo(link: string, target: string): Promise<boolean> {
  try {
    return (await readlink(link)) === target;
  } catch {
    return false;
  }
}

async function removeLinkTo(link: string, target: string | undefined): Promise<void> {
  if (target !== undefined && (await linksTo(link, target))) await rm(link, { force: true });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
