// NMEA 0183 as GPS receivers speak it over a serial line: a framer that cuts the byte stream
// into sentences, a parser for the sentence types a position feed needs (GGA, RMC, VTG, GSA,
// GSV), and an accumulator that merges them into one latest fix. Nothing here does I/O; bad
// input becomes a counted, typed result and never an exception, because a serial line delivers
// noise, half sentences and bit flips as a matter of course.

/** Talker ids we accept: GPS, multi-constellation, GLONASS, Galileo, BeiDou (old and NMEA 4.11 spelling). */
export type NmeaTalker = 'GP' | 'GN' | 'GL' | 'GA' | 'BD' | 'GB';
const TALKERS: ReadonlySet<string> = new Set<NmeaTalker>(['GP', 'GN', 'GL', 'GA', 'BD', 'GB']);

/** GGA: time, position and fix quality of the latest fix. */
export interface NmeaGga {
  type: 'GGA';
  talker: NmeaTalker;
  /** UTC time of day, `hh:mm:ss.sss`. */
  time: string | null;
  /** Signed decimal degrees, south negative. */
  lat: number | null;
  /** Signed decimal degrees, west negative. */
  lon: number | null;
  /** 0 invalid, 1 GPS, 2 DGPS, 3 PPS, 4 RTK fixed, 5 RTK float, 6 estimated, 7 manual, 8 simulated. */
  fixQuality: number;
  satellites: number | null;
  hdop: number | null;
  /** Above mean sea level. */
  altitudeM: number | null;
  /** Height of the geoid above the WGS84 ellipsoid. */
  geoidSeparationM: number | null;
  dgpsAgeS: number | null;
  dgpsStationId: string | null;
}

/** RMC: the "recommended minimum" — validity, position, speed, course and the date. */
export interface NmeaRmc {
  type: 'RMC';
  talker: NmeaTalker;
  /** UTC time of day, `hh:mm:ss.sss`. */
  time: string | null;
  /** UTC date, `YYYY-MM-DD`. */
  date: string | null;
  /** `date` and `time` together as an ISO 8601 UTC timestamp, when both are present. */
  timestamp: string | null;
  /** A = data valid, V = receiver warning (void). */
  status: 'A' | 'V';
  lat: number | null;
  lon: number | null;
  speedKnots: number | null;
  /** Derived from the knots field (1 kn = 1.852 km/h); RMC carries no km/h field. */
  speedKmh: number | null;
  /** Course over ground, degrees true. */
  courseDeg: number | null;
  /** Signed degrees, east positive. */
  magneticVariationDeg: number | null;
  /** NMEA 2.3+ mode indicator (A autonomous, D differential, E estimated, N not valid, …). */
  mode: string | null;
}

/** VTG: course and speed over ground. */
export interface NmeaVtg {
  type: 'VTG';
  talker: NmeaTalker;
  courseTrueDeg: number | null;
  courseMagneticDeg: number | null;
  speedKnots: number | null;
  speedKmh: number | null;
  mode: string | null;
}

/** GSA: DOP and the satellites used in the fix. */
export interface NmeaGsa {
  type: 'GSA';
  talker: NmeaTalker;
  /** A = automatic 2D/3D selection, M = manual. */
  mode: 'A' | 'M';
  /** 1 no fix, 2 2D, 3 3D. */
  fixType: 1 | 2 | 3;
  /** PRNs of the satellites used, in the order sent (at most 12). */
  prns: number[];
  pdop: number | null;
  hdop: number | null;
  vdop: number | null;
  /** NMEA 4.1 GNSS system id, when sent. */
  systemId: number | null;
}

/** One satellite of a GSV sentence. */
export interface NmeaSatellite {
  prn: number;
  elevationDeg: number | null;
  azimuthDeg: number | null;
  /** Carrier-to-noise density, dB-Hz; null when not tracked. */
  snrDb: number | null;
}

/** GSV: satellites in view, spread over `totalMessages` sentences of up to four each. */
export interface NmeaGsv {
  type: 'GSV';
  talker: NmeaTalker;
  totalMessages: number;
  messageNumber: number;
  satellitesInView: number;
  satellites: NmeaSatellite[];
  /** NMEA 4.1 signal id, when sent. */
  signalId: number | null;
}

/** A parsed sentence, discriminated by `type`. */
export type NmeaMessage = NmeaGga | NmeaRmc | NmeaVtg | NmeaGsa | NmeaGsv;

/** Why a sentence was rejected. */
export type NmeaRejectReason = 'checksum' | 'malformed' | 'unsupported';

/** The outcome of parsing one sentence. */
export type NmeaParseResult =
  | { ok: true; message: NmeaMessage }
  | { ok: false; reason: NmeaRejectReason; detail: string; sentence: string };

/** The NMEA checksum of a sentence body (the text between `$` and `*`): XOR of its bytes. */
export function nmeaChecksum(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i) & 0xff;
  return sum;
}

// ---- framing ------------------------------------------------------------------------------------

/** Options for {@link NmeaFramer}. */
export interface NmeaFramerOptions {
  /** Longest accepted sentence including `$` and the CR LF; NMEA 0183 says 82. */
  maxLength?: number;
}

/** What an {@link NmeaFramer} has seen, for health reporting. */
export interface NmeaFramerStats {
  /** Sentences handed out. */
  sentences: number;
  /** Bytes thrown away: noise between sentences and the bytes of every discarded partial sentence. */
  droppedBytes: number;
  /** Sentences discarded for growing past `maxLength`. */
  overlongLines: number;
  /** Partial sentences cut short by a new `$` or a byte that cannot occur in NMEA text. */
  brokenSentences: number;
}

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;

/** Cuts a serial byte stream, in chunks of any size, into sentences (`$…*hh`, no line ending). */
export class NmeaFramer {
  readonly stats: NmeaFramerStats = { sentences: 0, droppedBytes: 0, overlongLines: 0, brokenSentences: 0 };
  private readonly maxBody: number;
  private readonly buffer: Uint8Array;
  private length = 0; // 0 = between sentences, waiting for `$`

  constructor(options: NmeaFramerOptions = {}) {
    const maxLength = options.maxLength ?? 82;
    if (!Number.isInteger(maxLength) || maxLength < 8) throw new RangeError('options.maxLength must be an integer of at least 8.');
    this.maxBody = maxLength - 2;
    this.buffer = new Uint8Array(this.maxBody);
  }

  /** Feeds a chunk; returns the sentences it completed, oldest first. */
  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    for (const byte of chunk) {
      if (byte === DOLLAR) {
        // `$` is reserved in NMEA text, so it always starts a sentence: resynchronise here even if
        // the previous sentence lost its line ending.
        if (this.length > 0) this.discard(true);
        this.buffer[0] = byte;
        this.length = 1;
      } else if (byte === CR || byte === LF) {
        if (this.length > 0) {
          out.push(latin1(this.buffer.subarray(0, this.length)));
          this.stats.sentences++;
          this.length = 0;
        }
      } else if (this.length === 0) {
        this.stats.droppedBytes++;
      } else if (byte < 0x20 || byte > 0x7e) {
        // A control or 8-bit byte means a wrong baud rate or line noise; the 8-bit checksum is too
        // weak to be the only guard against that.
        this.discard(true);
        this.stats.droppedBytes++;
      } else if (this.length === this.maxBody) {
        this.stats.overlongLines++;
        this.discard(false);
        this.stats.droppedBytes++;
      } else {
        this.buffer[this.length++] = byte;
      }
    }
    return out;
  }

  private discard(broken: boolean): void {
    if (broken) this.stats.brokenSentences++;
    this.stats.droppedBytes += this.length;
    this.length = 0;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

// ---- sentence parsing ---------------------------------------------------------------------------

class Malformed extends Error {}

/** Parses one sentence (`$…*hh`, with or without its line ending); never throws. */
export function parseSentence(input: string | Uint8Array): NmeaParseResult {
  const sentence = (typeof input === 'string' ? input : latin1(input)).replace(/[\r\n]+$/, '');
  const reject = (reason: NmeaRejectReason, detail: string): NmeaParseResult => ({ ok: false, reason, detail, sentence });

  const framed = /^\$([\x20-\x7e]*)\*([0-9A-Fa-f]{2})$/.exec(sentence);
  if (!framed) {
    if (!sentence.startsWith('$')) return reject('malformed', "sentence must start with '$'");
    if (!/^\$[^*]*\*[0-9A-Fa-f]{2}$/.test(sentence)) return reject('malformed', "sentence must end with '*' and two hex checksum digits");
    return reject('malformed', 'sentence contains bytes outside printable ASCII');
  }
  const body = framed[1]!;
  const sent = parseInt(framed[2]!, 16);
  const computed = nmeaChecksum(body);
  if (sent !== computed) return reject('checksum', `checksum ${hex2(sent)} does not match computed ${hex2(computed)}`);

  const fields = body.split(',');
  const address = fields[0]!;
  if (!/^[A-Z]{5}$/.test(address)) return reject('unsupported', `address '${address}' is not a standard talker + sentence type`);
  const talker = address.slice(0, 2);
  const type = address.slice(2);
  if (!TALKERS.has(talker)) return reject('unsupported', `talker '${talker}' is not supported`);
  const parse = PARSERS[type];
  if (!parse) return reject('unsupported', `sentence type '${type}' is not supported`);

  try {
    return { ok: true, message: parse(talker as NmeaTalker, fields) };
  } catch (error) {
    if (error instanceof Malformed) return reject('malformed', `${type} ${error.message}`);
    throw error;
  }
}

function hex2(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, '0');
}

type SentenceParser = (talker: NmeaTalker, fields: string[]) => NmeaMessage;

const PARSERS: Record<string, SentenceParser | undefined> = {
  GGA(talker, f) {
    need(f, 15);
    unit(f[10]!, 'M', 'altitude unit');
    unit(f[12]!, 'M', 'geoid separation unit');
    const fixQuality = integer(f[6]!, 'fix quality');
    if (fixQuality === null || fixQuality > 8) throw new Malformed(`fix quality: expected 0-8, got '${f[6]}'`);
    return {
      type: 'GGA',
      talker,
      time: time(f[1]!),
      lat: coordinate(f[2]!, f[3]!, 'lat'),
      lon: coordinate(f[4]!, f[5]!, 'lon'),
      fixQuality,
      satellites: integer(f[7]!, 'satellites'),
      hdop: decimal(f[8]!, 'hdop'),
      altitudeM: decimal(f[9]!, 'altitude'),
      geoidSeparationM: decimal(f[11]!, 'geoid separation'),
      dgpsAgeS: decimal(f[13]!, 'dgps age'),
      dgpsStationId: f[14] === '' ? null : f[14]!,
    };
  },

  RMC(talker, f) {
    need(f, 12);
    const status = f[2];
    if (status !== 'A' && status !== 'V') throw new Malformed(`status: expected A or V, got '${status}'`);
    const t = time(f[1]!);
    const d = date(f[9]!);
    const speedKnots = decimal(f[7]!, 'speed');
    const variation = decimal(f[10]!, 'magnetic variation');
    const variationSide = f[11]!;
    if (variation !== null && variationSide !== 'E' && variationSide !== 'W') {
      throw new Malformed(`magnetic variation direction: expected E or W, got '${variationSide}'`);
    }
    return {
      type: 'RMC',
      talker,
      time: t,
      date: d,
      timestamp: t !== null && d !== null ? `${d}T${t}Z` : null,
      status,
      lat: coordinate(f[3]!, f[4]!, 'lat'),
      lon: coordinate(f[5]!, f[6]!, 'lon'),
      speedKnots,
      speedKmh: speedKnots === null ? null : round(speedKnots * 1.852, 6),
      courseDeg: decimal(f[8]!, 'course'),
      magneticVariationDeg: variation === null ? null : variationSide === 'W' ? -variation : variation,
      mode: mode(f[12]),
    };
  },

  VTG(talker, f) {
    // NMEA 2.0 receivers send the four values without the T/M/N/K unit letters.
    if (f.length === 5) {
      return {
        type: 'VTG',
        talker,
        courseTrueDeg: decimal(f[1]!, 'course true'),
        courseMagneticDeg: decimal(f[2]!, 'course magnetic'),
        speedKnots: decimal(f[3]!, 'speed knots'),
        speedKmh: decimal(f[4]!, 'speed km/h'),
        mode: null,
      };
    }
    need(f, 9);
    unit(f[2]!, 'T', 'course true unit');
    unit(f[4]!, 'M', 'course magnetic unit');
    unit(f[6]!, 'N', 'speed knots unit');
    unit(f[8]!, 'K', 'speed km/h unit');
    return {
      type: 'VTG',
      talker,
      courseTrueDeg: decimal(f[1]!, 'course true'),
      courseMagneticDeg: decimal(f[3]!, 'course magnetic'),
      speedKnots: decimal(f[5]!, 'speed knots'),
      speedKmh: decimal(f[7]!, 'speed km/h'),
      mode: mode(f[9]),
    };
  },

  GSA(talker, f) {
    need(f, 18);
    const selection = f[1];
    if (selection !== 'A' && selection !== 'M') throw new Malformed(`mode: expected A or M, got '${selection}'`);
    const fixType = integer(f[2]!, 'fix type');
    if (fixType !== 1 && fixType !== 2 && fixType !== 3) throw new Malformed(`fix type: expected 1, 2 or 3, got '${f[2]}'`);
    const prns: number[] = [];
    for (let i = 3; i < 15; i++) {
      const prn = integer(f[i]!, `prn ${i - 2}`);
      if (prn !== null) prns.push(prn);
    }
    return {
      type: 'GSA',
      talker,
      mode: selection,
      fixType,
      prns,
      pdop: decimal(f[15]!, 'pdop'),
      hdop: decimal(f[16]!, 'hdop'),
      vdop: decimal(f[17]!, 'vdop'),
      systemId: f.length > 18 ? integer(f[18]!, 'system id') : null,
    };
  },

  GSV(talker, f) {
    need(f, 4);
    const totalMessages = required(integer(f[1]!, 'total messages'), 'total messages');
    const messageNumber = required(integer(f[2]!, 'message number'), 'message number');
    if (messageNumber < 1 || messageNumber > totalMessages) {
      throw new Malformed(`message number: ${messageNumber} is outside 1-${totalMessages}`);
    }
    const satellitesInView = required(integer(f[3]!, 'satellites in view'), 'satellites in view');
    const rest = f.length - 4;
    if (rest % 4 > 1) throw new Malformed(`satellites: ${rest} fields do not make groups of four`);
    const satellites: NmeaSatellite[] = [];
    for (let i = 4; i + 4 <= f.length; i += 4) {
      const n = (i - 4) / 4 + 1;
      // Some receivers pad the last sentence with empty groups.
      if (f[i] === '' && f[i + 1] === '' && f[i + 2] === '' && f[i + 3] === '') continue;
      satellites.push({
        prn: required(integer(f[i]!, `satellite ${n} prn`), `satellite ${n} prn`),
        elevationDeg: integer(f[i + 1]!, `satellite ${n} elevation`),
        azimuthDeg: integer(f[i + 2]!, `satellite ${n} azimuth`),
        snrDb: integer(f[i + 3]!, `satellite ${n} snr`),
      });
    }
    return {
      type: 'GSV',
      talker,
      totalMessages,
      messageNumber,
      satellitesInView,
      satellites,
      signalId: rest % 4 === 1 ? integer(f[f.length - 1]!, 'signal id') : null,
    };
  },
};

function need(fields: string[], count: number): void {
  if (fields.length < count) throw new Malformed(`has ${fields.length - 1} fields, needs at least ${count - 1}`);
}

function unit(value: string, expected: string, name: string): void {
  if (value !== '' && value !== expected) throw new Malformed(`${name}: expected '${expected}', got '${value}'`);
}

function required(value: number | null, name: string): number {
  if (value === null) throw new Malformed(`${name}: missing`);
  return value;
}

function integer(value: string, name: string): number | null {
  if (value === '') return null;
  if (!/^\d+$/.test(value)) throw new Malformed(`${name}: '${value}' is not an integer`);
  return Number(value);
}

function decimal(value: string, name: string): number | null {
  if (value === '') return null;
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(value)) throw new Malformed(`${name}: '${value}' is not a number`);
  return Number(value);
}

function mode(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  if (!/^[A-Z]$/.test(value)) throw new Malformed(`mode indicator: '${value}' is not a letter`);
  return value;
}

/** `ddmm.mmmm` + N/S or `dddmm.mmmm` + E/W → signed decimal degrees. */
function coordinate(value: string, hemisphere: string, name: 'lat' | 'lon'): number | null {
  if (value === '' && hemisphere === '') return null;
  const pattern = name === 'lat' ? /^(\d{2})(\d{2}(?:\.\d+)?)$/ : /^(\d{3})(\d{2}(?:\.\d+)?)$/;
  const match = pattern.exec(value);
  if (!match) throw new Malformed(`${name}: '${value}' is not ${name === 'lat' ? 'ddmm.mmmm' : 'dddmm.mmmm'}`);
  const degrees = Number(match[1]);
  const minutes = Number(match[2]);
  if (minutes >= 60 || degrees > (name === 'lat' ? 90 : 180) || (degrees === (name === 'lat' ? 90 : 180) && minutes > 0)) {
    throw new Malformed(`${name}: '${value}' is out of range`);
  }
  const sides = name === 'lat' ? ['N', 'S'] : ['E', 'W'];
  if (hemisphere !== sides[0] && hemisphere !== sides[1]) {
    throw new Malformed(`${name} hemisphere: expected ${sides[0]} or ${sides[1]}, got '${hemisphere}'`);
  }
  // Eight decimals (about 1 mm) keep receiver precision while dropping binary noise like …0004.
  const magnitude = round(degrees + minutes / 60, 8);
  return hemisphere === sides[1] ? -magnitude : magnitude;
}

/** `hhmmss[.s…]` → `hh:mm:ss.sss`. */
function time(value: string): string | null {
  if (value === '') return null;
  const match = /^(\d{2})(\d{2})(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!match || Number(match[1]) > 23 || Number(match[2]) > 59 || Number(match[3]) > 60) {
    throw new Malformed(`time: '${value}' is not hhmmss.ss`);
  }
  const millis = (match[4] ?? '').padEnd(3, '0').slice(0, 3);
  return `${match[1]}:${match[2]}:${match[3]}.${millis}`;
}

/** `ddmmyy` → `YYYY-MM-DD`. */
function date(value: string): string | null {
  if (value === '') return null;
  const match = /^(\d{2})(\d{2})(\d{2})$/.exec(value);
  if (match) {
    const day = Number(match[1]);
    const month = Number(match[2]);
    const yy = Number(match[3]);
    // Two-digit years: the GPS era starts in 1980, so 80-99 are the twentieth century.
    const year = yy >= 80 ? 1900 + yy : 2000 + yy;
    if (month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)) {
      return `${year}-${match[2]}-${match[1]}`;
    }
  }
  throw new Malformed(`date: '${value}' is not a valid ddmmyy date`);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

// ---- fix accumulation ---------------------------------------------------------------------------

/** The latest fix, merged from GGA, RMC and VTG sentences. */
export interface GpsFixState {
  /** ISO 8601 UTC; null until an RMC has supplied the date. */
  time: string | null;
  lat: number | null;
  lon: number | null;
  altitudeM: number | null;
  speedKmh: number | null;
  courseDeg: number | null;
  fixQuality: number | null;
  satellites: number | null;
  hdop: number | null;
  /** The latest RMC said A, the latest GGA a non-zero quality, and a position is known. */
  valid: boolean;
}

/** What a {@link GpsFix} has been fed. */
export interface GpsFixStats {
  /** Sentences that parsed, of any supported type. */
  sentences: number;
  checksumErrors: number;
  malformed: number;
  unsupported: number;
}

/** Merges parsed sentences into the latest fix, counting the rejected ones. */
export class GpsFix {
  readonly stats: GpsFixStats = { sentences: 0, checksumErrors: 0, malformed: 0, unsupported: 0 };
  private state: Omit<GpsFixState, 'valid'> = {
    time: null, lat: null, lon: null, altitudeM: null, speedKmh: null, courseDeg: null,
    fixQuality: null, satellites: null, hdop: null,
  };
  private date: string | null = null;
  private dateTimeOfDayMs = 0;
  private rmcStatus: 'A' | 'V' | null = null;

  /** Applies one parse result; returns whether it changed the fix. */
  update(result: NmeaParseResult): boolean {
    if (!result.ok) {
      if (result.reason === 'checksum') this.stats.checksumErrors++;
      else if (result.reason === 'malformed') this.stats.malformed++;
      else this.stats.unsupported++;
      return false;
    }
    this.stats.sentences++;
    const m = result.message;
    const s = this.state;
    switch (m.type) {
      case 'GGA':
        if (m.time !== null && this.date !== null) s.time = this.combine(m.time);
        s.lat = m.lat;
        s.lon = m.lon;
        s.fixQuality = m.fixQuality;
        s.satellites = m.satellites;
        s.hdop = m.hdop;
        s.altitudeM = m.altitudeM;
        return true;
      case 'RMC':
        if (m.date !== null && m.time !== null) {
          this.date = m.date;
          this.dateTimeOfDayMs = timeOfDayMs(m.time);
          s.time = m.timestamp;
        }
        this.rmcStatus = m.status;
        s.lat = m.lat;
        s.lon = m.lon;
        s.speedKmh = m.speedKmh;
        s.courseDeg = m.courseDeg;
        return true;
      case 'VTG':
        s.speedKmh = m.speedKmh ?? (m.speedKnots === null ? null : round(m.speedKnots * 1.852, 6));
        s.courseDeg = m.courseTrueDeg;
        return true;
      default:
        return false;
    }
  }

  /** A copy of the latest fix. */
  get current(): GpsFixState {
    const s = this.state;
    const valid = (this.rmcStatus !== null || s.fixQuality !== null) && this.rmcStatus !== 'V' && s.fixQuality !== 0 && s.lat !== null && s.lon !== null;
    return { ...s, valid };
  }

  // GGA carries only the time of day: date it from the last RMC, moving to the next day when the
  // clock has wrapped past midnight since (more than twelve hours "backwards").
  private combine(time: string): string {
    const ms = timeOfDayMs(time);
    let day = Date.parse(`${this.date}T00:00:00.000Z`);
    if (ms < this.dateTimeOfDayMs - 12 * 3600_000) day += 86_400_000;
    return new Date(day + ms).toISOString();
  }
}

function timeOfDayMs(time: string): number {
  const [h, m, s] = time.split(':');
  return (Number(h) * 3600 + Number(m) * 60) * 1000 + Math.round(Number(s) * 1000);
}
