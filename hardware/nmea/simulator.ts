// A GPS receiver for demos and tests: it drives along a looped track at a set speed and reports
// each epoch the way a u-blox module does (RMC, VTG, GGA, GSA, GSV), through the shared fault
// injection. Sentences come from encodeNmea, so the simulator and the parser can't drift apart.

import { SimulatorLink, type SimulatorLinkOptions } from '../faults.js';
import { encodeNmea } from './encode.js';
import type { NmeaMessage, NmeaSatellite, NmeaTalker } from './parse.js';

/** A point of the simulated track, decimal degrees. */
export interface TrackPoint {
  lat: number;
  lon: number;
}

/** Options of {@link NmeaSimulator}. */
export interface NmeaSimulatorOptions extends SimulatorLinkOptions {
  /** Epochs (bursts of sentences) per second; 1 unless given, receivers do 1–10. */
  rateHz?: number;
  /** Speed along the track; 36 km/h unless given. */
  speedKmh?: number;
  /** Waypoints driven in a loop; a small loop in Amsterdam unless given. */
  track?: readonly TrackPoint[];
  talker?: NmeaTalker;
  /** Simulated clock at the first epoch; now unless given. Each epoch adds 1/rateHz seconds. */
  startTime?: Date;
  /** Satellites used and in view, 4–12; 10 unless given. */
  satellites?: number;
  altitudeM?: number;
  /** The simulator side's line speed; 9600 (most USB modules) unless given. */
  baudRate?: number;
}

/** Where the simulated receiver is. */
export interface SimulatedPosition {
  lat: number;
  lon: number;
  courseDeg: number;
  /** Distance travelled since start. */
  distanceM: number;
  time: Date;
}

const DEFAULT_TRACK: readonly TrackPoint[] = [
  { lat: 52.3584, lon: 4.868 },
  { lat: 52.36, lon: 4.87 },
  { lat: 52.359, lon: 4.876 },
  { lat: 52.357, lon: 4.873 },
];
const METERS_PER_DEGREE = (6_371_000 * Math.PI) / 180;

/** Simulated NMEA 0183 GPS receiver writing to a serial path. */
export class NmeaSimulator {
  readonly link: SimulatorLink;
  readonly #rateHz: number;
  readonly #speedMs: number;
  readonly #track: readonly TrackPoint[];
  readonly #legs: number[];
  readonly #talker: NmeaTalker;
  readonly #startTime: number;
  readonly #satellites: number;
  readonly #altitudeM: number;
  #epoch = 0;
  #position: SimulatedPosition;

  /** Validates the options; nothing is opened until start(). */
  constructor(options: NmeaSimulatorOptions) {
    this.#rateHz = options.rateHz ?? 1;
    if (!(this.#rateHz > 0 && this.#rateHz <= 50)) throw new RangeError('options.rateHz, when provided, must be above 0 and at most 50.');
    const speedKmh = options.speedKmh ?? 36;
    if (!(speedKmh >= 0 && speedKmh < 2000)) throw new RangeError('options.speedKmh, when provided, must be from 0 to 2000.');
    this.#speedMs = speedKmh / 3.6;
    this.#track = options.track ?? DEFAULT_TRACK;
    if (this.#track.length < 2 || !this.#track.every((p) => Math.abs(p.lat) < 85 && Math.abs(p.lon) <= 180)) {
      throw new RangeError('options.track, when provided, must hold at least two points with |lat| < 85 and |lon| <= 180.');
    }
    this.#legs = this.#track.map((point, i) => distance(point, this.#track[(i + 1) % this.#track.length]!));
    if (this.#legs.reduce((a, b) => a + b, 0) === 0) throw new RangeError('options.track must not be a single repeated point.');
    this.#talker = options.talker ?? 'GP';
    this.#startTime = (options.startTime ?? new Date()).getTime();
    this.#satellites = options.satellites ?? 10;
    if (!Number.isInteger(this.#satellites) || this.#satellites < 4 || this.#satellites > 12) {
      throw new RangeError('options.satellites, when provided, must be an integer from 4 to 12.');
    }
    this.#altitudeM = options.altitudeM ?? 12.5;
    this.link = new SimulatorLink(options, { baudRate: options.baudRate ?? 9600 });
    this.#position = this.#positionAt(0);
  }

  /** Where the receiver was at the latest epoch sent. */
  get position(): SimulatedPosition {
    return { ...this.#position };
  }

  /** Epochs sent (or dropped by faults) so far. */
  get epochs(): number {
    return this.#epoch;
  }

  /** Opens the simulator's end and starts reporting. */
  async start(): Promise<void> {
    await this.link.start();
    this.link.repeat(1000 / this.#rateHz, () => this.#tick());
  }

  /** Stops reporting and closes the simulator's end. */
  async stop(): Promise<void> {
    await this.link.stop();
  }

  async #tick(): Promise<void> {
    this.#position = this.#positionAt(this.#epoch++);
    for (const message of this.#messages(this.#position)) {
      await this.link.send(encodeNmea(message, { checksum: this.link.faults.corruptChecksum() ? 'wrong' : 'correct', minuteDecimals: 5 }));
    }
  }

  #positionAt(epoch: number): SimulatedPosition {
    const seconds = epoch / this.#rateHz;
    const distanceM = this.#speedMs * seconds;
    const loop = this.#legs.reduce((a, b) => a + b, 0);
    let along = distanceM % loop;
    let leg = 0;
    while (along > this.#legs[leg]! && leg < this.#legs.length - 1) along -= this.#legs[leg++]!;
    const from = this.#track[leg]!;
    const to = this.#track[(leg + 1) % this.#track.length]!;
    const f = this.#legs[leg]! === 0 ? 0 : along / this.#legs[leg]!;
    return {
      lat: from.lat + (to.lat - from.lat) * f,
      lon: from.lon + (to.lon - from.lon) * f,
      courseDeg: bearing(from, to),
      distanceM,
      time: new Date(this.#startTime + Math.round(seconds * 1000)),
    };
  }

  #messages(p: SimulatedPosition): NmeaMessage[] {
    const talker = this.#talker;
    const iso = p.time.toISOString();
    const time = iso.slice(11, 23);
    const date = iso.slice(0, 10);
    const speedKmh = Number((this.#speedMs * 3.6).toFixed(3));
    const speedKnots = Number((speedKmh / 1.852).toFixed(3));
    const courseDeg = Number(p.courseDeg.toFixed(1));
    const prns = Array.from({ length: this.#satellites }, (_, i) => 2 + i * 3);
    const satellites: NmeaSatellite[] = prns.map((prn, i) => ({
      prn,
      elevationDeg: 10 + ((i * 23) % 75),
      azimuthDeg: (i * 37) % 360,
      // A little flicker, as real carrier-to-noise readings have.
      snrDb: 28 + ((i * 7 + this.#epoch) % 17),
    }));
    const groups = Math.ceil(satellites.length / 4);
    return [
      { type: 'RMC', talker, time, date, timestamp: null, status: 'A', lat: p.lat, lon: p.lon, speedKnots, speedKmh: null, courseDeg, magneticVariationDeg: null, mode: 'A' },
      { type: 'VTG', talker, courseTrueDeg: courseDeg, courseMagneticDeg: null, speedKnots, speedKmh, mode: 'A' },
      {
        type: 'GGA', talker, time, lat: p.lat, lon: p.lon, fixQuality: 1, satellites: this.#satellites, hdop: 0.9,
        altitudeM: this.#altitudeM, geoidSeparationM: 46.9, dgpsAgeS: null, dgpsStationId: null,
      },
      { type: 'GSA', talker, mode: 'A', fixType: 3, prns, pdop: 1.6, hdop: 0.9, vdop: 1.3, systemId: null },
      ...Array.from({ length: groups }, (_, g): NmeaMessage => ({
        type: 'GSV',
        talker,
        totalMessages: groups,
        messageNumber: g + 1,
        satellitesInView: satellites.length,
        satellites: satellites.slice(g * 4, g * 4 + 4),
        signalId: null,
      })),
    ];
  }
}

function distance(a: TrackPoint, b: TrackPoint): number {
  // Equirectangular: exact enough over a track of a few kilometres.
  const dy = (b.lat - a.lat) * METERS_PER_DEGREE;
  const dx = (b.lon - a.lon) * METERS_PER_DEGREE * Math.cos((((a.lat + b.lat) / 2) * Math.PI) / 180);
  return Math.hypot(dx, dy);
}

function bearing(a: TrackPoint, b: TrackPoint): number {
  const dy = b.lat - a.lat;
  const dx = (b.lon - a.lon) * Math.cos((((a.lat + b.lat) / 2) * Math.PI) / 180);
  return ((Math.atan2(dx, dy) * 180) / Math.PI + 360) % 360;
}
