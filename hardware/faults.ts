// Fault injection shared by every device simulator, so that "garbled bytes, bad checksums, partial
// frames, silence and disconnects" mean the same thing for a GPS as for a Modbus meter. A simulator
// builds a frame (asking `corruptChecksum()` first, because only it knows where its checksum goes)
// and hands it to its SimulatorLink, which drops it during silence, cuts and garbles it, and writes
// it to the simulator's end of the line. The link also runs the disconnect schedule.

import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../lib/log.js';
import type { ByteTransport } from './serial/byte-transport.js';
import { SerialTransport, type SerialSettings } from './serial/transport.js';

/** The faults a simulator can inject; probabilities are per frame, from 0 to 1. */
export interface FaultOptions {
  /** A frame gets 1–3 bytes replaced by noise and a few noise bytes in front of it. */
  garble?: number;
  /** A frame carries a wrong checksum/CRC/BCC (protocols without one ignore this). */
  badChecksum?: number;
  /** A frame is cut off part-way, as when a cable is pulled mid-frame. */
  partial?: number;
  /** Silent (no frames, no answers) for the last `for` ms of every `every` ms. */
  silenceMs?: { every: number; for: number };
  /** Every `everyMs` the simulator closes its side for `forMs` (see SimulatorLinkOptions.onDisconnect). */
  disconnect?: { everyMs: number; forMs: number };
}

/** Faults that can be forced onto the next frame with FaultInjector.once. */
export type FrameFault = 'garble' | 'badChecksum' | 'partial' | 'silence';

/** What a FaultInjector has done. */
export interface FaultCounters {
  garbled: number;
  badChecksums: number;
  partials: number;
  silenced: number;
  disconnects: number;
}

/** Checks fault options from configuration or the command line; messages name the field. */
export function checkFaultOptions(input: FaultOptions, path = 'faults'): FaultOptions {
  for (const field of ['garble', 'badChecksum', 'partial'] as const) {
    const value = input[field];
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= 1)) {
      throw new RangeError(`${path}.${field}, when provided, must be a probability from 0 to 1.`);
    }
  }
  if (input.silenceMs !== undefined) {
    const { every, for: length } = input.silenceMs;
    if (!(every > 0) || !(length > 0) || length >= every) {
      throw new RangeError(`${path}.silenceMs must have every > for > 0 (milliseconds).`);
    }
  }
  if (input.disconnect !== undefined) {
    const { everyMs, forMs } = input.disconnect;
    if (!(everyMs > 0) || !(forMs >= 0)) throw new RangeError(`${path}.disconnect must have everyMs > 0 and forMs >= 0.`);
  }
  return input;
}

/** Decides, frame by frame, which faults to inject, and applies the byte-level ones. */
export class FaultInjector {
  readonly #options: FaultOptions;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #forced = new Set<FrameFault>();
  readonly #startedAt: number;
  readonly #counters: FaultCounters = { garbled: 0, badChecksums: 0, partials: 0, silenced: 0, disconnects: 0 };

  /** `random` (default Math.random) may be a seeded generator so that a run can be replayed. */
  constructor(options: FaultOptions = {}, random: () => number = Math.random, now: () => number = Date.now) {
    this.#options = checkFaultOptions(options);
    this.#random = random;
    this.#now = now;
    this.#startedAt = now();
  }

  /** The options in force. */
  get options(): FaultOptions {
    return this.#options;
  }

  /** A snapshot of the counters. */
  get counters(): FaultCounters {
    return { ...this.#counters };
  }

  /** Forces `fault` on the next frame, whatever the probabilities say (for tests and demos). */
  once(fault: FrameFault): void {
    this.#forced.add(fault);
  }

  /** Whether the frame being built should carry a wrong checksum. */
  corruptChecksum(): boolean {
    const hit = this.#roll('badChecksum', this.#options.badChecksum);
    if (hit) this.#counters.badChecksums++;
    return hit;
  }

  /** Whether the device is in a silence window now (the frame is to be dropped). */
  silent(): boolean {
    let hit = this.#forced.delete('silence');
    const window = this.#options.silenceMs;
    if (!hit && window) hit = (this.#now() - this.#startedAt) % window.every >= window.every - window.for;
    if (hit) this.#counters.silenced++;
    return hit;
  }

  /** Applies the byte-level faults to a finished frame: cut it off, garble it, or neither. */
  mangle(frame: Uint8Array): Uint8Array {
    let out = frame;
    if (out.length > 2 && this.#roll('partial', this.#options.partial)) {
      this.#counters.partials++;
      // At least two bytes go: losing only the final LF of a CR LF frame would leave it whole.
      out = out.slice(0, 1 + Math.floor(this.#random() * (out.length - 2)));
    }
    if (out.length > 0 && this.#roll('garble', this.#options.garble)) {
      this.#counters.garbled++;
      const noise = Math.floor(this.#random() * 5);
      const garbled = new Uint8Array(noise + out.length);
      for (let i = 0; i < noise; i++) garbled[i] = this.#byte();
      garbled.set(out, noise);
      const hits = 1 + Math.floor(this.#random() * 3);
      for (let i = 0; i < hits; i++) {
        const at = noise + Math.floor(this.#random() * out.length);
        // XOR with a non-zero value: the byte is guaranteed to change.
        garbled[at] = garbled[at]! ^ (1 + Math.floor(this.#random() * 255));
      }
      out = garbled;
    }
    return out;
  }

  /** Counts a disconnect (the link runs the schedule). */
  countDisconnect(): void {
    this.#counters.disconnects++;
  }

  #roll(fault: FrameFault, probability: number | undefined): boolean {
    if (this.#forced.delete(fault)) return true;
    return probability !== undefined && probability > 0 && this.#random() < probability;
  }

  #byte(): number {
    return Math.floor(this.#random() * 256);
  }
}

/** Options every simulator takes for its end of the line. */
export interface SimulatorLinkOptions {
  /** The simulator's end of the pty pair; opened through SerialPort. */
  path?: string;
  /** Or a transport to write to directly (tests without ports). */
  transport?: ByteTransport;
  faults?: FaultOptions;
  /** Seeded generator for the fault decisions; Math.random unless given. */
  random?: () => number;
  /**
   * Called when a scheduled disconnect begins, after the simulator closed its side: whoever owns
   * the pty pair tears it down, waits `forMs` and recreates it (the reader sees an unplug). The
   * simulator reopens its side when the returned promise settles; `signal` aborts when the
   * simulator stops meanwhile. Without a hook the simulator only stays closed for `forMs`, which
   * the reader sees as silence.
   */
  onDisconnect?: (forMs: number, signal: AbortSignal) => Promise<void>;
  log?: Logger;
}

const MAX_QUEUED_WRITES = 64;

/** The simulator's end of the line: a transport plus fault injection and the disconnect schedule. */
export class SimulatorLink {
  readonly faults: FaultInjector;
  readonly #transport: ByteTransport;
  readonly #options: SimulatorLinkOptions;
  readonly #log: Logger;
  #running = false;
  #connected = false;
  /** Writes go out one after another, in the order they were sent. */
  #queue: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #dropped = 0;
  #disconnectTimer: NodeJS.Timeout | undefined;
  #tickers: NodeJS.Timeout[] = [];
  #disconnecting: Promise<void> | undefined;
  #stopping = new AbortController();

  /** `serial` is used when the link opens `options.path` itself. */
  constructor(options: SimulatorLinkOptions, serial: SerialSettings) {
    if ((options.path === undefined) === (options.transport === undefined)) throw new RangeError('Give exactly one of options.path and options.transport.');
    this.faults = new FaultInjector(options.faults ?? {}, options.random);
    this.#options = options;
    this.#log = (options.log ?? silentLogger).child({ component: 'simulator' });
    // A simulator's pty end can vanish too (the pair is recreated on disconnect): reopen quickly.
    this.#transport = options.transport ?? new SerialTransport({ path: options.path!, ...serial, reopenBackoffMs: { initial: 50, max: 500 }, presenceCheckMs: 250, log: options.log });
  }

  /** True while the simulator's side is open for business (not in a disconnect). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Frames dropped because too many writes were waiting to drain (nobody reading the other end). */
  get droppedWhileBlocked(): number {
    return this.#dropped;
  }

  /** Opens the simulator's side and starts the disconnect schedule. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#stopping = new AbortController();
    await this.#transport.start();
    this.#connected = true;
    const schedule = this.faults.options.disconnect;
    if (schedule) {
      this.#disconnectTimer = setInterval(() => {
        this.#disconnecting ??= this.#disconnect(schedule.forMs).finally(() => (this.#disconnecting = undefined));
      }, schedule.everyMs);
    }
  }

  /** Closes the simulator's side; waits for a disconnect in progress. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopping.abort();
    clearInterval(this.#disconnectTimer);
    for (const ticker of this.#tickers) clearInterval(ticker);
    this.#tickers = [];
    await this.#disconnecting;
    this.#connected = false;
    await this.#transport.stop();
  }

  /**
   * Runs `tick` every `intervalMs` until stop(), first at once; a tick still running (its writes
   * not drained) makes the next one skip rather than pile up.
   */
  repeat(intervalMs: number, tick: () => Promise<void>): void {
    if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive.');
    let busy = false;
    const run = (): void => {
      if (busy || !this.#running) return;
      busy = true;
      tick()
        .catch((error: unknown) => this.#log.error('simulator tick failed', { error }))
        .finally(() => (busy = false));
    };
    this.#tickers.push(setInterval(run, intervalMs));
    run();
  }

  /** Subscribes to bytes from the reader (requests, handshakes). */
  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.#transport.onData(listener);
  }

  /** Changes the simulator side's line speed. */
  setBaudRate(baudRate: number): Promise<void> {
    return this.#transport.setBaudRate(baudRate);
  }

  /** Sends one frame through silence, cut-off and garbling; false when it was not sent. */
  async send(frame: Uint8Array | string): Promise<boolean> {
    if (this.faults.silent()) return false;
    return this.sendRaw(this.faults.mangle(typeof frame === 'string' ? Buffer.from(frame, 'latin1') : frame));
  }

  /** Writes bytes as they are (e.g. line noise); false when the side is closed or the queue is full. */
  async sendRaw(bytes: Uint8Array): Promise<boolean> {
    if (!this.#connected) return false;
    // A pty whose other end nobody reads stops draining; an unbounded queue would grow forever.
    if (this.#queued >= MAX_QUEUED_WRITES) {
      this.#dropped++;
      return false;
    }
    this.#queued++;
    const sent = this.#queue.then(() => (this.#connected ? this.#transport.write(bytes).then(() => true, () => false) : false));
    this.#queue = sent;
    try {
      return await sent;
    } finally {
      this.#queued--;
    }
  }

  async #disconnect(forMs: number): Promise<void> {
    this.faults.countDisconnect();
    this.#connected = false;
    await this.#transport.stop();
    this.#log.info('simulated disconnect', { forMs });
    const signal = this.#stopping.signal;
    try {
      if (this.#options.onDisconnect) await this.#options.onDisconnect(forMs, signal);
      else await sleep(forMs, undefined, { signal });
    } catch (error) {
      if (!signal.aborted) this.#log.error('disconnect hook failed', { error });
    }
    if (!this.#running) return;
    await this.#transport.start();
    this.#connected = true;
  }
}
