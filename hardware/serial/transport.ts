// A serial port that keeps itself open. USB adapters vanish and come back under another number,
// and node-serialport does not notice an unplugged device until a write fails, so this transport
// (1) resolves `/dev/serial/by-id/…` symlinks afresh on every open, (2) closes a port that has been
// silent for too long (the no-data watchdog) and (3) reopens with exponential backoff and jitter
// whenever opening fails or the port closes or errors. A presence check also notices the device
// node or its link disappearing or being recreated, which covers quiet request/response lines the
// watchdog can't. Drivers see only the ByteTransport contract.

import { lstat, realpath, stat } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { silentLogger, type Logger } from '../../lib/log.js';
import { Listeners, type ByteTransport, type TransportStateEvent } from './byte-transport.js';

/** Serial line settings. */
export interface SerialSettings {
  baudRate: number;
  /** 8 unless given; IEC 62056-21 and DSMR 2.2 use 7 with even parity. */
  dataBits?: 5 | 6 | 7 | 8;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits?: 1 | 1.5 | 2;
}

/** Options of {@link SerialTransport}. */
export interface SerialTransportOptions extends SerialSettings {
  /** Device path; symlinks such as `/dev/serial/by-id/…` are resolved on every (re)open. */
  path: string;
  /** Close and reopen a port that delivered nothing for this long; 0 (the default) turns the watchdog off. */
  noDataTimeoutMs?: number;
  /**
   * How often to check that the path still leads to the device that was opened; 1000 ms unless
   * given, 0 turns it off. An unplugged adapter's node (or its by-id link) disappears, and a
   * replugged one is a new node, while the old descriptor may stay silently "open".
   */
  presenceCheckMs?: number;
  /** Delay before the first retry and the cap of the doubling; 250 ms and 10 s unless given. */
  reopenBackoffMs?: { initial: number; max: number };
  log?: Logger;
}

/** What a {@link SerialTransport} has done, for health reporting. */
export interface SerialTransportStats {
  /** Successful opens, the first included. */
  opens: number;
  /** Successful opens after the first: recoveries from unplug, errors and watchdog trips. */
  reopens: number;
  openFailures: number;
  watchdogTrips: number;
  /** Times the presence check found the device gone or replaced. */
  vanished: number;
  bytesIn: number;
  bytesOut: number;
  lastError: string | null;
}

/** The port is not open (yet, or any more); writes fail with this. */
export class PortNotOpenError extends Error {
  override name = 'PortNotOpenError';
}

const PARITIES = ['none', 'even', 'odd', 'mark', 'space'];

/** A supervised serial port: reopens on failure, watches for silence, re-resolves its path. */
export class SerialTransport implements ByteTransport {
  readonly path: string;
  readonly #options: Required<Omit<SerialTransportOptions, 'log' | 'path'>>;
  readonly #log: Logger;
  readonly #data = new Listeners<Uint8Array>();
  readonly #state = new Listeners<TransportStateEvent>();
  readonly #stats: SerialTransportStats = { opens: 0, reopens: 0, openFailures: 0, watchdogTrips: 0, vanished: 0, bytesIn: 0, bytesOut: 0, lastError: null };
  #baudRate: number;
  #port: SerialPort | undefined;
  #running = false;
  /** Bumped by stop() and by every new open, so late callbacks of an older attempt do nothing. */
  #generation = 0;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #presence: NodeJS.Timeout | undefined;
  #lastDataAt = 0;
  #opening: Promise<void> | undefined;
  /** Rejecters of writes in flight: a port that dies mid-write may never call back. */
  readonly #pendingWrites = new Set<(error: Error) => void>();

  /** Validates the options; nothing is opened until start(). */
  constructor(options: SerialTransportOptions) {
    if (typeof options.path !== 'string' || options.path === '') throw new RangeError('options.path must be a non-empty string.');
    checkBaudRate('options.baudRate', options.baudRate);
    const dataBits = options.dataBits ?? 8;
    if (![5, 6, 7, 8].includes(dataBits)) throw new RangeError('options.dataBits, when provided, must be 5, 6, 7 or 8.');
    const parity = options.parity ?? 'none';
    if (!PARITIES.includes(parity)) throw new RangeError(`options.parity, when provided, must be one of ${PARITIES.join(', ')}.`);
    const stopBits = options.stopBits ?? 1;
    if (![1, 1.5, 2].includes(stopBits)) throw new RangeError('options.stopBits, when provided, must be 1, 1.5 or 2.');
    const noDataTimeoutMs = options.noDataTimeoutMs ?? 0;
    if (!(noDataTimeoutMs >= 0)) throw new RangeError('options.noDataTimeoutMs, when provided, must be 0 or more.');
    const presenceCheckMs = options.presenceCheckMs ?? 1000;
    if (!(presenceCheckMs >= 0)) throw new RangeError('options.presenceCheckMs, when provided, must be 0 or more.');
    const backoff = options.reopenBackoffMs ?? { initial: 250, max: 10_000 };
    if (!(backoff.initial > 0) || !(backoff.max >= backoff.initial)) {
      throw new RangeError('options.reopenBackoffMs must have initial > 0 and max >= initial.');
    }
    this.path = options.path;
    this.#baudRate = options.baudRate;
    this.#options = { baudRate: options.baudRate, dataBits, parity, stopBits, noDataTimeoutMs, presenceCheckMs, reopenBackoffMs: { ...backoff } };
    this.#log = (options.log ?? silentLogger).child({ component: 'serial', path: options.path });
  }

  /** A snapshot of the counters. */
  get stats(): SerialTransportStats {
    return { ...this.#stats };
  }

  /** True while a port is open. */
  get isOpen(): boolean {
    return this.#port !== undefined;
  }

  /** The current line speed (changed by setBaudRate). */
  get baudRate(): number {
    return this.#baudRate;
  }

  /** Subscribes to received chunks. */
  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.#data.add(listener);
  }

  /** Subscribes to open/closed/error changes. */
  onState(listener: (event: TransportStateEvent) => void): () => void {
    return this.#state.add(listener);
  }

  /** Starts the open/reopen loop; resolves after the first attempt, whether it opened the port or not. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#attempt = 0;
    await this.#open();
  }

  /** Stops reopening and closes the port. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#generation++;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#watchdog);
    clearInterval(this.#presence);
    // An open in flight finishes first, so its port can't outlive stop().
    await this.#opening;
    const port = this.#port;
    this.#port = undefined;
    this.#abandonWrites('stopped');
    if (port) await closePort(port);
    this.#state.emit({ state: 'closed', reason: 'stopped' });
  }

  /** Writes and drains; a failed write is taken as a lost device and triggers a reopen. */
  async write(bytes: Uint8Array): Promise<void> {
    const port = this.#port;
    if (!port) throw new PortNotOpenError(`${this.path} is not open.`);
    let abandon: ((error: Error) => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        abandon = reject;
        this.#pendingWrites.add(reject);
        port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (error) => (error ? reject(error) : undefined));
        port.drain((error) => (error ? reject(error) : resolve()));
      });
      this.#stats.bytesOut += bytes.byteLength;
    } catch (error) {
      this.#lost(port, 'error', `write failed: ${(error as Error).message}`);
      throw error;
    } finally {
      this.#pendingWrites.delete(abandon!);
    }
  }

  /**
   * Switches the line speed in place; if the driver refuses, reopens at the new speed. Note that
   * node-serialport flushes both directions on a speed change: let the last write arrive first.
   */
  async setBaudRate(baudRate: number): Promise<void> {
    checkBaudRate('baudRate', baudRate);
    if (baudRate === this.#baudRate) return;
    this.#baudRate = baudRate;
    const port = this.#port;
    if (!port) return; // the next open uses the new rate
    try {
      await new Promise<void>((resolve, reject) => port.update({ baudRate }, (error) => (error ? reject(error) : resolve())));
    } catch (error) {
      this.#log.warn('baud rate change failed; reopening at the new rate', { baudRate, error });
      this.#lost(port, 'error', `baud rate change failed: ${(error as Error).message}`, 0);
    }
  }

  #open(): Promise<void> {
    const opening = this.#tryOpen().finally(() => {
      if (this.#opening === opening) this.#opening = undefined;
    });
    this.#opening = opening;
    return opening;
  }

  async #tryOpen(): Promise<void> {
    const generation = ++this.#generation;
    const stale = (): boolean => !this.#running || generation !== this.#generation;
    let device: string;
    let identity: string;
    try {
      // Adapters renumber on replug (ttyUSB0 → ttyUSB1); the by-id link follows, so resolve it each time.
      device = await realpath(this.path);
      identity = await nodeIdentity(this.path);
    } catch (error) {
      if (!stale()) this.#failed(`cannot resolve ${this.path}: ${(error as Error).message}`);
      return;
    }
    if (stale()) return;
    const { dataBits, parity, stopBits } = this.#options;
    const port = new SerialPort({ path: device, baudRate: this.#baudRate, dataBits, parity, stopBits, autoOpen: false });
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      if (!stale()) this.#failed(`cannot open ${device}: ${(error as Error).message}`);
      return;
    }
    if (stale()) {
      await closePort(port);
      return;
    }
    this.#port = port;
    port.on('data', (chunk: Buffer) => this.#received(port, chunk));
    port.on('close', (error?: Error | null) => this.#lost(port, 'closed', error ? `closed: ${error.message}` : 'closed by the device'));
    port.on('error', (error: Error) => this.#lost(port, 'error', error.message));
    this.#stats.opens++;
    if (this.#stats.opens > 1) this.#stats.reopens++;
    this.#lastDataAt = Date.now();
    this.#armWatchdog(port);
    this.#watchPresence(port, device, identity);
    this.#log.info('serial port open', { node: device, baudRate: this.#baudRate });
    this.#state.emit({ state: 'open', path: device });
  }

  #received(port: SerialPort, chunk: Buffer): void {
    if (port !== this.#port) return;
    this.#lastDataAt = Date.now();
    // Data proves the link healthy: the next failure starts the backoff from the beginning again.
    this.#attempt = 0;
    this.#stats.bytesIn += chunk.byteLength;
    this.#data.emit(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  // One timer per timeout period rather than one per chunk: re-arming on every chunk costs more.
  #armWatchdog(port: SerialPort): void {
    const timeout = this.#options.noDataTimeoutMs;
    if (timeout <= 0) return;
    const check = (): void => {
      if (port !== this.#port) return;
      const silentFor = Date.now() - this.#lastDataAt;
      if (silentFor >= timeout) {
        this.#stats.watchdogTrips++;
        this.#lost(port, 'closed', `no data for ${silentFor} ms`);
      } else {
        this.#watchdog = setTimeout(check, timeout - silentFor);
      }
    };
    this.#watchdog = setTimeout(check, timeout);
  }

  // node-serialport may never report a vanished device: compare what the path leads to now with
  // what was opened (a missing link, another device node, or the same name recreated).
  #watchPresence(port: SerialPort, device: string, identity: string): void {
    const every = this.#options.presenceCheckMs;
    if (every <= 0) return;
    let checking = false;
    this.#presence = setInterval(() => {
      if (checking) return;
      checking = true;
      Promise.all([realpath(this.path), nodeIdentity(this.path)])
        .then(
          ([now, id]) => (now === device && id === identity ? undefined : `${this.path} now leads to another device (${now})`),
          (error: Error) => `${this.path} is gone: ${error.message}`,
        )
        .then((reason) => {
          checking = false;
          if (reason === undefined || port !== this.#port) return;
          this.#stats.vanished++;
          this.#lost(port, 'closed', reason);
        });
    }, every);
  }

  /** The open port failed, closed or went silent: close it and schedule a reopen. */
  #lost(port: SerialPort, state: 'closed' | 'error', reason: string, delayMs?: number): void {
    if (port !== this.#port) return;
    this.#port = undefined;
    clearTimeout(this.#watchdog);
    clearInterval(this.#presence);
    this.#abandonWrites(reason);
    if (state === 'error') this.#stats.lastError = reason;
    void closePort(port);
    const retryInMs = this.#schedule(delayMs);
    this.#log.warn('serial port lost', { reason, retryInMs });
    this.#state.emit({ state, reason, retryInMs });
  }

  #abandonWrites(reason: string): void {
    for (const reject of this.#pendingWrites) reject(new PortNotOpenError(`${this.path} closed during a write: ${reason}`));
    this.#pendingWrites.clear();
  }

  #failed(reason: string): void {
    this.#stats.openFailures++;
    this.#stats.lastError = reason;
    const retryInMs = this.#schedule();
    // Each failed attempt is logged at debug: a missing device would otherwise flood the log.
    this.#log.debug('serial port open failed', { reason, retryInMs });
    this.#state.emit({ state: 'error', reason, retryInMs });
  }

  #schedule(delayMs?: number): number {
    const { initial, max } = this.#options.reopenBackoffMs;
    // Exponential backoff with "equal jitter": half the step fixed, half random, so that several
    // readers behind one USB hub don't retry in lockstep.
    const step = Math.min(max, initial * 2 ** Math.min(this.#attempt, 30));
    const delay = delayMs ?? Math.round(step / 2 + Math.random() * (step / 2));
    this.#attempt++;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (this.#running && !this.#port) void this.#open();
    }, delay);
    return delay;
  }
}

function checkBaudRate(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 50 || value > 4_000_000) throw new RangeError(`${field} must be an integer from 50 to 4000000.`);
}

/** The inodes of the path itself and of what it leads to: both change when either is recreated. */
async function nodeIdentity(path: string): Promise<string> {
  const [link, node] = await Promise.all([lstat(path), stat(path)]);
  return `${link.dev}:${link.ino}/${node.dev}:${node.ino}:${node.rdev}`;
}

/** Closes a port, ignoring "not open": a vanished device may already have closed itself. */
function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) {
      resolve();
      return;
    }
    port.close(() => resolve());
  });
}
