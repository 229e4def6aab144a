// Writes DSMR P1 telegrams from typed values, for the meter simulator and for tests: DSMR 5 style
// with a CRC, or DSMR 2.2 style without one and with the two-line gas reading. Faults (a wrong CRC,
// a cut-off telegram) are options, so tests and the simulator inject them the same way.

import { crc16Arc } from '../crc16.js';
import { OBIS_FIELDS, type DsmrValues } from './parse.js';

/** What a telegram is built from: the values of a reading, plus raw lines for anything else. */
export interface DsmrTelegramInput extends DsmrValues {
  /** Three letters, e.g. `ISk`, `KFM`. */
  manufacturer: string;
  /** The IEC 62056-21 baud rate character after the manufacturer; `5` unless given. */
  baudRateId?: string;
  ident: string;
  /** Extra lines, OBIS code → values, written after the known ones. */
  unknown?: Record<string, string[]>;
}

/** Options for {@link encodeTelegram}. */
export interface DsmrEncodeOptions {
  /** `dsmr5` (default): CRC and `24.2.1` gas line; `dsmr22`: no CRC and the `24.3.0` two-line gas form. */
  format?: 'dsmr5' | 'dsmr22';
  /** Write a CRC that does not match (dsmr5 only). */
  corruptCrc?: boolean;
  /** Keep only the first this-many characters, as when the line drops mid-telegram. */
  truncateAt?: number;
}

/** Builds one telegram, `/` to the final CR LF; `parseTelegram` reads it back to the same values. */
export function encodeTelegram(input: DsmrTelegramInput, options: DsmrEncodeOptions = {}): string {
  const format = options.format ?? 'dsmr5';
  if (format !== 'dsmr5' && format !== 'dsmr22') throw new RangeError("options.format must be 'dsmr5' or 'dsmr22'.");
  if (options.corruptCrc && format !== 'dsmr5') throw new RangeError('options.corruptCrc needs format dsmr5, the one with a CRC.');
  if (!/^[A-Za-z]{3}$/.test(input.manufacturer)) throw new RangeError('manufacturer must be three letters.');
  const baudRateId = input.baudRateId ?? '5';
  if (!/^[\x21-\x7e]$/.test(baudRateId)) throw new RangeError('baudRateId must be one printable character.');
  if (!/^[\x20-\x7e]*$/.test(input.ident) || input.ident.includes('!')) throw new RangeError('ident must be printable ASCII without !.');

  const lines = [`/${input.manufacturer}${baudRateId}${input.ident}`, ''];
  for (const spec of OBIS_FIELDS) {
    const value = input[spec.field];
    if (value === undefined) continue;
    const name = spec.field;
    switch (spec.kind) {
      case 'quantity':
        lines.push(`${spec.code}(${fixed(number(value, name), spec.digits, name)}*${spec.unit})`);
        break;
      case 'count':
        lines.push(`${spec.code}(${unsigned(number(value, name), spec.digits, name)})`);
        break;
      case 'timestamp':
        lines.push(`${spec.code}(${timestamp(string(value, name), name, true)})`);
        break;
      case 'hexText':
        lines.push(`${spec.code}(${hex(string(value, name), name)})`);
        break;
      case 'text':
        lines.push(`${spec.code}(${text(string(value, name), name)})`);
        break;
    }
  }
  lines.push(...gasLines(input, format));
  for (const [code, values] of Object.entries(input.unknown ?? {})) {
    if (!/^\d+-\d+:\d+\.\d+\.\d+(?:\*\d+)?$/.test(code)) throw new RangeError(`unknown['${code}'] is not an OBIS code.`);
    lines.push(code + values.map((value, i) => `(${text(value, `unknown['${code}'][${i}]`)})`).join(''));
  }

  let telegram = lines.join('\r\n') + '\r\n!';
  if (format === 'dsmr5') {
    let crc = crc16Arc(Buffer.from(telegram, 'latin1'));
    if (options.corruptCrc) crc ^= 0x0f0f;
    telegram += crc.toString(16).toUpperCase().padStart(4, '0');
  }
  telegram += '\r\n';
  if (options.truncateAt !== undefined) {
    if (!Number.isInteger(options.truncateAt) || options.truncateAt < 0) throw new RangeError('options.truncateAt must be a non-negative integer.');
    telegram = telegram.slice(0, options.truncateAt);
  }
  return telegram;
}

function gasLines(input: DsmrTelegramInput, format: 'dsmr5' | 'dsmr22'): string[] {
  const { gasDeviceType, gasEquipmentId, gasTimestamp, gasDeliveredM3 } = input;
  if (gasDeviceType === undefined && gasEquipmentId === undefined && gasTimestamp === undefined && gasDeliveredM3 === undefined) return [];
  const channel = input.gasChannel ?? 1;
  if (!Number.isInteger(channel) || channel < 1 || channel > 4) throw new RangeError('gasChannel must be an M-Bus channel from 1 to 4.');
  const lines: string[] = [];
  if (gasDeviceType !== undefined) lines.push(`0-${channel}:24.1.0(${unsigned(gasDeviceType, format === 'dsmr5' ? 3 : 1, 'gasDeviceType')})`);
  if (gasEquipmentId !== undefined) lines.push(`0-${channel}:96.1.0(${hex(gasEquipmentId, 'gasEquipmentId')})`);
  if ((gasTimestamp === undefined) !== (gasDeliveredM3 === undefined)) {
    throw new RangeError('gasTimestamp and gasDeliveredM3 must be given together: the meter sends them on one line.');
  }
  if (gasTimestamp !== undefined && gasDeliveredM3 !== undefined) {
    const value = fixed(gasDeliveredM3, [5, 3], 'gasDeliveredM3');
    if (format === 'dsmr5') {
      lines.push(`0-${channel}:24.2.1(${timestamp(gasTimestamp, 'gasTimestamp', true)})(${value}*m3)`);
    } else {
      lines.push(`0-${channel}:24.3.0(${timestamp(gasTimestamp, 'gasTimestamp', false)})(00)(60)(1)(0-${channel}:24.2.1)(m3)`, `(${value})`);
    }
  }
  return lines;
}

function number(value: unknown, name: string): number {
  if (typeof value !== 'number') throw new RangeError(`${name} must be a number.`);
  return value;
}

function string(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new RangeError(`${name} must be a string.`);
  return value;
}

// Meters zero-pad to a fixed width; write more decimals than the meter's resolution when the
// value has them, so that nothing given is rounded away.
function fixed(value: number, [wholeDigits, decimals]: [number, number], name: string): string {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative finite number.`);
  const shown = String(value);
  const needed = shown.includes('e') ? decimals : (shown.split('.')[1] ?? '').length;
  const [whole, fraction] = value.toFixed(Math.max(decimals, needed)).split('.');
  return whole!.padStart(wholeDigits, '0') + (fraction === undefined ? '' : `.${fraction}`);
}

function unsigned(value: number, digits: number, name: string): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer.`);
  return String(value).padStart(digits, '0');
}

/** ISO 8601 with a Dutch offset → `YYMMDDhhmmss` plus S (+02:00) or W (+01:00) when flagged. */
function timestamp(value: string, name: string, flagged: boolean): string {
  const match = /^20(\d{2})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\+0([12]):00$/.exec(value);
  if (!match) throw new RangeError(`${name} must be YYYY-MM-DDThh:mm:ss+01:00 or +02:00, in 2000-2099.`);
  const [, yy, mm, dd, hh, mi, ss, offset] = match;
  return `${yy}${mm}${dd}${hh}${mi}${ss}${flagged ? (offset === '2' ? 'S' : 'W') : ''}`;
}

// The parser keeps hex that does not decode to printable text as it is (some meters put raw
// binary ids there), so such a value is written as it is and reads back the same.
function hex(value: string, name: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new RangeError(`${name} must be printable ASCII.`);
  if (value.length % 2 === 0 && /^[0-9A-Fa-f]+$/.test(value) && !/^[\x20-\x7e]*$/.test(Buffer.from(value, 'hex').toString('latin1'))) {
    return value;
  }
  return Buffer.from(value, 'latin1').toString('hex').toUpperCase();
}

function text(value: string, name: string): string {
  if (!/^[\x20-\x7e]*$/.test(value) || /[()]/.test(value)) throw new RangeError(`${name} must be printable ASCII without parentheses.`);
  return value;
}
