// IEC 62056-21 mode C parsing: the meter's identification, the reader's option select (for the
// simulator), a streaming assembler for data blocks and the data lines inside them. Optical
// heads drop and mangle bytes, so nothing here throws on wire input; it returns typed failures
// and counts what it had to discard.

import { ACK, BAUD_RATES, ETX, STX, blockCheck } from './encode.js';

/** Why a message was rejected. */
export type MessageFailureReason = 'short' | 'format' | 'baud' | 'echo';

/** A message that could not be accepted; `message` is for logs. */
export interface MessageFailure {
  ok: false;
  reason: MessageFailureReason;
  message: string;
}

/** A parsed meter identification. */
export interface ParsedIdentification {
  ok: true;
  manufacturer: string;
  /** Lowercase third manufacturer letter: the meter answers after 20 ms instead of 200 ms. */
  fastReaction: boolean;
  baudChar: string;
  baudRate: number;
  /** Model identification as sent, enhanced `\W` escapes included. */
  ident: string;
}

/** A parsed option select. */
export interface ParsedOptionSelect {
  ok: true;
  /** V: '0' normal protocol procedure, '1' secondary. */
  protocolControl: string;
  baudChar: string;
  baudRate: number;
  mode: 'readout' | 'programming' | 'binary' | 'other';
  /** Y as sent, for modes this code doesn't name. */
  modeChar: string;
}

/** A data block that arrived intact. */
export interface DataBlock {
  /** The text between STX and ETX: data lines, the `!` line, CRLFs. */
  data: string;
}

/** What the assembler has seen and discarded. */
export interface DataBlockCounters {
  /** Blocks delivered with a matching BCC. */
  blocks: number;
  /** Complete blocks dropped because their BCC didn't match. */
  bccErrors: number;
  /** Bytes discarded outside any block: noise before STX, blocks cut short by a new STX or abandoned as oversized. */
  droppedBytes: number;
  /** Blocks abandoned for exceeding maxBlockBytes (their bytes are also in droppedBytes). */
  oversized: number;
}

/** Options of the data block assembler. */
export interface DataBlockAssemblerOptions {
  /** Give up on a block longer than this (default 65536): a lost ETX must not grow memory forever. */
  maxBlockBytes?: number;
  /**
   * Clear bit 7 of every byte. A port opened 8N1 against a 7E1 meter receives the parity bit
   * there (both are 10 bits a character), a common misconfiguration this repairs.
   */
  stripParity?: boolean;
}

/** One value of a data set. */
export interface DataValue {
  /** A number when the text is a plain decimal, otherwise the text. */
  value: number | string;
  unit?: string;
  /** The value text as sent, e.g. to keep leading zeros of a serial number. */
  raw: string;
}

/** One data set: an address (OBIS-ish code) and its values. */
export interface DataItem {
  code: string;
  values: DataValue[];
}

/** The data sets of a block. */
export interface DataLines {
  items: DataItem[];
  /** Lines that could not be parsed, as received. */
  malformed: string[];
  /** Whether the `!` end line was present. */
  complete: boolean;
}

/** Billing tariff numbers mapped to named fields. */
export type TariffNumber = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/** Named readings for common electricity codes; units are in METER_FIELD_UNITS. */
export type MeterField =
  | 'energyImportTotal'
  | 'energyExportTotal'
  | `energyImportTariff${TariffNumber}`
  | `energyExportTariff${TariffNumber}`
  | 'powerImport'
  | 'powerExport'
  | 'voltageL1'
  | 'voltageL2'
  | 'voltageL3'
  | 'currentL1'
  | 'currentL2'
  | 'currentL3'
  | 'frequency';

/** Named readings, each in its field's unit. */
export type MeterFields = Partial<Record<MeterField, number>>;

/** Items split into named fields and those left raw. */
export interface MappedReadout {
  fields: MeterFields;
  /** Items that are not a current-value electricity code we name, or whose unit we can't convert. */
  unmapped: DataItem[];
}

/** The units named fields are reported in. */
export type MeterFieldUnit = 'kWh' | 'kW' | 'V' | 'A' | 'Hz';

const FIELD_BY_CDE = new Map<string, MeterField>([
  ['1.8.0', 'energyImportTotal'],
  ['2.8.0', 'energyExportTotal'],
  ['1.7.0', 'powerImport'],
  ['2.7.0', 'powerExport'],
  ['32.7.0', 'voltageL1'],
  ['52.7.0', 'voltageL2'],
  ['72.7.0', 'voltageL3'],
  ['31.7.0', 'currentL1'],
  ['51.7.0', 'currentL2'],
  ['71.7.0', 'currentL3'],
  ['14.7.0', 'frequency'],
]);
for (let t = 1; t <= 9; t++) {
  FIELD_BY_CDE.set(`1.8.${t}`, `energyImportTariff${t as TariffNumber}`);
  FIELD_BY_CDE.set(`2.8.${t}`, `energyExportTariff${t as TariffNumber}`);
}

/** The unit every named field is reported in. */
export function meterFieldUnit(field: MeterField): MeterFieldUnit {
  if (field.startsWith('energy')) return 'kWh';
  if (field.startsWith('power')) return 'kW';
  if (field.startsWith('voltage')) return 'V';
  if (field.startsWith('current')) return 'A';
  return 'Hz';
}

// Units meters actually write for each field, as [multiplier, divisor] to the field's unit;
// dividing by an exact integer keeps 12345678 Wh at 12345.678 rather than 12345.678000000001.
const CONVERSIONS: Record<MeterFieldUnit, Record<string, [number, number]>> = {
  kWh: { kWh: [1, 1], Wh: [1, 1000], MWh: [1000, 1] },
  kW: { kW: [1, 1], W: [1, 1000], MW: [1000, 1] },
  V: { V: [1, 1], kV: [1000, 1] },
  A: { A: [1, 1], mA: [1, 1000] },
  Hz: { Hz: [1, 1] },
};

/** Parses the meter's identification line `/XXXZ<ident>\r\n` (the CRLF may be already stripped). */
export function parseIdentification(line: Uint8Array | string): ParsedIdentification | MessageFailure {
  let text = typeof line === 'string' ? line : Buffer.from(line).toString('latin1');
  // Optical heads often produce a stray byte when the port opens; the message starts at `/`.
  const slash = text.indexOf('/');
  if (slash < 0) return fail('format', 'identification must start with /');
  text = text.slice(slash).replace(/\r?\n$/, '');
  // Half-duplex optical heads hear their own transmission: our sign-on comes back first.
  if (text.startsWith('/?')) return fail('echo', 'this is a sign-on request (an echo of ours?), not an identification');
  if (text.length < 6) return fail('short', `identification "${text}" is shorter than /XXXZ plus an ident`);
  const manufacturer = text.slice(1, 4);
  if (!/^[A-Za-z]{3}$/.test(manufacturer)) return fail('format', `manufacturer "${manufacturer}" must be three letters`);
  const baudChar = text[4]!;
  const baudRate = BAUD_RATES[baudChar];
  if (baudRate === undefined) {
    return fail('baud', `baud character "${baudChar}" is not a mode C rate 0–6 (A–I would mean mode B)`);
  }
  const ident = text.slice(5);
  if (!/^[\x20-\x7e]+$/.test(ident) || /[/!]/.test(ident)) {
    return fail('format', 'ident must be printable characters other than / and !');
  }
  return { ok: true, manufacturer, fastReaction: /[a-z]/.test(manufacturer[2]!), baudChar, baudRate, ident };
}

/** Parses the reader's option select `ACK V Z Y CR LF` (for the simulator). */
export function parseOptionSelect(bytes: Uint8Array): ParsedOptionSelect | MessageFailure {
  if (bytes.length < 6) return fail('short', `option select has ${bytes.length} bytes, expected 6`);
  if (bytes.length > 6 || bytes[0] !== ACK || bytes[4] !== 0x0d || bytes[5] !== 0x0a) {
    return fail('format', 'option select must be ACK V Z Y CR LF');
  }
  const protocolControl = String.fromCharCode(bytes[1]!);
  const baudChar = String.fromCharCode(bytes[2]!);
  const modeChar = String.fromCharCode(bytes[3]!);
  const baudRate = BAUD_RATES[baudChar];
  if (baudRate === undefined) return fail('baud', `baud character "${baudChar}" is not a mode C rate 0–6`);
  const mode = modeChar === '0' ? 'readout' : modeChar === '1' ? 'programming' : modeChar === '2' ? 'binary' : 'other';
  return { ok: true, protocolControl, baudChar, baudRate, mode, modeChar };
}

/**
 * Collects data blocks `STX … ETX BCC` from serial chunks split anywhere. Noise before STX is
 * dropped; a second STX before ETX restarts the block, since the first one lost its end.
 */
export class DataBlockAssembler {
  readonly #maxBlockBytes: number;
  readonly #stripParity: boolean;
  #state: 'seek' | 'data' | 'bcc' = 'seek';
  #data: number[] = [];
  readonly #counters: DataBlockCounters = { blocks: 0, bccErrors: 0, droppedBytes: 0, oversized: 0 };

  /** Creates an assembler; see DataBlockAssemblerOptions. */
  constructor(options: DataBlockAssemblerOptions = {}) {
    const max = options.maxBlockBytes ?? 65536;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('options.maxBlockBytes must be a positive integer');
    this.#maxBlockBytes = max;
    this.#stripParity = options.stripParity ?? false;
  }

  /** A snapshot of the counters. */
  get counters(): DataBlockCounters {
    return { ...this.#counters };
  }

  /** Adds a chunk and returns the blocks it completed with a valid BCC. */
  push(chunk: Uint8Array): DataBlock[] {
    const blocks: DataBlock[] = [];
    for (let byte of chunk) {
      if (this.#stripParity) byte &= 0x7f;
      switch (this.#state) {
        case 'seek':
          if (byte === STX) {
            this.#state = 'data';
            this.#data = [];
          } else {
            this.#counters.droppedBytes++;
          }
          break;
        case 'data':
          if (byte === STX) {
            this.#counters.droppedBytes += this.#data.length + 1;
            this.#data = [];
          } else if (byte === ETX) {
            this.#state = 'bcc';
          } else if (this.#data.length >= this.#maxBlockBytes) {
            this.#counters.droppedBytes += this.#data.length + 2;
            this.#counters.oversized++;
            this.#state = 'seek';
          } else {
            this.#data.push(byte);
          }
          break;
        case 'bcc': {
          const data = Uint8Array.from(this.#data);
          if ((blockCheck(data) ^ ETX) === byte) {
            this.#counters.blocks++;
            blocks.push({ data: Buffer.from(data).toString('latin1') });
          } else {
            this.#counters.bccErrors++;
          }
          this.#state = 'seek';
          this.#data = [];
          break;
        }
      }
    }
    return blocks;
  }

  /** Drops a partial block, e.g. after a read timeout; its bytes count as dropped. */
  reset(): void {
    if (this.#state !== 'seek') this.#counters.droppedBytes += this.#data.length + (this.#state === 'bcc' ? 2 : 1);
    this.#state = 'seek';
    this.#data = [];
  }
}

/** Parses the data lines of a block into data sets `code(value*unit)(…)`. */
export function parseDataLines(data: string): DataLines {
  const items: DataItem[] = [];
  const malformed: string[] = [];
  let complete = false;
  for (const line of data.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    if (line.trim() === '!') {
      complete = true;
      break;
    }
    const parsed = parseLine(line);
    if (!parsed) {
      malformed.push(line);
      continue;
    }
    // A line that opens with `(` continues the previous data set (long profiles wrap lines).
    if (parsed.continuation.length) {
      const last = items[items.length - 1];
      if (!last) {
        malformed.push(line);
        continue;
      }
      last.values.push(...parsed.continuation);
    }
    items.push(...parsed.items);
  }
  return { items, malformed, complete };
}

/** Splits data sets into named fields (converted to each field's unit) and raw leftovers. */
export function mapMeterFields(items: readonly DataItem[]): MappedReadout {
  const fields: MeterFields = {};
  const unmapped: DataItem[] = [];
  for (const item of items) {
    const field = fieldFor(item.code);
    const first = item.values[0];
    if (!field || fields[field] !== undefined || !first || typeof first.value !== 'number') {
      unmapped.push(item);
      continue;
    }
    // Without a unit the meter is taken to use the field's own, as most do for these codes.
    const conversion = CONVERSIONS[meterFieldUnit(field)][first.unit ?? meterFieldUnit(field)];
    if (!conversion) {
      unmapped.push(item);
      continue;
    }
    fields[field] = (first.value * conversion[0]) / conversion[1];
  }
  return { fields, unmapped };
}

function fieldFor(code: string): MeterField | undefined {
  const m = /^(?:(\d+)-(\d+):)?(\d+)\.(\d+)\.(\d+)(?:[*&](\d+))?$/.exec(code);
  if (!m) return undefined;
  // A is the medium (1 = electricity); F is a billing period, i.e. a stored historical value.
  if (m[1] !== undefined && m[1] !== '1') return undefined;
  if (m[6] !== undefined && m[6] !== '255') return undefined;
  return FIELD_BY_CDE.get(`${Number(m[3])}.${Number(m[4])}.${Number(m[5])}`);
}

function parseLine(line: string): { items: DataItem[]; continuation: DataValue[] } | undefined {
  const items: DataItem[] = [];
  const continuation: DataValue[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === '(') {
      const close = line.indexOf(')', i);
      if (close < 0) return undefined;
      const value = parseValue(line.slice(i + 1, close));
      const current = items[items.length - 1];
      if (current) current.values.push(value);
      else continuation.push(value);
      i = close + 1;
    } else {
      const open = line.indexOf('(', i);
      if (open < 0) return undefined;
      const code = line.slice(i, open).trim();
      if (code === '' || code.includes(')')) return undefined;
      items.push({ code, values: [] });
      i = open;
    }
  }
  return { items, continuation };
}

function parseValue(text: string): DataValue {
  const star = text.indexOf('*');
  const raw = (star < 0 ? text : text.slice(0, star)).trim();
  const value: DataValue = { value: /^[+-]?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw, raw };
  if (star >= 0) value.unit = text.slice(star + 1).trim();
  return value;
}

function fail(reason: MessageFailureReason, message: string): MessageFailure {
  return { ok: false, reason, message };
}
