// The narrow contract between device drivers and whatever carries their bytes. A driver (reader or
// simulator) sees only `ByteTransport`: a serial port in production, a pty in tests, or a plain
// object in unit tests. This file also holds what every reader shares on top of it — the reading
// shape, listener sets and the start/stop lifecycle — so the five readers only add their protocol.

import { setTimeout as sleepFor } from 'node:timers/promises';

/** Transport states: a port is `open`, was `closed` (by us, the watchdog or the device) or failed with an `error`. */
export type TransportState = 'open' | 'closed' | 'error';

/** A state change, with why it happened. */
export interface TransportStateEvent {
  state: TransportState;
  /** Human-readable cause: `stopped`, `no data for 2000 ms`, `ENOENT: no such file …`. */
  reason?: string;
  /** The device node actually opened (symlinks resolved), when known. */
  path?: string;
  /** When the transport will try again, for `closed` and `error` while running. */
  retryInMs?: number;
}

/** What drivers need from a byte link: a lifecycle, writes, and data and state callbacks. */
export interface ByteTransport {
  /** Begins opening (and keeps reopening); resolves after the first attempt, opened or not. */
  start(): Promise<void>;
  /** Closes for good; resolves once the port is closed. */
  stop(): Promise<void>;
  /** Writes and waits until the bytes have left; rejects when the link is not open. */
  write(bytes: Uint8Array): Promise<void>;
  /** Changes the line speed in place (IEC 62056-21 switches after the handshake). */
  setBaudRate(baudRate: number): Promise<void>;
  /** Subscribes to received chunks; returns the unsubscribe function. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /** Subscribes to state changes; returns the unsubscribe function. */
  onState(listener: (event: TransportStateEvent) => void): () => void;
}

/** A set of callbacks; a throwing listener must not starve the others or the emitter. */
export class Listeners<T> {
  readonly #set = new Set<(value: T) => void>();

  /** Adds a listener; returns the function that removes it. */
  add(listener: (value: T) => void): () => void {
    this.#set.add(listener);
    return () => this.#set.delete(listener);
  }

  /** Calls every listener; errors are reported asynchronously instead of unwinding the caller. */
  emit(value: T): void {
    for (const listener of this.#set) {
      try {
        listener(value);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** Which driver produced a reading. */
export type ReadingSource = 'nmea' | 'dsmr' | 'modbus' | 'iec62056' | 'line';

/** One reading value: numbers are in their unit; text and flags pass through as sent. */
export type ReadingValue = number | string | boolean | null;

/** A reading as every reader emits it. */
export interface DeviceReading {
  source: ReadingSource;
  /** Named values; numbers in the unit named by the field or by `units`. */
  values: Record<string, ReadingValue>;
  /** When the reading was received, ISO 8601 UTC. */
  timestamp: string;
  /** The device's own clock for this reading (GPS time, meter time), when it has one. */
  deviceTime?: string;
  /** Units of numeric values whose name does not carry them. */
  units?: Record<string, string>;
  /** The frame as received (latin1 text), when the reader was asked to keep it. */
  raw?: string;
}

/** Counters every reader keeps; protocol readers add their own. */
export interface ReaderCounters {
  /** Frames (sentences, telegrams, lines, replies, blocks) that parsed. */
  frames: number;
  /** Complete frames dropped for a wrong checksum/CRC/BCC. */
  checksumErrors: number;
  /** Times the framer gave up on a partial frame and resynchronised on the next start. */
  resyncs: number;
  /** Frames that arrived intact but did not parse. */
  rejected: number;
}

/**
 * The lifecycle all readers share: subscribe to the transport, start it, and stop both together.
 * Stream readers override `consume`; request/response readers use `awaitReply` and `pause`.
 */
export abstract class TransportReader<Counters extends ReaderCounters> {
  protected readonly transport: ByteTransport;
  readonly #readings = new Listeners<DeviceReading>();
  #unsubscribe: Array<() => void> = [];
  #running = false;
  #stopping = new AbortController();
  #reply: ((chunk: Uint8Array) => void) | undefined;
  #cancelReply: (() => void) | undefined;

  /** Wraps `transport`, which the reader starts and stops. */
  constructor(transport: ByteTransport) {
    this.transport = transport;
  }

  /** A snapshot of the counters. */
  abstract get counters(): Counters;

  /** True between start() and stop(). */
  get running(): boolean {
    return this.#running;
  }

  /** Subscribes to readings; returns the unsubscribe function. */
  onReading(listener: (reading: DeviceReading) => void): () => void {
    return this.#readings.add(listener);
  }

  /** Starts the transport and the reader's own work. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#stopping = new AbortController();
    this.#unsubscribe = [
      this.transport.onData((chunk) => this.consume(chunk)),
      this.transport.onState((event) => this.stateChanged(event)),
    ];
    await this.transport.start();
    this.started();
  }

  /** Stops the reader's work and closes the transport. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopping.abort();
    this.#cancelReply?.();
    await this.stopping();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [];
    await this.transport.stop();
  }

  /** Receives every chunk; the default hands it to a pending `awaitReply` and drops it otherwise. */
  protected consume(chunk: Uint8Array): void {
    this.#reply?.(chunk);
  }

  /** Called on transport state changes; stream readers drop half-received frames here. */
  protected stateChanged(_event: TransportStateEvent): void {}

  /** Called once the transport has been started; pollers start their loop here. */
  protected started(): void {}

  /** Called by stop() before the transport closes; pollers wait for their loop here. */
  protected async stopping(): Promise<void> {}

  /** Hands a reading to the listeners. */
  protected emit(reading: DeviceReading): void {
    this.#readings.emit(reading);
  }

  /**
   * Feeds received chunks to `take` until it returns a result, or gives `onTimeout()` after
   * `timeoutMs` (or at once when the reader stops). `send` runs after the feed is attached, so a
   * reply arriving right after the request is not missed.
   */
  protected awaitReply<T>(timeoutMs: number, take: (chunk: Uint8Array) => T | undefined, onTimeout: () => T, send?: () => Promise<void>): Promise<T> {
    return new Promise<T>((resolve) => {
      let done = false;
      const finish = (value: T): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#reply = undefined;
        this.#cancelReply = undefined;
        resolve(value);
      };
      const timer = setTimeout(() => finish(onTimeout()), timeoutMs);
      this.#reply = (chunk) => {
        const result = take(chunk);
        if (result !== undefined) finish(result);
      };
      this.#cancelReply = () => finish(onTimeout());
      if (!this.#running) finish(onTimeout());
      send?.().catch(() => finish(onTimeout()));
    });
  }

  /**
   * Runs `cycle` every `intervalMs` (start to start) until the reader stops. A cycle that throws
   * goes to `onFailure` and the next one runs on time: polled devices are supervised, not fatal.
   */
  protected async repeat(intervalMs: number, cycle: () => Promise<void>, onFailure: (error: unknown) => void): Promise<void> {
    while (this.running) {
      const began = performance.now();
      try {
        await cycle();
      } catch (error) {
        onFailure(error);
      }
      if (!(await this.pause(intervalMs - (performance.now() - began)))) break;
    }
  }

  /** Waits `ms`, returning early (false) when the reader stops. */
  protected async pause(ms: number): Promise<boolean> {
    if (!this.#running) return false;
    try {
      await sleepFor(Math.max(0, ms), undefined, { signal: this.#stopping.signal });
      return this.#running;
    } catch {
      return false;
    }
  }
}
