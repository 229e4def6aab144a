// Writes NMEA 0183 sentences from typed values, for the GPS simulator and for tests. Whatever
// `encodeNmea` writes, `parseSentence` reads back to the same value (coordinates to the chosen
// number of minute decimals).

import { nmeaChecksum, type NmeaGga, type NmeaGsa, type NmeaGsv, type NmeaMessage, type NmeaRmc, type NmeaVtg } from './parse.js';

/** Options for {@link buildSentence} and {@link encodeNmea}. */
export interface NmeaEncodeOptions {
  /** `wrong` writes a checksum that does not match the body, for fault-injection tests. */
  checksum?: 'correct' | 'wrong';
  /** Written after the checksum; CR LF unless given. */
  lineEnding?: string;
  /** Decimal places of the minutes in coordinates: 4 unless given (u-blox sends 5). */
  minuteDecimals?: number;
}

/** Builds one sentence from its address (`GPGGA`) and field texts, with checksum and line ending. */
export function buildSentence(address: string, fields: readonly string[], options: NmeaEncodeOptions = {}): string {
  const body = [address, ...fields].join(',');
  if (!/^[\x20-\x7e]*$/.test(body) || /[$*!]/.test(body)) {
    throw new RangeError('address and fields must be printable ASCII without $, * or !.');
  }
  let checksum = nmeaChecksum(body);
  if (options.checksum === 'wrong') checksum ^= 0x5a;
  return `$${body}*${checksum.toString(16).toUpperCase().padStart(2, '0')}${options.lineEnding ?? '\r\n'}`;
}

/** Builds the sentence for a typed message, the inverse of `parseSentence`. */
export function encodeNmea(message: NmeaMessage, options: NmeaEncodeOptions = {}): string {
  const minuteDecimals = options.minuteDecimals ?? 4;
  if (!Number.isInteger(minuteDecimals) || minuteDecimals < 0 || minuteDecimals > 8) {
    throw new RangeError('options.minuteDecimals must be an integer from 0 to 8.');
  }
  const address = `${message.talker}${message.type}`;
  switch (message.type) {
    case 'GGA':
      return buildSentence(address, ggaFields(message, minuteDecimals), options);
    case 'RMC':
      return buildSentence(address, rmcFields(message, minuteDecimals), options);
    case 'VTG':
      return buildSentence(address, vtgFields(message), options);
    case 'GSA':
      return buildSentence(address, gsaFields(message), options);
    case 'GSV':
      return buildSentence(address, gsvFields(message), options);
    default:
      throw new RangeError(`message.type '${(message as { type: unknown }).type}' is not one of GGA, RMC, VTG, GSA, GSV.`);
  }
}

function ggaFields(m: NmeaGga, minuteDecimals: number): string[] {
  return [
    time(m.time, 'GGA.time'),
    ...coordinate(m.lat, 'lat', minuteDecimals),
    ...coordinate(m.lon, 'lon', minuteDecimals),
    integer(m.fixQuality, 'GGA.fixQuality', 1),
    integer(m.satellites, 'GGA.satellites', 2),
    decimal(m.hdop, 'GGA.hdop'),
    decimal(m.altitudeM, 'GGA.altitudeM'),
    m.altitudeM === null ? '' : 'M',
    decimal(m.geoidSeparationM, 'GGA.geoidSeparationM'),
    m.geoidSeparationM === null ? '' : 'M',
    decimal(m.dgpsAgeS, 'GGA.dgpsAgeS'),
    m.dgpsStationId ?? '',
  ];
}

// `timestamp` and `speedKmh` are derived on parsing, so `date`, `time` and `speedKnots` are what
// gets written.
function rmcFields(m: NmeaRmc, minuteDecimals: number): string[] {
  const variation = m.magneticVariationDeg;
  const fields = [
    time(m.time, 'RMC.time'),
    m.status,
    ...coordinate(m.lat, 'lat', minuteDecimals),
    ...coordinate(m.lon, 'lon', minuteDecimals),
    decimal(m.speedKnots, 'RMC.speedKnots'),
    decimal(m.courseDeg, 'RMC.courseDeg'),
    date(m.date),
    decimal(variation === null ? null : Math.abs(variation), 'RMC.magneticVariationDeg'),
    variation === null ? '' : variation < 0 ? 'W' : 'E',
  ];
  if (m.mode !== null) fields.push(m.mode);
  return fields;
}

function vtgFields(m: NmeaVtg): string[] {
  const fields = [
    decimal(m.courseTrueDeg, 'VTG.courseTrueDeg'), 'T',
    decimal(m.courseMagneticDeg, 'VTG.courseMagneticDeg'), 'M',
    decimal(m.speedKnots, 'VTG.speedKnots'), 'N',
    decimal(m.speedKmh, 'VTG.speedKmh'), 'K',
  ];
  if (m.mode !== null) fields.push(m.mode);
  return fields;
}

function gsaFields(m: NmeaGsa): string[] {
  if (m.prns.length > 12) throw new RangeError('GSA.prns must hold at most 12 PRNs.');
  const slots = Array.from({ length: 12 }, (_, i) => (i < m.prns.length ? integer(m.prns[i]!, `GSA.prns[${i}]`, 2) : ''));
  const fields = [m.mode, integer(m.fixType, 'GSA.fixType', 1), ...slots, decimal(m.pdop, 'GSA.pdop'), decimal(m.hdop, 'GSA.hdop'), decimal(m.vdop, 'GSA.vdop')];
  if (m.systemId !== null) fields.push(integer(m.systemId, 'GSA.systemId', 1));
  return fields;
}

function gsvFields(m: NmeaGsv): string[] {
  if (m.satellites.length > 4) throw new RangeError('GSV.satellites must hold at most 4 satellites per sentence.');
  const fields = [
    integer(m.totalMessages, 'GSV.totalMessages', 1),
    integer(m.messageNumber, 'GSV.messageNumber', 1),
    integer(m.satellitesInView, 'GSV.satellitesInView', 2),
  ];
  m.satellites.forEach((s, i) => {
    fields.push(
      integer(s.prn, `GSV.satellites[${i}].prn`, 2),
      integer(s.elevationDeg, `GSV.satellites[${i}].elevationDeg`, 2),
      integer(s.azimuthDeg, `GSV.satellites[${i}].azimuthDeg`, 3),
      integer(s.snrDb, `GSV.satellites[${i}].snrDb`, 2),
    );
  });
  if (m.signalId !== null) fields.push(integer(m.signalId, 'GSV.signalId', 1));
  return fields;
}

function integer(value: number | null, name: string, width: number): string {
  if (value === null) return '';
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer or null.`);
  return String(value).padStart(width, '0');
}

function decimal(value: number | null, name: string): string {
  if (value === null) return '';
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number or null.`);
  const text = String(value);
  // NMEA has no exponent notation; tiny values would otherwise print as 1e-7.
  return text.includes('e') ? value.toFixed(10).replace(/\.?0+$/, '') : text;
}

function time(value: string | null, name: string): string {
  if (value === null) return '';
  const match = /^(\d{2}):(\d{2}):(\d{2})\.(\d{3})$/.exec(value);
  if (!match) throw new RangeError(`${name} must be hh:mm:ss.sss or null.`);
  const millis = match[4]!;
  // Receivers send hundredths; write the third digit only when it carries information.
  return `${match[1]}${match[2]}${match[3]}.${millis.endsWith('0') ? millis.slice(0, 2) : millis}`;
}

function date(value: string | null): string {
  if (value === null) return '';
  const match = /^(\d{2})(\d{2})-(\d{2})-(\d{2})$/.exec(value);
  const year = match ? Number(match[1]! + match[2]!) : NaN;
  if (!match || year < 1980 || year > 2079) throw new RangeError('RMC.date must be YYYY-MM-DD between 1980 and 2079, or null.');
  return `${match[4]}${match[3]}${match[2]}`;
}

function coordinate(value: number | null, name: 'lat' | 'lon', minuteDecimals: number): [string, string] {
  if (value === null) return ['', ''];
  const limit = name === 'lat' ? 90 : 180;
  if (!Number.isFinite(value) || Math.abs(value) > limit) throw new RangeError(`${name} must be a number from -${limit} to ${limit}, or null.`);
  // Round once, in units of the last minute digit, so 59.99995′ carries into the next degree.
  const scale = 10 ** minuteDecimals;
  const units = Math.round(Math.abs(value) * 60 * scale);
  const degrees = Math.floor(units / (60 * scale));
  const minuteUnits = units - degrees * 60 * scale;
  const whole = String(Math.floor(minuteUnits / scale)).padStart(2, '0');
  const fraction = minuteDecimals > 0 ? '.' + String(minuteUnits % scale).padStart(minuteDecimals, '0') : '';
  const side = name === 'lat' ? (value < 0 ? 'S' : 'N') : value < 0 ? 'W' : 'E';
  return [`${String(degrees).padStart(name === 'lat' ? 2 : 3, '0')}${whole}${fraction}`, side];
}
