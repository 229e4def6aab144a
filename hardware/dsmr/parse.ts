// DSMR P1 smart meter telegrams (Dutch Smart Meter Requirements 2.2 to 5.0, also the Belgian and
// Luxembourg variants): a framer that finds telegrams in the serial byte stream and checks their
// CRC, and a parser that turns one telegram into named values in fixed units. Pure: the I/O
// layer feeds bytes and calls `expire` on a timer.

import { crc16Arc } from '../crc16.js';

// ---- framing ------------------------------------------------------------------------------------

/** Options for {@link DsmrFramer}. */
export interface DsmrFramerOptions {
  /** A frame growing past this many bytes is abandoned; 16 KiB unless given (telegrams are ~1 KiB). */
  maxFrameBytes?: number;
  /** `expire(now)` abandons a frame begun this long ago; 5000 ms unless given. */
  frameTimeoutMs?: number;
  /** Count telegrams without a CRC (DSMR 2.2/3 style) as CRC errors; false unless given. */
  requireCrc?: boolean;
  /** Clear bit 7 of every byte: a 7E1 meter read by a port set to 8N1 delivers its parity bit there. */
  sevenBit?: boolean;
}

/** What a {@link DsmrFramer} has seen, for health reporting. */
export interface DsmrFramerStats {
  /** Telegrams handed out (CRC correct, or no CRC and none required). */
  telegrams: number;
  /** Complete telegrams dropped because the CRC did not match (or was missing and required). */
  crcErrors: number;
  /** Bytes thrown away outside any frame, while looking for `/`. */
  droppedBytes: number;
  /**
   * Frames given up: too long, timed out, cut short by a new `/`, with a broken `!` line, or cut
   * off inside a value and found (by its CRC) to have swallowed the start of the next telegram.
   */
  abandonedFrames: number;
}

/** One complete telegram as it came off the wire. */
export interface DsmrFrame {
  /** The bytes from `/` to the final LF inclusive, one character per byte. */
  telegram: string;
  /** The CRC it carried (already verified), or null for a DSMR 2.2/3 telegram without one. */
  crc: number | null;
}

const SLASH = 0x2f;
const BANG = 0x21;
const OPEN = 0x28;
const CLOSE = 0x29;
const CR = 0x0d;
const LF = 0x0a;

type FramerState = 'idle' | 'body' | 'crc' | 'lf';

/** Finds telegrams in a serial byte stream fed in chunks of any size, verifying their CRC. */
export class DsmrFramer {
  readonly stats: DsmrFramerStats = { telegrams: 0, crcErrors: 0, droppedBytes: 0, abandonedFrames: 0 };
  private readonly buffer: Uint8Array;
  private readonly timeoutMs: number;
  private readonly requireCrc: boolean;
  private readonly mask: number;
  private state: FramerState = 'idle';
  private length = 0;
  private inParens = false;
  private lineStart = false;
  private inIdentLine = false;
  /** Offsets of `/` bytes inside the frame that may be where the telegram really began. */
  private restarts: number[] = [];
  private bang = 0;
  private crcDigits = 0;
  private startedAt: number | undefined;

  constructor(options: DsmrFramerOptions = {}) {
    const maxFrameBytes = options.maxFrameBytes ?? 16 * 1024;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 16) throw new RangeError('options.maxFrameBytes must be an integer of at least 16.');
    const timeoutMs = options.frameTimeoutMs ?? 5000;
    if (!(timeoutMs > 0)) throw new RangeError('options.frameTimeoutMs must be a positive number.');
    this.buffer = new Uint8Array(maxFrameBytes);
    this.timeoutMs = timeoutMs;
    this.requireCrc = options.requireCrc ?? false;
    this.mask = options.sevenBit ? 0x7f : 0xff;
  }

  /** True while a frame has begun and not yet completed. */
  get inFrame(): boolean {
    return this.state !== 'idle';
  }

  /**
   * Feeds a chunk and returns the telegrams it completed. With `nowMs` (any monotonic clock), a
   * frame older than the timeout is abandoned first and new frames remember their start time.
   */
  push(chunk: Uint8Array, nowMs?: number): DsmrFrame[] {
    if (nowMs !== undefined) this.expire(nowMs);
    const out: DsmrFrame[] = [];
    for (const raw of chunk) {
      const byte = raw & this.mask;
      switch (this.state) {
        case 'idle':
          if (byte === SLASH) this.begin(nowMs);
          else this.stats.droppedBytes++;
          break;
        case 'body':
          if (byte === SLASH) {
            // Outside parentheses, past the identification line, `/` can only be the next
            // telegram: this one lost its end. Inside parentheses it is text (DSMR 2.2/3 plain
            // messages), or the next telegram after a cut inside a value — the CRC decides later.
            if (!this.inParens && !this.inIdentLine) {
              this.abandon();
              this.begin(nowMs);
              break;
            }
            this.restarts.push(this.length);
          }
          if (!this.append(byte)) break;
          if (byte === BANG && this.lineStart && !this.inParens) {
            this.bang = this.length - 1;
            this.crcDigits = 0;
            this.state = 'crc';
          } else if (byte === OPEN) this.inParens = true;
          else if (byte === CLOSE) this.inParens = false;
          if (byte === LF) {
            this.inParens = false;
            this.lineStart = true;
            this.inIdentLine = false;
          } else if (byte !== CR) this.lineStart = false;
          break;
        case 'crc': {
          const isHex = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
          if (isHex && this.crcDigits < 4) {
            if (this.append(byte)) this.crcDigits++;
          } else if ((byte === CR || byte === LF) && (this.crcDigits === 0 || this.crcDigits === 4)) {
            if (!this.append(byte)) break;
            if (byte === CR) this.state = 'lf';
            else this.complete(out);
          } else this.restartOn(byte, nowMs);
          break;
        }
        case 'lf':
          if (byte === LF) {
            if (this.append(byte)) this.complete(out);
          } else this.restartOn(byte, nowMs);
          break;
      }
    }
    return out;
  }

  /**
   * Abandons the frame in progress: without `nowMs` unconditionally (the caller saw the line go
   * quiet), with it only once the frame is older than the timeout. Returns whether one was abandoned.
   */
  expire(nowMs?: number): boolean {
    if (this.state === 'idle') return false;
    if (nowMs !== undefined && (this.startedAt === undefined || nowMs - this.startedAt < this.timeoutMs)) return false;
    this.abandon();
    return true;
  }

  private begin(nowMs: number | undefined): void {
    this.state = 'body';
    this.buffer[0] = SLASH;
    this.length = 1;
    this.inParens = false;
    this.lineStart = false;
    this.inIdentLine = true;
    this.restarts = [];
    this.startedAt = nowMs;
  }

  private append(byte: number): boolean {
    if (this.length === this.buffer.length) {
      this.abandon();
      return false;
    }
    this.buffer[this.length++] = byte;
    return true;
  }

  private abandon(): void {
    this.stats.abandonedFrames++;
    this.state = 'idle';
    this.length = 0;
  }

  // A broken `!` line ends the frame; the byte that broke it may start the next one.
  private restartOn(byte: number, nowMs: number | undefined): void {
    this.abandon();
    if (byte === SLASH) this.begin(nowMs);
    else this.stats.droppedBytes++;
  }

  private complete(out: DsmrFrame[]): void {
    const frame = this.buffer.subarray(0, this.length);
    this.state = 'idle';
    this.length = 0;
    let start = 0;
    let crc: number | null = null;
    if (this.crcDigits === 4) {
      crc = parseInt(latin1(frame.subarray(this.bang + 1, this.bang + 5)), 16);
      if (crc !== crc16Arc(frame.subarray(0, this.bang + 1))) {
        // Perhaps a telegram cut off inside a value swallowed the next one's `/`: try the CRC from
        // each inner `/`. A false match is a 1 in 65536 chance per candidate.
        const found = this.restarts.find((offset) => crc16Arc(frame.subarray(offset, this.bang + 1)) === crc);
        if (found === undefined) {
          this.stats.crcErrors++;
          return;
        }
        this.stats.abandonedFrames++;
        start = found;
      }
    } else if (this.requireCrc) {
      this.stats.crcErrors++;
      return;
    }
    this.stats.telegrams++;
    out.push({ telegram: latin1(frame.subarray(start)), crc });
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

// ---- telegram parsing ---------------------------------------------------------------------------

/** The values a telegram can carry, each in the unit its name ends with. */
export interface DsmrValues {
  /** P1 version, as sent: `42`, `50`. */
  version?: string;
  /** ISO 8601 with the Dutch offset: `2023-11-22T10:15:00+01:00`. */
  timestamp?: string;
  equipmentId?: string;
  /** Electricity delivered to the client (imported), per tariff. */
  energyDeliveredTariff1Kwh?: number;
  energyDeliveredTariff2Kwh?: number;
  /** Electricity delivered by the client (exported), per tariff. */
  energyReturnedTariff1Kwh?: number;
  energyReturnedTariff2Kwh?: number;
  /** Tariff in force: 1 (low) or 2 (normal) in NL. */
  tariff?: number;
  powerDeliveredKw?: number;
  powerReturnedKw?: number;
  powerFailures?: number;
  longPowerFailures?: number;
  voltageSagsL1?: number;
  voltageSagsL2?: number;
  voltageSagsL3?: number;
  voltageSwellsL1?: number;
  voltageSwellsL2?: number;
  voltageSwellsL3?: number;
  textMessage?: string;
  voltageL1V?: number;
  voltageL2V?: number;
  voltageL3V?: number;
  currentL1A?: number;
  currentL2A?: number;
  currentL3A?: number;
  powerDeliveredL1Kw?: number;
  powerDeliveredL2Kw?: number;
  powerDeliveredL3Kw?: number;
  powerReturnedL1Kw?: number;
  powerReturnedL2Kw?: number;
  powerReturnedL3Kw?: number;
  /** M-Bus channel (1-4) the gas meter is on. */
  gasChannel?: number;
  /** M-Bus device type of that channel (3 = gas). */
  gasDeviceType?: number;
  gasEquipmentId?: string;
  /** When the gas meter took its reading (it reports hourly or every 5 minutes, not per telegram). */
  gasTimestamp?: string;
  gasDeliveredM3?: number;
}

/** One parsed telegram. */
export interface DsmrReading extends DsmrValues {
  /** From the identification line `/XXXZIdent`: the three-letter manufacturer code … */
  manufacturer: string;
  /** … the IEC 62056-21 baud rate character … */
  baudRateId: string;
  /** … and the rest of the line. */
  ident: string;
  /** Lines whose OBIS code has no field here (or whose value failed to parse): code → raw values. */
  unknown: Record<string, string[]>;
  /** Lines that could not be understood, naming the code and field; their raw values are in `unknown`. */
  problems: string[];
  /** The CRC the telegram carried, or null (DSMR 2.2/3). */
  crc: number | null;
}

/** Options for {@link parseTelegram}. */
export interface DsmrParseOptions {
  /** Check the CRC when the telegram carries one; true unless given. */
  verifyCrc?: boolean;
}

/** The outcome of parsing one telegram. */
export type DsmrParseResult =
  | { ok: true; reading: DsmrReading }
  | { ok: false; reason: 'crc' | 'malformed'; detail: string };

type NumberField = { [K in keyof DsmrValues]-?: NonNullable<DsmrValues[K]> extends number ? K : never }[keyof DsmrValues];
type StringField = { [K in keyof DsmrValues]-?: NonNullable<DsmrValues[K]> extends string ? K : never }[keyof DsmrValues];

/** How a known OBIS line maps to a field; `digits` is the zero-padded width meters write. */
export type ObisSpec =
  | { code: string; field: NumberField; kind: 'quantity'; unit: 'kWh' | 'kW' | 'V' | 'A'; digits: [number, number] }
  | { code: string; field: NumberField; kind: 'count'; digits: number }
  | { code: string; field: StringField; kind: 'timestamp' | 'hexText' | 'text' };

/** Electricity lines in the order DSMR 5 meters send them (the encoder writes this order). */
export const OBIS_FIELDS: readonly ObisSpec[] = [
  { code: '1-3:0.2.8', field: 'version', kind: 'text' },
  { code: '0-0:1.0.0', field: 'timestamp', kind: 'timestamp' },
  { code: '0-0:96.1.1', field: 'equipmentId', kind: 'hexText' },
  { code: '1-0:1.8.1', field: 'energyDeliveredTariff1Kwh', kind: 'quantity', unit: 'kWh', digits: [6, 3] },
  { code: '1-0:1.8.2', field: 'energyDeliveredTariff2Kwh', kind: 'quantity', unit: 'kWh', digits: [6, 3] },
  { code: '1-0:2.8.1', field: 'energyReturnedTariff1Kwh', kind: 'quantity', unit: 'kWh', digits: [6, 3] },
  { code: '1-0:2.8.2', field: 'energyReturnedTariff2Kwh', kind: 'quantity', unit: 'kWh', digits: [6, 3] },
  { code: '0-0:96.14.0', field: 'tariff', kind: 'count', digits: 4 },
  { code: '1-0:1.7.0', field: 'powerDeliveredKw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '1-0:2.7.0', field: 'powerReturnedKw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '0-0:96.7.21', field: 'powerFailures', kind: 'count', digits: 5 },
  { code: '0-0:96.7.9', field: 'longPowerFailures', kind: 'count', digits: 5 },
  { code: '1-0:32.32.0', field: 'voltageSagsL1', kind: 'count', digits: 5 },
  { code: '1-0:52.32.0', field: 'voltageSagsL2', kind: 'count', digits: 5 },
  { code: '1-0:72.32.0', field: 'voltageSagsL3', kind: 'count', digits: 5 },
  { code: '1-0:32.36.0', field: 'voltageSwellsL1', kind: 'count', digits: 5 },
  { code: '1-0:52.36.0', field: 'voltageSwellsL2', kind: 'count', digits: 5 },
  { code: '1-0:72.36.0', field: 'voltageSwellsL3', kind: 'count', digits: 5 },
  { code: '0-0:96.13.0', field: 'textMessage', kind: 'hexText' },
  { code: '1-0:32.7.0', field: 'voltageL1V', kind: 'quantity', unit: 'V', digits: [3, 1] },
  { code: '1-0:52.7.0', field: 'voltageL2V', kind: 'quantity', unit: 'V', digits: [3, 1] },
  { code: '1-0:72.7.0', field: 'voltageL3V', kind: 'quantity', unit: 'V', digits: [3, 1] },
  { code: '1-0:31.7.0', field: 'currentL1A', kind: 'quantity', unit: 'A', digits: [3, 0] },
  { code: '1-0:51.7.0', field: 'currentL2A', kind: 'quantity', unit: 'A', digits: [3, 0] },
  { code: '1-0:71.7.0', field: 'currentL3A', kind: 'quantity', unit: 'A', digits: [3, 0] },
  { code: '1-0:21.7.0', field: 'powerDeliveredL1Kw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '1-0:41.7.0', field: 'powerDeliveredL2Kw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '1-0:61.7.0', field: 'powerDeliveredL3Kw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '1-0:22.7.0', field: 'powerReturnedL1Kw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '1-0:42.7.0', field: 'powerReturnedL2Kw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
  { code: '1-0:62.7.0', field: 'powerReturnedL3Kw', kind: 'quantity', unit: 'kW', digits: [2, 3] },
];
const BY_CODE = new Map(OBIS_FIELDS.map((spec) => [spec.code, spec]));

/** M-Bus device type of a gas meter. */
const GAS_DEVICE_TYPE = 3;

class Invalid extends Error {}

interface Line {
  code: string;
  values: string[];
}

/** Parses one telegram (`/` … `!CRC`, as a DsmrFramer delivers it); never throws. */
export function parseTelegram(input: string | Uint8Array, options: DsmrParseOptions = {}): DsmrParseResult {
  const text = typeof input === 'string' ? input : latin1(input);
  const malformed = (detail: string): DsmrParseResult => ({ ok: false, reason: 'malformed', detail });
  if (!text.startsWith('/')) return malformed("telegram must start with '/'");

  const rawLines = text.split('\n');
  const lines = rawLines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  const end = lines.findIndex((line) => line.startsWith('!'));
  if (end < 0) return malformed("telegram has no end line starting with '!'");
  const endLine = /^!([0-9A-Fa-f]{4})?$/.exec(lines[end]!);
  if (!endLine) return malformed(`end line '${lines[end]}' must be '!' followed by four hex CRC digits or nothing`);
  const crc = endLine[1] === undefined ? null : parseInt(endLine[1], 16);
  if (crc !== null && options.verifyCrc !== false) {
    const bang = rawLines.slice(0, end).reduce((offset, line) => offset + line.length + 1, 0);
    const computed = crc16Arc(Buffer.from(text.slice(0, bang + 1), 'latin1'));
    if (computed !== crc) return { ok: false, reason: 'crc', detail: `CRC ${hex4(crc)} does not match computed ${hex4(computed)}` };
  }

  const identification = /^\/([A-Za-z]{3})(.)(.*)$/.exec(lines[0]!);
  if (!identification) return malformed(`identification line '${lines[0]}' must be '/XXXZ' followed by the meter ident`);

  const reading: DsmrReading = {
    manufacturer: identification[1]!,
    baudRateId: identification[2]!,
    ident: identification[3]!,
    unknown: {},
    problems: [],
    crc,
  };
  const problems = reading.problems;

  // Group lines: a line opening with `(` continues the one before (the DSMR 2.2/3 gas reading).
  const entries: Line[] = [];
  for (let i = 1; i < end; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const continuation = line.startsWith('(');
    const match = continuation ? /^((?:\([^()]*\))+)$/.exec(line) : /^(\d+-\d+:\d+\.\d+\.\d+(?:\*\d+)?)((?:\([^()]*\))+)$/.exec(line);
    if (!match || (continuation && entries.length === 0)) {
      problems.push(`line ${i + 1}: '${line}' is not an OBIS line`);
      continue;
    }
    const values = [...(continuation ? match[1]! : match[2]!).matchAll(/\(([^()]*)\)/g)].map((m) => m[1]!);
    if (continuation) entries[entries.length - 1]!.values.push(...values);
    else entries.push({ code: match[1]!, values });
  }
  for (let i = end + 1; i < lines.length; i++) {
    if (lines[i] !== '') problems.push(`line ${i + 1}: '${lines[i]}' follows the end line`);
  }

  const seen = new Set<string>();
  const channels = new Map<number, Line[]>();
  for (const entry of entries) {
    if (seen.has(entry.code)) problems.push(`${entry.code}: appears more than once`);
    seen.add(entry.code);
    const spec = BY_CODE.get(entry.code);
    const channel = /^0-([1-4]):/.exec(entry.code);
    if (spec) applyField(reading, spec, entry);
    else if (channel) {
      const n = Number(channel[1]);
      channels.set(n, [...(channels.get(n) ?? []), entry]);
    } else reading.unknown[entry.code] = entry.values;
  }
  applyGas(reading, channels);
  return { ok: true, reading };
}

function hex4(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}

function applyField(reading: DsmrReading, spec: ObisSpec, entry: Line): void {
  try {
    if (entry.values.length !== 1) throw new Invalid(`expected one value, got ${entry.values.length}`);
    const value = entry.values[0]!;
    switch (spec.kind) {
      case 'quantity':
        reading[spec.field] = quantity(value, spec.unit);
        break;
      case 'count':
        reading[spec.field] = count(value);
        break;
      case 'timestamp':
        reading[spec.field] = timestamp(value);
        break;
      case 'hexText':
        reading[spec.field] = hexText(value);
        break;
      case 'text':
        reading[spec.field] = value;
        break;
    }
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    reading.problems.push(`${entry.code} (${spec.field}): ${error.message}`);
    reading.unknown[entry.code] = entry.values;
  }
}

// The gas meter hangs off one of four M-Bus channels (usually 1, not always): the channel whose
// device type is 3 and that has a reading, else the first of type 3, else the first reading in m3.
// Lines of other channels (water, heat, a second gas meter) stay raw.
function applyGas(reading: DsmrReading, channels: Map<number, Line[]>): void {
  const numbers = [...channels.keys()].sort((a, b) => a - b);
  const find = (lines: Line[], suffix: string): Line | undefined => lines.find((line) => line.code.endsWith(suffix));
  const readingOf = (lines: Line[]): Line | undefined => find(lines, ':24.2.1') ?? find(lines, ':24.2.3') ?? find(lines, ':24.3.0');
  const isGas = (lines: Line[]): boolean => {
    const type = find(lines, ':24.1.0');
    return type !== undefined && type.values.length === 1 && /^\d+$/.test(type.values[0]!) && Number(type.values[0]) === GAS_DEVICE_TYPE;
  };
  const inM3 = (lines: Line[]): boolean => {
    const line = readingOf(lines);
    return line !== undefined && line.values.some((value) => /\*m3$/.test(value) || value === 'm3');
  };
  const gas =
    numbers.find((n) => isGas(channels.get(n)!) && readingOf(channels.get(n)!) !== undefined) ??
    numbers.find((n) => isGas(channels.get(n)!)) ??
    numbers.find((n) => inM3(channels.get(n)!));

  for (const n of numbers) {
    for (const entry of channels.get(n)!) {
      const item = entry.code.slice(4);
      const known = n === gas && ['24.1.0', '96.1.0', '24.2.1', '24.2.3', '24.3.0'].includes(item);
      if (!known) {
        reading.unknown[entry.code] = entry.values;
        continue;
      }
      reading.gasChannel = n;
      const field = item === '24.1.0' ? 'gasDeviceType' : item === '96.1.0' ? 'gasEquipmentId' : 'gasDeliveredM3';
      try {
        const values = entry.values;
        if (item === '24.1.0' || item === '96.1.0') {
          if (values.length !== 1) throw new Invalid(`expected one value, got ${values.length}`);
          if (item === '24.1.0') reading.gasDeviceType = count(values[0]!);
          else reading.gasEquipmentId = hexText(values[0]!);
        } else if (item === '24.3.0') {
          // DSMR 2.2/3: (time)(status)(period)(count)(value OBIS)(unit), value on the next line.
          if (values.length !== 7) throw new Invalid(`expected 7 values (the last on its own line), got ${values.length}`);
          if (values[5] !== 'm3') throw new Invalid(`unit '${values[5]}' is not m3`);
          const [time, value] = [timestamp(values[0]!), quantity(values[6]!, 'm3')];
          reading.gasTimestamp = time;
          reading.gasDeliveredM3 = value;
        } else {
          if (values.length !== 2) throw new Invalid(`expected a timestamp and a value, got ${values.length} values`);
          const [time, value] = [timestamp(values[0]!), quantity(values[1]!, 'm3')];
          reading.gasTimestamp = time;
          reading.gasDeliveredM3 = value;
        }
      } catch (error) {
        if (!(error instanceof Invalid)) throw error;
        reading.problems.push(`${entry.code} (${field}): ${error.message}`);
        reading.unknown[entry.code] = entry.values;
      }
    }
  }
}

// Some meters (Sagemcom T210-D in Luxembourg, EasyMeter) count in Wh and W: scale by moving the
// decimal point in the text, so 005017120*Wh becomes exactly 5017.12 and not 5017.120000000001.
const SCALED: Record<string, { base: string; shift: number } | undefined> = {
  Wh: { base: 'kWh', shift: 3 },
  W: { base: 'kW', shift: 3 },
};

function quantity(value: string, expected: 'kWh' | 'kW' | 'V' | 'A' | 'm3'): number {
  const match = /^(\d+)(?:\.(\d+))?(?:\*(.+))?$/.exec(value);
  if (!match) throw new Invalid(`'${value}' is not a number with an optional *unit`);
  const [, whole, fraction = '', unit] = match;
  if (unit === undefined || unit === expected) return Number(`${whole}.${fraction || '0'}`);
  const scaled = SCALED[unit];
  if (scaled?.base !== expected) throw new Invalid(`unit '${unit}' is not ${expected}`);
  const digits = (whole! + fraction).padStart(fraction.length + scaled.shift + 1, '0');
  const point = digits.length - fraction.length - scaled.shift;
  return Number(`${digits.slice(0, point)}.${digits.slice(point)}`);
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new Invalid(`'${value}' is not an unsigned integer`);
  return Number(value);
}

/** `YYMMDDhhmmssX` (X: S summer, W winter) or DSMR 2.2's flagless `YYMMDDhhmmss` → ISO with offset. */
function timestamp(value: string): string {
  const match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW])?$/.exec(value);
  if (!match) throw new Invalid(`'${value}' is not a YYMMDDhhmmssX timestamp`);
  const [, yy, mm, dd, hh, mi, ss, flag] = match;
  const year = 2000 + Number(yy);
  const month = Number(mm);
  const day = Number(dd);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59) {
    throw new Invalid(`'${value}' is not a valid date and time`);
  }
  const offset = flag === 'S' ? '+02:00' : flag === 'W' ? '+01:00' : centralEuropeanOffset(year, month, day, Number(hh));
  return `${year}-${mm}-${dd}T${hh}:${mi}:${ss}${offset}`;
}

// Without an S/W flag, apply the EU rule: summer time from 02:00 on the last Sunday of March to
// 03:00 on the last Sunday of October, local time. The repeated hour 02:00-02:59 in October reads
// as summer time; nothing in the telegram can tell the two apart.
function centralEuropeanOffset(year: number, month: number, day: number, hour: number): '+01:00' | '+02:00' {
  const local = Date.UTC(year, month - 1, day, hour);
  const start = Date.UTC(year, 2, lastSunday(year, 3), 2);
  const end = Date.UTC(year, 9, lastSunday(year, 10), 3);
  return local >= start && local < end ? '+02:00' : '+01:00';
}

function lastSunday(year: number, month: number): number {
  const last = new Date(Date.UTC(year, month, 0));
  return last.getUTCDate() - last.getUTCDay();
}

// DSMR 4/5 hex-encode ids and text messages; older meters may send them plain. Decode only what
// decodes to printable ASCII, so a plain numeric id is not turned into control characters.
function hexText(value: string): string {
  if (value.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(value)) return value;
  const text = Buffer.from(value, 'hex').toString('latin1');
  return /^[\x20-\x7e]*$/.test(text) ? text : value;
}
