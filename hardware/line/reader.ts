// The line-sensor reader: transport chunks → LineFramer → parseLine in the configured format → one
// reading per line. Lines carry no checksum; damage shows up as lines that fail to parse (counted
// as rejected) or as bytes that are not UTF-8 (a wrong baud rate, counted as a resync).

import { TransportReader, type ByteTransport, type DeviceReading, type ReaderCounters } from '../serial/byte-transport.js';
import { LineFramer, checkLineFormat, parseLine, type LineFormat, type LineRejectReason } from './parse.js';

/** Options of {@link LineReader}. */
export interface LineReaderOptions {
  transport: ByteTransport;
  /** How the sensor writes its lines (checked like configuration). */
  format: LineFormat;
  /** Longest line accepted; 1024 bytes unless given. */
  maxLineLength?: number;
  /** Attach the line to each reading as `raw`. */
  keepRaw?: boolean;
}

/** The line reader's counters. */
export interface LineReaderCounters extends ReaderCounters {
  /** Rejected lines by reason (CSV header lines land under `header`). */
  rejectedBy: Partial<Record<LineRejectReason, number>>;
  droppedBytes: number;
}

/** Reads a line-oriented sensor and emits one reading per line. */
export class LineReader extends TransportReader<LineReaderCounters> {
  readonly #framer: LineFramer;
  readonly #format: LineFormat;
  readonly #keepRaw: boolean;
  readonly #rejectedBy: Partial<Record<LineRejectReason, number>> = {};
  #frames = 0;
  #rejected = 0;

  /** Reads from `options.transport`, which it starts and stops. */
  constructor(options: LineReaderOptions) {
    super(options.transport);
    this.#format = checkLineFormat(options.format);
    this.#framer = new LineFramer(options.maxLineLength === undefined ? {} : { maxLineLength: options.maxLineLength });
    this.#keepRaw = options.keepRaw ?? false;
  }

  /** A snapshot of the counters. */
  get counters(): LineReaderCounters {
    const stats = this.#framer.stats;
    return {
      frames: this.#frames,
      checksumErrors: 0,
      resyncs: stats.overlongLines + stats.invalidEncoding,
      rejected: this.#rejected,
      rejectedBy: { ...this.#rejectedBy },
      droppedBytes: stats.droppedBytes,
    };
  }

  protected override consume(chunk: Uint8Array): void {
    for (const line of this.#framer.push(chunk)) {
      const result = parseLine(line, this.#format);
      if (!result.ok) {
        this.#rejected++;
        this.#rejectedBy[result.reason] = (this.#rejectedBy[result.reason] ?? 0) + 1;
        continue;
      }
      this.#frames++;
      const reading: DeviceReading = { source: 'line', values: result.values, timestamp: new Date().toISOString() };
      if (this.#keepRaw) reading.raw = line;
      this.emit(reading);
    }
  }
}
