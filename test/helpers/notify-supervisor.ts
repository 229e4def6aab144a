// Plays systemd's part for one service process, for tests where PID 1 is not systemd (so
// `systemd-run --user` is not available): a datagram notify socket (node has none, so a few lines
// of python3 bind it and print each datagram as one JSON string per line — python's recv() also
// closes the barrier fd systemd-notify passes, as systemd does), the process started with
// NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and the watchdog: no WATCHDOG=1 within
// WATCHDOG_USEC after READY=1 or the last pet → SIGABRT, SIGKILL if it is still there after
// abortTimeoutMs, and a new process after restartMs (Restart=always, RestartSec=).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const LISTENER = `
import json, os, socket, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
server.bind(path)
print(json.dumps("LISTENING"), flush=True)
while True:
    data = server.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

/** One notify message, parsed: `READY=1\nSTATUS=…` → { READY: '1', STATUS: '…' }. */
export interface NotifyMessage {
  at: number;
  /** Which process of the service (1 for the first, 2 after the first restart, …). */
  generation: number;
  fields: Record<string, string>;
}

/** Options of {@link NotifySupervisor.start}. */
export interface NotifySupervisorOptions {
  /** The executable and its arguments (run as is: a #! script runs through its #! line). */
  command: string;
  args: string[];
  watchdogUsec: number;
  /** WATCHDOG_PID: the process's own pid (what systemd sets) unless given. */
  watchdogPid?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  abortTimeoutMs?: number;
  restartMs?: number;
}

/** One run of the process. */
export interface Generation {
  number: number;
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A supervisor with its notify socket; stop() ends the process and the listener. */
export class NotifySupervisor {
  readonly messages: NotifyMessage[] = [];
  readonly #options: NotifySupervisorOptions;
  readonly #dir: string;
  readonly #socket: string;
  readonly #listener: ChildProcess;
  #generation: Generation | undefined;
  #lastPetAt: number | undefined;
  #watchdogTimer: NodeJS.Timeout | undefined;
  #restarting = false;
  #stopped = false;
  /** Why each restart happened, e.g. "no WATCHDOG=1 for 2104 ms". */
  readonly restarts: string[] = [];

  private constructor(options: NotifySupervisorOptions, dir: string, listener: ChildProcess) {
    this.#options = options;
    this.#dir = dir;
    this.#socket = join(dir, 'notify.sock');
    this.#listener = listener;
  }

  /** Binds the notify socket and starts the first process. */
  static async start(options: NotifySupervisorOptions): Promise<NotifySupervisor> {
    const dir = await mkdtemp(join(tmpdir(), 'rivulet-notify-'));
    const listener = spawn('python3', ['-c', LISTENER, join(dir, 'notify.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const supervisor = new NotifySupervisor(options, dir, listener);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.once('exit', (code) => reject(new Error(`the notify listener (python3) exited with ${code}`)));
      createInterface({ input: listener.stdout! }).on('line', (line) => {
        const text = JSON.parse(line) as string;
        if (text === 'LISTENING') resolve();
        else supervisor.#received(text);
      });
    });
    supervisor.#spawn();
    return supervisor;
  }

  /** The process running now. */
  get current(): Generation {
    return this.#generation!;
  }

  /** Messages of one generation that set `field`. */
  sent(field: string, generation = this.current.number): NotifyMessage[] {
    return this.messages.filter((message) => message.generation === generation && field in message.fields);
  }

  /** Waits until `check` holds (polled), or fails with `what` and the process's output. */
  async waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; messages: ${JSON.stringify(this.messages.slice(-10))}; output: ${this.current.output().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** SIGTERM to the process (and SIGKILL after 10 s), then the listener; removes the socket. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdogTimer);
    const generation = this.#generation;
    if (generation && generation.child.exitCode === null && generation.child.signalCode === null) {
      generation.child.kill('SIGCONT');
      generation.child.kill('SIGTERM');
      const timer = setTimeout(() => generation.child.kill('SIGKILL'), 10_000);
      await generation.exited;
      clearTimeout(timer);
    }
    this.#listener.kill('SIGKILL');
    await rm(this.#dir, { recursive: true, force: true });
  }

  #spawn(): void {
    const number = (this.#generation?.number ?? 0) + 1;
    // WATCHDOG_PID is the service process's own pid, known only after the fork: a shell sets it, then execs.
    const watchdogPid = this.#options.watchdogPid === undefined ? '$$' : String(this.#options.watchdogPid);
    const child = spawn('/bin/sh', ['-c', `WATCHDOG_PID=${watchdogPid} exec "$@"`, 'sh', this.#options.command, ...this.#options.args], {
      cwd: this.#options.cwd,
      env: { ...(this.#options.env ?? process.env), NOTIFY_SOCKET: this.#socket, WATCHDOG_USEC: String(this.#options.watchdogUsec) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [child.stdout!, child.stderr!]) stream.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-20_000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.#generation = { number, child, pid: child.pid!, output: () => output, exited };
    this.#lastPetAt = undefined;
    void exited.then(() => {
      if (!this.#stopped && !this.#restarting && this.#generation?.child === child) void this.#restart(`exited`);
    });
  }

  #received(text: string): void {
    const fields: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const equals = line.indexOf('=');
      if (equals > 0) fields[line.slice(0, equals)] = line.slice(equals + 1);
    }
    this.messages.push({ at: Date.now(), generation: this.#generation?.number ?? 0, fields });
    // The watchdog is armed by READY=1 and re-armed by each pet.
    if (fields['READY'] === '1' || fields['WATCHDOG'] === '1') {
      this.#lastPetAt = Date.now();
      this.#watchdogTimer ??= setInterval(() => this.#checkWatchdog(), 50);
    }
  }

  #checkWatchdog(): void {
    if (this.#restarting || this.#stopped || this.#lastPetAt === undefined) return;
    const silentMs = Date.now() - this.#lastPetAt;
    if (silentMs > this.#options.watchdogUsec / 1000) void this.#restart(`no WATCHDOG=1 for ${silentMs} ms`);
  }

  async #restart(reason: string): Promise<void> {
    this.#restarting = true;
    this.restarts.push(reason);
    const { child, exited } = this.#generation!;
    if (child.exitCode === null && child.signalCode === null) {
      // systemd's watchdog timeout: SIGABRT (a core dump to look at), SIGKILL when that does not end it.
      child.kill('SIGABRT');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.#options.abortTimeoutMs ?? 3000);
      await exited;
      clearTimeout(timer);
    }
    await new Promise((resolve) => setTimeout(resolve, this.#options.restartMs ?? 500));
    if (!this.#stopped) this.#spawn();
    this.#restarting = false;
  }
}
