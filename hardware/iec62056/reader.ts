// The IEC 62056-21 mode C reader: every interval it signs on at 300 baud, reads the meter's
// identification, acknowledges with the offered rate (capped by maxBaudRate), switches its own port
// to that rate, collects the data block (DataBlockAssembler checks the BCC), and goes back to 300
// baud for the next cycle. The transport must be opened at 300 baud 7E1.

import { TransportReader, type ByteTransport, type DeviceReading, type ReaderCounters } from '../serial/byte-transport.js';
import { encodeAck, encodeSignOn } from './encode.js';
import {
  DataBlockAssembler,
  mapMeterFields,
  meterFieldUnit,
  parseDataLines,
  parseIdentification,
  type DataBlock,
  type DataItem,
  type MeterField,
  type MessageFailure,
  type ParsedIdentification,
} from './parse.js';

/** Options of {@link Iec62056Reader}. */
export interface Iec62056ReaderOptions {
  /** Opened at 300 baud, 7 data bits, even parity. */
  transport: ByteTransport;
  /** Device address for the sign-on; empty (any meter) unless given. */
  address?: string;
  /** Time from the start of one readout to the next; 60000 ms unless given. */
  intervalMs?: number;
  /** Never switch faster than this; 19200 unless given (some optical heads top out at 9600). */
  maxBaudRate?: number;
  /** Wait this long for the identification; 1500 ms unless given. */
  identificationTimeoutMs?: number;
  /** Wait this long for the whole data block after the ACK; 10000 ms unless given. */
  blockTimeoutMs?: number;
  /**
   * Wait this long after the ACK has left before changing the port's speed; 10 ms unless given.
   * Keep it below the meter's reaction time (20 ms for fast meters, else 200 ms): node-serialport
   * flushes both directions on a speed change, and on a pty the ACK may not have been read yet.
   */
  baudSwitchDelayMs?: number;
  /** Attach the data block text to each reading as `raw`. */
  keepRaw?: boolean;
}

/** The readout reader's counters. */
export interface Iec62056ReaderCounters extends ReaderCounters {
  /** Handshakes started. */
  cycles: number;
  /** Sign-ons that got no usable identification. */
  identificationFailures: number;
  /** Readouts where the data block did not arrive in time. */
  timeouts: number;
  /** Baud switches made after an ACK. */
  baudSwitches: number;
}

const HANDSHAKE_BAUD = 300;

/** Reads an IEC 62056-21 mode C meter in a readout cycle and emits one reading per data block. */
export class Iec62056Reader extends TransportReader<Iec62056ReaderCounters> {
  readonly #address: string;
  readonly #intervalMs: number;
  readonly #maxBaudRate: number;
  readonly #identTimeoutMs: number;
  readonly #blockTimeoutMs: number;
  readonly #switchDelayMs: number;
  readonly #keepRaw: boolean;
  readonly #counters = { cycles: 0, identificationFailures: 0, timeouts: 0, baudSwitches: 0, frames: 0, rejected: 0 };
  readonly #assembler = new DataBlockAssembler();
  #resyncs = 0;
  #loop: Promise<void> | undefined;

  /** Checks the options; the cycle starts with start(). */
  constructor(options: Iec62056ReaderOptions) {
    super(options.transport);
    this.#address = options.address ?? '';
    encodeSignOn(this.#address); // validates the address with the encoder's message
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#maxBaudRate = options.maxBaudRate ?? 19_200;
    this.#identTimeoutMs = options.identificationTimeoutMs ?? 1500;
    this.#blockTimeoutMs = options.blockTimeoutMs ?? 10_000;
    for (const [field, value] of Object.entries({ intervalMs: this.#intervalMs, maxBaudRate: this.#maxBaudRate, identificationTimeoutMs: this.#identTimeoutMs, blockTimeoutMs: this.#blockTimeoutMs })) {
      if (!(value > 0)) throw new RangeError(`options.${field}, when provided, must be positive.`);
    }
    this.#switchDelayMs = options.baudSwitchDelayMs ?? 10;
    if (!(this.#switchDelayMs >= 0)) throw new RangeError('options.baudSwitchDelayMs, when provided, must be 0 or more.');
    this.#keepRaw = options.keepRaw ?? false;
  }

  /** A snapshot of the counters. */
  get counters(): Iec62056ReaderCounters {
    const assembler = this.#assembler.counters;
    return { ...this.#counters, checksumErrors: assembler.bccErrors, resyncs: this.#resyncs + assembler.oversized };
  }

  protected override started(): void {
    // A transport failure mid-cycle (unplugged head): the next cycle starts over at 300 baud.
    this.#loop = this.repeat(this.#intervalMs, () => this.#cycle(), () => {});
  }

  protected override async stopping(): Promise<void> {
    await this.#loop;
  }

  async #cycle(): Promise<void> {
    this.#counters.cycles++;
    await this.transport.setBaudRate(HANDSHAKE_BAUD);
    const identification = await this.#identify();
    if (!this.running) return;
    if (!identification?.ok) {
      this.#counters.identificationFailures++;
      return;
    }
    const baudRate = Math.min(identification.baudRate, this.#maxBaudRate);
    const block = await this.#readBlock(baudRate);
    await this.transport.setBaudRate(HANDSHAKE_BAUD);
    if (!block || !this.running) return;
    const lines = parseDataLines(block.data);
    if (lines.items.length === 0) {
      this.#counters.rejected++;
      return;
    }
    this.#counters.frames++;
    this.emit(this.#toReading(identification, block, lines.items));
  }

  /** Sends the sign-on and waits for the identification line, skipping our own echo. */
  async #identify(): Promise<ParsedIdentification | MessageFailure | undefined> {
    let text = '';
    return this.awaitReply<ParsedIdentification | MessageFailure | undefined>(
      this.#identTimeoutMs,
      (chunk) => {
        text += Buffer.from(chunk).toString('latin1');
        for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
          const line = text.slice(0, end + 1);
          text = text.slice(end + 1);
          const parsed = parseIdentification(line);
          // Half-duplex optical heads hear their own sign-on first; the answer follows.
          if (parsed.ok || parsed.reason !== 'echo') return parsed;
        }
        return undefined;
      },
      () => undefined,
      () => this.transport.write(encodeSignOn(this.#address)),
    );
  }

  /** Acknowledges at 300 baud, switches to `baudRate` and collects the data block. */
  async #readBlock(baudRate: number): Promise<DataBlock | undefined> {
    const bccErrors = this.#assembler.counters.bccErrors;
    // The meter switches once the ACK has arrived and answers 20–200 ms later: switch only after
    // the ACK has left at 300 baud (write resolves after the drain) and a short settle. The block
    // collector is attached before the ACK goes out, so a fast meter's first bytes can't slip past.
    const block = await this.awaitReply<DataBlock | 'bcc' | undefined>(
      this.#blockTimeoutMs,
      (chunk) => this.#assembler.push(chunk)[0] ?? (this.#assembler.counters.bccErrors > bccErrors ? 'bcc' : undefined),
      () => undefined,
      async () => {
        await this.transport.write(encodeAck({ baudRate }));
        if (this.#switchDelayMs > 0 && !(await this.pause(this.#switchDelayMs))) return;
        await this.transport.setBaudRate(baudRate);
        this.#counters.baudSwitches++;
      },
    );
    if (block === undefined) {
      this.#counters.timeouts++;
      // A block cut off mid-way must not be glued to the next readout's.
      const dropped = this.#assembler.counters.droppedBytes;
      this.#assembler.reset();
      if (this.#assembler.counters.droppedBytes > dropped) this.#resyncs++;
      return undefined;
    }
    return block === 'bcc' ? undefined : block;
  }

  #toReading(identification: ParsedIdentification, block: DataBlock, items: readonly DataItem[]): DeviceReading {
    const { fields, unmapped } = mapMeterFields(items);
    const values: DeviceReading['values'] = {};
    const units: Record<string, string> = {};
    for (const [field, value] of Object.entries(fields)) {
      values[field] = value;
      units[field] = meterFieldUnit(field as MeterField);
    }
    // Codes we don't name (serial number, error register, …) keep their first value under the code.
    for (const item of unmapped) {
      const first = item.values[0];
      if (first === undefined || item.code in values) continue;
      values[item.code] = first.value;
      if (first.unit) units[item.code] = first.unit;
    }
    values.meter = `${identification.manufacturer}${identification.ident}`;
    const reading: DeviceReading = { source: 'iec62056', values, units, timestamp: new Date().toISOString() };
    if (this.#keepRaw) reading.raw = block.data;
    return reading;
  }
}
