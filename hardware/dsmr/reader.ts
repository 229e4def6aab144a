// The P1 reader: transport chunks → DsmrFramer (finds telegrams, checks the CRC) → parseTelegram →
// one reading per telegram. Serial settings differ per meter generation (DSMR 2.2/3: 9600 7E1,
// DSMR 4: 115200 with either framing, DSMR 5: 115200 8N1) and belong to the transport; `sevenBit`
// repairs the common case of a 7E1 meter read by an 8N1 port.

import { TransportReader, type ByteTransport, type DeviceReading, type ReaderCounters, type TransportStateEvent } from '../serial/byte-transport.js';
import { DsmrFramer, parseTelegram, type DsmrReading } from './parse.js';

/** Options of {@link DsmrReader}. */
export interface DsmrReaderOptions {
  transport: ByteTransport;
  /** Drop telegrams without a CRC (only right for DSMR 4/5 meters); false unless given. */
  requireCrc?: boolean;
  /** Clear bit 7 of every byte (7E1 meter on an 8N1 port); false unless given. */
  sevenBit?: boolean;
  /** Give up on a telegram begun this long ago; 5000 ms unless given. */
  frameTimeoutMs?: number;
  /** Attach the telegram to each reading as `raw`. */
  keepRaw?: boolean;
}

/** The P1 reader's counters. */
export interface DsmrReaderCounters extends ReaderCounters {
  /** Bytes thrown away outside telegrams. */
  droppedBytes: number;
  /** Telegrams that parsed with problems (a line not understood); they are still reported. */
  withProblems: number;
}

// Everything of a parsed telegram that is not a reading value.
const NOT_VALUES = new Set(['manufacturer', 'baudRateId', 'ident', 'unknown', 'problems', 'crc', 'timestamp']);

/** Reads a DSMR P1 port and emits one reading per telegram. */
export class DsmrReader extends TransportReader<DsmrReaderCounters> {
  readonly #framer: DsmrFramer;
  readonly #keepRaw: boolean;
  #rejected = 0;
  #withProblems = 0;

  /** Reads from `options.transport`, which it starts and stops. */
  constructor(options: DsmrReaderOptions) {
    super(options.transport);
    this.#framer = new DsmrFramer({
      requireCrc: options.requireCrc ?? false,
      sevenBit: options.sevenBit ?? false,
      ...(options.frameTimeoutMs === undefined ? {} : { frameTimeoutMs: options.frameTimeoutMs }),
    });
    this.#keepRaw = options.keepRaw ?? false;
  }

  /** A snapshot of the counters. */
  get counters(): DsmrReaderCounters {
    const stats = this.#framer.stats;
    return {
      frames: stats.telegrams,
      checksumErrors: stats.crcErrors,
      resyncs: stats.abandonedFrames,
      rejected: this.#rejected,
      droppedBytes: stats.droppedBytes,
      withProblems: this.#withProblems,
    };
  }

  protected override consume(chunk: Uint8Array): void {
    for (const frame of this.#framer.push(chunk, performance.now())) {
      // The framer has checked the CRC already.
      const result = parseTelegram(frame.telegram, { verifyCrc: false });
      if (!result.ok) {
        this.#rejected++;
        continue;
      }
      if (result.reading.problems.length > 0) this.#withProblems++;
      this.emit(this.#toReading(result.reading, frame.telegram));
    }
  }

  // Half a telegram from before a reconnect would otherwise be glued to the first one after it.
  protected override stateChanged(event: TransportStateEvent): void {
    if (event.state === 'open') this.#framer.expire();
  }

  #toReading(telegram: DsmrReading, raw: string): DeviceReading {
    const values: DeviceReading['values'] = {};
    for (const [key, value] of Object.entries(telegram)) {
      if (!NOT_VALUES.has(key) && (typeof value === 'number' || typeof value === 'string')) values[key] = value;
    }
    const reading: DeviceReading = { source: 'dsmr', values, timestamp: new Date().toISOString() };
    if (telegram.timestamp !== undefined) reading.deviceTime = telegram.timestamp;
    if (this.#keepRaw) reading.raw = raw;
    return reading;
  }
}
