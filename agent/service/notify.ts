// sd_notify for a node process: node has no datagram Unix sockets, so each message is sent by the
// `systemd-notify` command (the unit says NotifyAccess=all to accept it from a child). It is run
// without --no-block: it then waits until the service manager has read the message, and so is
// still alive when systemd looks up which unit sent it — with --no-block a child that exits first
// can have its READY=1 dropped (systemd-notify(1) on --no-block). It is spawned, never awaited
// by the agent, and gives up by itself after 5 s.
//
// The watchdog: every WATCHDOG_USEC/2 the health check runs; healthy → WATCHDOG=1, not → STATUS=
// with the reason and no pet, so systemd restarts the agent after WatchdogSec.

import { spawn } from 'node:child_process';
import type { Logger } from '../../lib/log.js';
import type { AgentHealth } from '../agent.js';

/** Options of {@link ServiceNotifier.fromEnvironment}. */
export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** The systemd-notify executable; from PATH unless given. */
  command?: string;
}

/** Talks to the service manager when it asked for it (NOTIFY_SOCKET); start with ready(), end with stopping(). */
export class ServiceNotifier {
  readonly #command: string;
  readonly #log: Logger;
  readonly #env: NodeJS.ProcessEnv;
  /** Pet interval (ms), when systemd wants pets from this process. */
  readonly #watchdogIntervalMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #missingReported = false;
  #lastStatus: string | undefined;
  #stopped = false;

  private constructor(env: NodeJS.ProcessEnv, log: Logger, command: string) {
    this.#env = env;
    this.#log = log;
    this.#command = command;
    const usec = Number(env['WATCHDOG_USEC']);
    const pid = env['WATCHDOG_PID'];
    // WATCHDOG_PID names the process systemd watches: a child that inherited the variables must not pet for it.
    const forThisProcess = pid === undefined || pid === '' || Number(pid) === process.pid;
    this.#watchdogIntervalMs = Number.isFinite(usec) && usec > 0 && forThisProcess ? Math.max(1, Math.floor(usec / 2000)) : undefined;
  }

  /** The watchdog period systemd set for this process (WatchdogSec), if any. */
  get watchdogMs(): number | undefined {
    return this.#watchdogIntervalMs === undefined ? undefined : this.#watchdogIntervalMs * 2;
  }

  /** A notifier when this process runs under a service manager that listens (NOTIFY_SOCKET), else undefined. */
  static fromEnvironment(options: NotifierOptions): ServiceNotifier | undefined {
    const env = options.env ?? process.env;
    if (!env['NOTIFY_SOCKET']) return undefined;
    return new ServiceNotifier(env, options.log, options.command ?? 'systemd-notify');
  }

  /** READY=1 with a status line; then, when systemd asked for a watchdog, pets while `check` says healthy. */
  ready(status: string, check: (timeoutMs: number) => Promise<AgentHealth>): void {
    this.#send(['READY=1', `STATUS=${status}`]);
    this.#lastStatus = status;
    const interval = this.#watchdogIntervalMs;
    if (interval === undefined) return;
    const tick = async (): Promise<void> => {
      // The check gets half a period: a pet still goes out well before systemd's deadline.
      const health = await check(Math.max(100, Math.floor(interval / 2))).catch((error: unknown): AgentHealth => ({ healthy: false, problems: [`health check failed: ${(error as Error).message}`] }));
      if (this.#stopped) return;
      if (health.healthy) {
        this.#send(this.#lastStatus === status ? ['WATCHDOG=1'] : ['WATCHDOG=1', `STATUS=${status}`]);
        if (this.#lastStatus !== status) this.#log.info('healthy again: petting the watchdog');
        this.#lastStatus = status;
      } else {
        const unhealthy = `unhealthy: ${health.problems.join('; ')}`;
        if (unhealthy !== this.#lastStatus) this.#log.warn('not healthy: the watchdog is not petted, systemd will restart the agent unless it recovers', { problems: health.problems });
        this.#send([`STATUS=${unhealthy}`]);
        this.#lastStatus = unhealthy;
      }
      this.#timer = setTimeout(() => void tick(), interval);
    };
    this.#timer = setTimeout(() => void tick(), interval);
  }

  /** STOPPING=1, and no more pets. */
  stopping(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#send(['STOPPING=1', 'STATUS=stopping']);
  }

  #send(assignments: string[]): void {
    const child = spawn(this.#command, assignments, { env: this.#env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-1024)));
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (this.#missingReported) return;
      this.#missingReported = true;
      this.#log.error(`cannot run ${this.#command}: the service manager gets no readiness or watchdog pets`, { error });
    });
    child.once('close', (code) => {
      if (code !== 0 && code !== null) this.#log.warn('systemd-notify failed', { message: assignments.join(' '), code, stderr: stderr.trim() });
    });
  }
}
