// The Modbus RTU poller: plans the reads a register map needs (planReads), and every interval sends
// each request, collects the reply with ResponseAssembler, and decodes it (decodeGroup). Shared
// RS-485 lines lose and corrupt replies routinely, so a missing or garbled reply is retried after a
// pause; an exception reply is the slave refusing (a wrong map, not noise) and is reported, not
// retried. One reading per poll holds everything that was read.

import { Listeners, TransportReader, type ByteTransport, type DeviceReading, type ReaderCounters } from '../serial/byte-transport.js';
import { encodeReadRequest, type ModbusExceptionName, type ReadRequest } from './encode.js';
import { ResponseAssembler, interFrameSilenceMs, type AssemblyStatus } from './parse.js';
import { SDM120_MAP, SDM630_MAP, decodeGroup, planReads, type PlanOptions, type ReadGroup, type RegisterMap } from './register-map.js';

/** Options of {@link ModbusReader}. */
export interface ModbusReaderOptions {
  transport: ByteTransport;
  /** Slave address 1–247. */
  address: number;
  /** The register map, or `meter` for a built-in one. */
  map?: RegisterMap;
  meter?: 'sdm630' | 'sdm120';
  /** Time from the start of one poll to the next; 5000 ms unless given. */
  intervalMs?: number;
  /** Wait this long for a reply; 1000 ms unless given. */
  responseTimeoutMs?: number;
  /** Retries of a request after a timeout or a garbled reply; 2 unless given. */
  retries?: number;
  /** Pause before a retry, which also lets the rest of a garbled reply drain away; 100 ms unless given. */
  retryPauseMs?: number;
  /** The line speed, for the silence kept between frames; 9600 unless given. */
  baudRate?: number;
  plan?: PlanOptions;
}

/** A problem with one request of a poll. */
export type ModbusPollError =
  | { kind: 'exception'; request: ReadRequest; exception: ModbusExceptionName | 'UNKNOWN'; code: number; entries: string[] }
  | { kind: 'timeout' | 'garbled'; request: ReadRequest; detail: string; entries: string[] }
  | { kind: 'poll'; detail: string };

/** The poller's counters. */
export interface ModbusReaderCounters extends ReaderCounters {
  polls: number;
  timeouts: number;
  retries: number;
  exceptions: number;
  /** Requests given up after all retries. */
  failedRequests: number;
}

/** Polls a Modbus RTU slave and emits one reading per poll. */
export class ModbusReader extends TransportReader<ModbusReaderCounters> {
  readonly #address: number;
  readonly #groups: ReadGroup[];
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryPauseMs: number;
  readonly #silenceMs: number;
  readonly #errors = new Listeners<ModbusPollError>();
  readonly #counters: ModbusReaderCounters = { frames: 0, checksumErrors: 0, resyncs: 0, rejected: 0, polls: 0, timeouts: 0, retries: 0, exceptions: 0, failedRequests: 0 };
  #loop: Promise<void> | undefined;

  /** Plans the reads; polling starts with start(). */
  constructor(options: ModbusReaderOptions) {
    super(options.transport);
    if (!Number.isInteger(options.address) || options.address < 1 || options.address > 247) throw new RangeError('options.address must be an integer 1–247.');
    if ((options.map === undefined) === (options.meter === undefined)) throw new RangeError('Give exactly one of options.map and options.meter.');
    const map = options.map ?? (options.meter === 'sdm120' ? SDM120_MAP : options.meter === 'sdm630' ? SDM630_MAP : undefined);
    if (!map) throw new RangeError("options.meter must be 'sdm630' or 'sdm120'.");
    this.#address = options.address;
    this.#groups = planReads(map, options.plan);
    this.#intervalMs = positive('options.intervalMs', options.intervalMs ?? 5000);
    this.#timeoutMs = positive('options.responseTimeoutMs', options.responseTimeoutMs ?? 1000);
    this.#retries = options.retries ?? 2;
    if (!Number.isInteger(this.#retries) || this.#retries < 0) throw new RangeError('options.retries, when provided, must be a whole number.');
    this.#retryPauseMs = options.retryPauseMs ?? 100;
    this.#silenceMs = Math.max(2, interFrameSilenceMs(options.baudRate ?? 9600));
  }

  /** A snapshot of the counters. */
  get counters(): ModbusReaderCounters {
    return { ...this.#counters };
  }

  /** Subscribes to per-request problems (exceptions, timeouts, garbled replies); returns the unsubscribe function. */
  onError(listener: (error: ModbusPollError) => void): () => void {
    return this.#errors.add(listener);
  }

  protected override started(): void {
    this.#loop = this.repeat(this.#intervalMs, () => this.#poll(), (error) =>
      this.#report({ kind: 'poll', detail: `poll failed: ${(error as Error).message}` }),
    );
  }

  protected override async stopping(): Promise<void> {
    await this.#loop;
  }

  async #poll(): Promise<void> {
    this.#counters.polls++;
    const values: DeviceReading['values'] = {};
    const units: Record<string, string> = {};
    for (const group of this.#groups) {
      if (!this.running) return;
      const request: ReadRequest = { address: this.#address, function: group.function, start: group.start, count: group.count };
      const registers = await this.#read(request, group.entries.map((e) => e.name));
      if (!registers) continue;
      const readings = decodeGroup(group, registers);
      readings.forEach((reading, i) => {
        const entry = group.entries[i]!;
        values[reading.name] = entry.type === 'float32' && (entry.scale ?? 1) === 1 ? shortestFloat32(reading.value) : reading.value;
        if (reading.unit) units[reading.name] = reading.unit;
      });
      // Keep the bus quiet between frames, as RTU framing requires.
      await this.pause(this.#silenceMs);
    }
    if (Object.keys(values).length > 0 && this.running) {
      this.emit({ source: 'modbus', values, units, timestamp: new Date().toISOString() });
    }
  }

  /** One request with retries; the registers, or undefined when it failed or was refused. */
  async #read(request: ReadRequest, entries: string[]): Promise<number[] | undefined> {
    const frame = encodeReadRequest(request);
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      if (attempt > 0) {
        this.#counters.retries++;
        if (!(await this.pause(this.#retryPauseMs))) return undefined;
      }
      const assembler = new ResponseAssembler(request);
      let writeError: Error | undefined;
      const status = await this.awaitReply<AssemblyStatus>(
        this.#timeoutMs,
        (chunk) => {
          const s = assembler.push(chunk);
          return s.status === 'incomplete' ? undefined : s;
        },
        () => assembler.finish(),
        () => this.transport.write(frame).catch((error: Error) => {
          writeError = error;
          throw error;
        }),
      );
      if (!this.running) return undefined;
      if (status.status === 'complete') {
        this.#counters.frames++;
        if (status.reply.kind === 'registers') return status.reply.registers;
        this.#counters.exceptions++;
        this.#report({ kind: 'exception', request, exception: status.reply.exception, code: status.reply.code, entries });
        return undefined;
      }
      if (status.status === 'garbled') {
        if (status.reason === 'crc') this.#counters.checksumErrors++;
        else if (status.reason === 'short') this.#counters.resyncs++;
        else this.#counters.rejected++;
        this.#report({ kind: 'garbled', request, detail: `${status.reason}: ${status.message}`, entries });
      } else {
        this.#counters.timeouts++;
        const detail = writeError ? `request not sent: ${writeError.message}` : `no reply within ${this.#timeoutMs} ms`;
        this.#report({ kind: 'timeout', request, detail, entries });
      }
    }
    this.#counters.failedRequests++;
    return undefined;
  }

  #report(error: ModbusPollError): void {
    this.#errors.emit(error);
  }
}

/**
 * The shortest decimal that is the same float32: 231.6464 rather than 231.64639282226562, which
 * is the same 32 bits printed as a double. Nothing is lost; Math.fround of the result is the value.
 */
function shortestFloat32(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

function positive(field: string, value: number): number {
  if (!(value > 0)) throw new RangeError(`${field}, when provided, must be positive.`);
  return value;
}
