// The GPS reader: transport chunks → NmeaFramer → parseSentence → GpsFix, emitting one reading per
// epoch (the burst of sentences a receiver sends for one instant). An epoch is complete when both
// its RMC and its GGA have arrived (their times match); a receiver that sends only one of the two
// is still reported, one epoch late, when the next epoch's time shows up.

import { TransportReader, type ByteTransport, type DeviceReading, type ReaderCounters } from '../serial/byte-transport.js';
import { GpsFix, NmeaFramer, parseSentence, type NmeaMessage } from './parse.js';

/** Options of {@link NmeaReader}. */
export interface NmeaReaderOptions {
  transport: ByteTransport;
  /** Longest sentence accepted; 82 (NMEA 0183) unless given. Some receivers need more. */
  maxSentenceLength?: number;
  /** Attach the epoch's sentences to each reading as `raw`. */
  keepRaw?: boolean;
}

/** The GPS reader's counters. */
export interface NmeaReaderCounters extends ReaderCounters {
  /** Sentences that parsed but are of a type or talker we don't read. */
  unsupported: number;
  /** Bytes thrown away between sentences and in broken ones. */
  droppedBytes: number;
  /** Readings emitted. */
  epochs: number;
}

/** Reads an NMEA 0183 receiver and emits its fix once per epoch. */
export class NmeaReader extends TransportReader<NmeaReaderCounters> {
  readonly #framer: NmeaFramer;
  readonly #fix = new GpsFix();
  readonly #keepRaw: boolean;
  #epochTime: string | null = null;
  #seen = new Set<'RMC' | 'GGA'>();
  #emitted = false;
  #raw: string[] = [];
  #extra: { satellitesInView?: number; pdop?: number | null; vdop?: number | null; fixType?: number } = {};
  #epochs = 0;
  #malformed = 0;

  /** Reads from `options.transport`, which it starts and stops. */
  constructor(options: NmeaReaderOptions) {
    super(options.transport);
    this.#framer = new NmeaFramer(options.maxSentenceLength === undefined ? {} : { maxLength: options.maxSentenceLength });
    this.#keepRaw = options.keepRaw ?? false;
  }

  /** A snapshot of the counters. */
  get counters(): NmeaReaderCounters {
    const fix = this.#fix.stats;
    const framer = this.#framer.stats;
    return {
      frames: fix.sentences,
      checksumErrors: fix.checksumErrors,
      resyncs: framer.brokenSentences + framer.overlongLines,
      rejected: this.#malformed,
      unsupported: fix.unsupported,
      droppedBytes: framer.droppedBytes,
      epochs: this.#epochs,
    };
  }

  protected override consume(chunk: Uint8Array): void {
    for (const sentence of this.#framer.push(chunk)) {
      const result = parseSentence(sentence);
      if (!result.ok) {
        this.#fix.update(result);
        if (result.reason === 'malformed') this.#malformed++;
        continue;
      }
      const message = result.message;
      const time = message.type === 'RMC' || message.type === 'GGA' ? message.time : null;
      // A new instant: report the previous one if its RMC+GGA pair never completed.
      if (time !== null && time !== this.#epochTime) {
        if (!this.#emitted && this.#seen.size > 0) this.#report();
        this.#epochTime = time;
        this.#seen = new Set();
        this.#emitted = false;
      }
      this.#fix.update(result);
      this.#track(message);
      if (this.#keepRaw) this.#raw.push(sentence);
      if (message.type === 'RMC' || message.type === 'GGA') {
        this.#seen.add(message.type);
        if (this.#seen.size === 2 && !this.#emitted) this.#report();
      }
    }
  }

  // GSA and GSV don't touch the fix itself, but the satellite picture belongs in the record.
  #track(message: NmeaMessage): void {
    if (message.type === 'GSA') {
      this.#extra.pdop = message.pdop;
      this.#extra.vdop = message.vdop;
      this.#extra.fixType = message.fixType;
    } else if (message.type === 'GSV') {
      this.#extra.satellitesInView = message.satellitesInView;
    }
  }

  #report(): void {
    this.#emitted = true;
    this.#epochs++;
    const fix = this.#fix.current;
    const reading: DeviceReading = {
      source: 'nmea',
      values: {
        valid: fix.valid,
        lat: fix.lat,
        lon: fix.lon,
        altitudeM: fix.altitudeM,
        speedKmh: fix.speedKmh,
        courseDeg: fix.courseDeg,
        fixQuality: fix.fixQuality,
        satellites: fix.satellites,
        hdop: fix.hdop,
        ...this.#extra,
      },
      timestamp: new Date().toISOString(),
    };
    if (fix.time !== null) reading.deviceTime = fix.time;
    if (this.#keepRaw) {
      reading.raw = this.#raw.join('\r\n');
      this.#raw = [];
    }
    this.emit(reading);
  }
}
