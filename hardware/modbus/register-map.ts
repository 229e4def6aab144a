// Register maps: which registers of a meter hold which reading, in which type and byte order.
// Vendors disagree on how a 32- or 64-bit value is spread over 16-bit registers, so the order is
// part of every entry. Letters name the value's bytes, most significant first, in the order they
// appear on the wire (Telegraf's convention): ABCD is big-endian, CDAB swaps the registers, BADC
// swaps the bytes inside each register, DCBA does both. For 64-bit values the same two swaps
// apply to four registers; for 16-bit values only the byte swap has any effect.

import { MAX_READ_REGISTERS, type ReadFunction } from './encode.js';

/** How a reading is stored in its registers. */
export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

/** Byte and register order of a multi-byte value; see the file comment. */
export type ByteOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

/** One named reading in a register map. */
export interface RegisterMapEntry {
  name: string;
  /** First register, 0-based as on the wire. */
  register: number;
  type: RegisterType;
  order: ByteOrder;
  unit: string;
  /** Multiplier from the raw register value to the reading, e.g. 0.1 for tenths of a volt. */
  scale?: number;
  function: ReadFunction;
}

/** A meter's register map. */
export type RegisterMap = readonly RegisterMapEntry[];

/** A decoded reading. */
export interface Reading {
  name: string;
  value: number;
  unit: string;
}

/** One read request covering some entries of a map; spread it with an address into a request. */
export interface ReadGroup {
  function: ReadFunction;
  start: number;
  count: number;
  entries: RegisterMapEntry[];
}

/** Options of the read planner. */
export interface PlanOptions {
  /** Registers per request, at most 125 (the default). */
  maxRegisters?: number;
  /**
   * Unmapped registers a request may read across to join two entries, 0 by default: many meters
   * answer ILLEGAL_DATA_ADDRESS for undefined registers, so bridging gaps must be opted into.
   */
  maxGap?: number;
}

/** Register values by register number, one bank per function, as the simulator serves them. */
export interface RegisterImage {
  holding: Map<number, number>;
  input: Map<number, number>;
}

/** All register types. */
export const REGISTER_TYPES: readonly RegisterType[] = ['int16', 'uint16', 'int32', 'uint32', 'float32', 'float64'];

/** All byte orders. */
export const BYTE_ORDERS: readonly ByteOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

const WIDTH: Record<RegisterType, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, float64: 4 };

const float32Abcd = (name: string, register: number, unit: string): RegisterMapEntry => ({
  name,
  register,
  type: 'float32',
  order: 'ABCD',
  unit,
  function: 4,
});

/** Eastron SDM630 (three-phase) input registers, float32 big-endian. */
export const SDM630_MAP: RegisterMap = Object.freeze([
  float32Abcd('voltageL1', 0x0000, 'V'),
  float32Abcd('voltageL2', 0x0002, 'V'),
  float32Abcd('voltageL3', 0x0004, 'V'),
  float32Abcd('currentL1', 0x0006, 'A'),
  float32Abcd('currentL2', 0x0008, 'A'),
  float32Abcd('currentL3', 0x000a, 'A'),
  float32Abcd('activePowerL1', 0x000c, 'W'),
  float32Abcd('activePowerL2', 0x000e, 'W'),
  float32Abcd('activePowerL3', 0x0010, 'W'),
  float32Abcd('totalSystemPower', 0x0034, 'W'),
  float32Abcd('frequency', 0x0046, 'Hz'),
  float32Abcd('importEnergy', 0x0048, 'kWh'),
  float32Abcd('exportEnergy', 0x004a, 'kWh'),
  float32Abcd('totalActiveEnergy', 0x0156, 'kWh'),
]);

/** Eastron SDM120 (single-phase) input registers, float32 big-endian. */
export const SDM120_MAP: RegisterMap = Object.freeze([
  float32Abcd('voltage', 0x0000, 'V'),
  float32Abcd('current', 0x0006, 'A'),
  float32Abcd('activePower', 0x000c, 'W'),
  float32Abcd('frequency', 0x0046, 'Hz'),
  float32Abcd('importEnergy', 0x0048, 'kWh'),
  float32Abcd('exportEnergy', 0x004a, 'kWh'),
  float32Abcd('totalActiveEnergy', 0x0156, 'kWh'),
]);

/** Number of 16-bit registers a value of `type` occupies. */
export function registerCount(type: RegisterType): number {
  return WIDTH[type];
}

/** Decodes the raw value of `type` from its registers in `order` (no scaling). */
export function decodeValue(words: readonly number[], type: RegisterType, order: ByteOrder): number {
  const width = WIDTH[type];
  if (words.length !== width) throw new RangeError(`words must hold ${width} registers for ${type}, got ${words.length}`);
  const view = new DataView(wordsToBigEndian(words, order).buffer);
  switch (type) {
    case 'int16': return view.getInt16(0);
    case 'uint16': return view.getUint16(0);
    case 'int32': return view.getInt32(0);
    case 'uint32': return view.getUint32(0);
    case 'float32': return view.getFloat32(0);
    case 'float64': return view.getFloat64(0);
  }
}

/** Encodes a raw value of `type` into registers in `order`; integers must fit the type. */
export function encodeValue(value: number, type: RegisterType, order: ByteOrder): number[] {
  const bytes = new Uint8Array(WIDTH[type] * 2);
  const view = new DataView(bytes.buffer);
  switch (type) {
    case 'int16': view.setInt16(0, checkFits(value, -0x8000, 0x7fff, type)); break;
    case 'uint16': view.setUint16(0, checkFits(value, 0, 0xffff, type)); break;
    case 'int32': view.setInt32(0, checkFits(value, -0x80000000, 0x7fffffff, type)); break;
    case 'uint32': view.setUint32(0, checkFits(value, 0, 0xffffffff, type)); break;
    case 'float32': view.setFloat32(0, value); break;
    case 'float64': view.setFloat64(0, value); break;
  }
  return bigEndianToWords(bytes, order);
}

/** Groups a map's entries into as few read requests as possible. */
export function planReads(map: RegisterMap, options: PlanOptions = {}): ReadGroup[] {
  const maxRegisters = options.maxRegisters ?? MAX_READ_REGISTERS;
  const maxGap = options.maxGap ?? 0;
  if (!Number.isInteger(maxRegisters) || maxRegisters < 1 || maxRegisters > MAX_READ_REGISTERS) {
    throw new RangeError(`options.maxRegisters must be an integer 1–${MAX_READ_REGISTERS}`);
  }
  if (!Number.isInteger(maxGap) || maxGap < 0) throw new RangeError('options.maxGap must be a non-negative integer');
  const groups: ReadGroup[] = [];
  for (const fn of [3, 4] as const) {
    const entries = map.filter((e) => e.function === fn).sort((a, b) => a.register - b.register);
    let current: ReadGroup | undefined;
    // Greedy extension is optimal here: a request is a run of consecutive entries in register
    // order, and any sub-run of a feasible run is feasible, so reaching furthest never hurts.
    for (const entry of entries) {
      const end = entry.register + WIDTH[entry.type];
      if (WIDTH[entry.type] > maxRegisters) throw new RangeError(`options.maxRegisters is smaller than ${entry.name}'s ${entry.type}`);
      if (current) {
        const currentEnd = current.start + current.count;
        const fitsGap = entry.register <= currentEnd + maxGap;
        const fitsSize = Math.max(end, currentEnd) - current.start <= maxRegisters;
        if (fitsGap && fitsSize) {
          current.count = Math.max(end, currentEnd) - current.start;
          current.entries.push(entry);
          continue;
        }
      }
      current = { function: fn, start: entry.register, count: end - entry.register, entries: [entry] };
      groups.push(current);
    }
  }
  return groups;
}

/** Turns the registers read for a group into its entries' readings. */
export function decodeGroup(group: ReadGroup, registers: readonly number[]): Reading[] {
  if (registers.length !== group.count) {
    throw new RangeError(`registers must hold the group's ${group.count} values, got ${registers.length}`);
  }
  return group.entries.map((entry) => {
    const offset = entry.register - group.start;
    const raw = decodeValue(registers.slice(offset, offset + WIDTH[entry.type]), entry.type, entry.order);
    return { name: entry.name, value: applyScale(raw, entry.scale ?? 1), unit: entry.unit };
  });
}

/** Encodes readings into the register image a simulator serves; entries without a value are left out. */
export function encodeReadings(map: RegisterMap, values: Readonly<Record<string, number>>): RegisterImage {
  const image: RegisterImage = { holding: new Map(), input: new Map() };
  const byName = new Map(map.map((e) => [e.name, e]));
  for (const name of Object.keys(values)) {
    if (!byName.has(name)) throw new RangeError(`values.${name} is not in the register map`);
  }
  for (const entry of map) {
    const value = values[entry.name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`values.${entry.name} must be a number`);
    const scale = entry.scale ?? 1;
    const isInteger = !entry.type.startsWith('float');
    // Integer registers hold value/scale rounded; floats keep the fraction the scale leaves.
    const raw = isInteger ? Math.round(unscale(value, scale)) : unscale(value, scale);
    let words: number[];
    try {
      words = encodeValue(raw, entry.type, entry.order);
    } catch {
      throw new RangeError(`values.${entry.name} (${value}) does not fit ${entry.type} at register ${entry.register}`);
    }
    const bank = entry.function === 3 ? image.holding : image.input;
    words.forEach((word, i) => bank.set(entry.register + i, word));
  }
  return image;
}

/** Checks a user-supplied register map; messages name the offending field. */
export function validateRegisterMap(
  input: unknown,
  path = 'registers',
): { ok: true; map: RegisterMapEntry[] } | { ok: false; errors: string[] } {
  if (!Array.isArray(input)) return { ok: false, errors: [`${path} must be an array`] };
  if (input.length === 0) return { ok: false, errors: [`${path} must hold at least one entry`] };
  const errors: string[] = [];
  const map: RegisterMapEntry[] = [];
  const seen = new Map<string, number>();
  const known = new Set(['name', 'register', 'type', 'order', 'unit', 'scale', 'function']);
  input.forEach((raw: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      errors.push(`${at} must be an object`);
      return;
    }
    const e = raw as Record<string, unknown>;
    const before = errors.length;
    // Unknown keys are usually typos ("adress", "byteOrder") that would silently fall back to defaults.
    for (const key of Object.keys(e)) if (!known.has(key)) errors.push(`${at}.${key} is not a known field (${[...known].join(', ')})`);
    if (typeof e.name !== 'string' || e.name.trim() === '') {
      errors.push(`${at}.name must be a non-empty string`);
    } else if (seen.has(e.name)) {
      errors.push(`${at}.name "${e.name}" is already used by ${path}[${seen.get(e.name)}]`);
    } else {
      seen.set(e.name, i);
    }
    const typeOk = typeof e.type === 'string' && (REGISTER_TYPES as readonly string[]).includes(e.type);
    if (!typeOk) errors.push(`${at}.type must be one of ${REGISTER_TYPES.join(', ')}`);
    if (!Number.isInteger(e.register) || (e.register as number) < 0 || (e.register as number) > 0xffff) {
      errors.push(`${at}.register must be an integer 0–65535`);
    } else if (typeOk && (e.register as number) + WIDTH[e.type as RegisterType] > 0x10000) {
      errors.push(`${at}.register leaves no room for a ${String(e.type)} before register 65535`);
    }
    if (e.order !== undefined && !(BYTE_ORDERS as readonly unknown[]).includes(e.order)) {
      errors.push(`${at}.order must be one of ${BYTE_ORDERS.join(', ')}`);
    }
    if (e.function !== 3 && e.function !== 4) errors.push(`${at}.function must be 3 (holding) or 4 (input)`);
    if (e.unit !== undefined && typeof e.unit !== 'string') errors.push(`${at}.unit, when provided, must be a string`);
    if (e.scale !== undefined && (typeof e.scale !== 'number' || !Number.isFinite(e.scale) || e.scale === 0)) {
      errors.push(`${at}.scale, when provided, must be a finite non-zero number`);
    }
    if (errors.length !== before) return;
    const entry: RegisterMapEntry = {
      name: e.name as string,
      register: e.register as number,
      type: e.type as RegisterType,
      order: (e.order as ByteOrder | undefined) ?? 'ABCD',
      unit: (e.unit as string | undefined) ?? '',
      function: e.function as ReadFunction,
    };
    if (e.scale !== undefined) entry.scale = e.scale as number;
    map.push(entry);
  });
  return errors.length ? { ok: false, errors } : { ok: true, map };
}

// Scales like 0.1 or 0.01 aren't exact in binary, so 2301 * 0.1 gives 230.10000000000002;
// dividing by the exact integer 10 gives the 230.1 a person expects.
function applyScale(raw: number, scale: number): number {
  if (scale === 1) return raw;
  const inverse = Math.round(1 / scale);
  return Math.abs(1 / scale - inverse) < 1e-9 ? raw / inverse : raw * scale;
}

function unscale(value: number, scale: number): number {
  if (scale === 1) return value;
  const inverse = Math.round(1 / scale);
  return Math.abs(1 / scale - inverse) < 1e-9 ? value * inverse : value / scale;
}

function checkFits(value: number, min: number, max: number, type: RegisterType): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`value must be an integer ${min}–${max} for ${type}, got ${value}`);
  }
  return value;
}

const swapsWords = (order: ByteOrder): boolean => order === 'CDAB' || order === 'DCBA';
const swapsBytes = (order: ByteOrder): boolean => order === 'BADC' || order === 'DCBA';

function wordsToBigEndian(words: readonly number[], order: ByteOrder): Uint8Array {
  const ordered = swapsWords(order) ? [...words].reverse() : words;
  const bytes = new Uint8Array(ordered.length * 2);
  ordered.forEach((word, i) => {
    const hi = (word >> 8) & 0xff;
    const lo = word & 0xff;
    bytes[2 * i] = swapsBytes(order) ? lo : hi;
    bytes[2 * i + 1] = swapsBytes(order) ? hi : lo;
  });
  return bytes;
}

function bigEndianToWords(bytes: Uint8Array, order: ByteOrder): number[] {
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    words.push(swapsBytes(order) ? (bytes[i + 1]! << 8) | bytes[i]! : (bytes[i]! << 8) | bytes[i + 1]!);
  }
  return swapsWords(order) ? words.reverse() : words;
}
