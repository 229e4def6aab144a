// Sensors that print one reading per text line (microcontroller boards, weather stations, lab
// instruments): a framer that cuts the byte stream into lines, and parsers for the three line
// shapes they use — JSON objects, CSV with a known column list, and `key=value` pairs. The format
// comes from configuration; bad lines become typed results, never exceptions.

/** One value of a reading. */
export type LineValue = number | string | boolean | null;

/** A parsed reading: field name → value. */
export type LineValues = Record<string, LineValue>;

/** How a sensor's lines are written, from configuration. */
export type LineFormat =
  | { kind: 'json' }
  | { kind: 'csv'; columns: readonly string[]; delimiter?: string }
  | { kind: 'keyValue' };

/** Why a line was rejected. `header` is a CSV line repeating the column names, as boards print at boot. */
export type LineRejectReason = 'malformed' | 'notObject' | 'invalidValue' | 'columnCount' | 'header';

/** The outcome of parsing one line. */
export type LineParseResult =
  | { ok: true; values: LineValues }
  | { ok: false; reason: LineRejectReason; detail: string; line: string };

// ---- framing ------------------------------------------------------------------------------------

/** Options for {@link LineFramer}. */
export interface LineFramerOptions {
  /** Longest accepted line in bytes, without its line ending; 1024 unless given. */
  maxLineLength?: number;
}

/** What a {@link LineFramer} has seen, for health reporting. */
export interface LineFramerStats {
  /** Lines handed out (empty lines are skipped, not counted). */
  lines: number;
  /** Bytes thrown away, line endings aside: over-long lines and lines that are not UTF-8. */
  droppedBytes: number;
  overlongLines: number;
  /** Lines dropped because they are not valid UTF-8 (usually a wrong baud rate). */
  invalidEncoding: number;
}

const CR = 0x0d;
const LF = 0x0a;

/** Cuts a byte stream, in chunks of any size, into text lines ending in LF or CR LF. */
export class LineFramer {
  readonly stats: LineFramerStats = { lines: 0, droppedBytes: 0, overlongLines: 0, invalidEncoding: 0 };
  private readonly max: number;
  private readonly buffer: Uint8Array;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private length = 0;
  private discarding = false;

  constructor(options: LineFramerOptions = {}) {
    const max = options.maxLineLength ?? 1024;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('options.maxLineLength must be a positive integer.');
    this.max = max;
    // One spare byte holds the CR of a CR LF ending after a line of exactly `max` bytes.
    this.buffer = new Uint8Array(max + 1);
  }

  /** Feeds a chunk; returns the lines it completed, without line endings, oldest first. */
  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    for (const byte of chunk) {
      if (byte === LF) {
        // An over-long line is dropped up to its end: the next line starts clean.
        if (this.discarding) this.discarding = false;
        else this.emit(out, true);
      } else if (this.discarding) {
        this.stats.droppedBytes++;
      } else if (this.length > this.max || (this.length === this.max && byte !== CR)) {
        this.stats.overlongLines++;
        this.stats.droppedBytes += this.length + 1;
        this.length = 0;
        this.discarding = true;
      } else {
        this.buffer[this.length++] = byte;
      }
    }
    return out;
  }

  /** At end of input (a replayed file), returns the last line if it had no line ending. */
  end(): string[] {
    const out: string[] = [];
    if (!this.discarding) this.emit(out, false);
    this.discarding = false;
    this.length = 0;
    return out;
  }

  private emit(out: string[], terminated: boolean): void {
    let end = this.length;
    if (terminated && end > 0 && this.buffer[end - 1] === CR) end--;
    const bytes = this.buffer.subarray(0, end);
    this.length = 0;
    if (end > this.max) {
      // Only reachable from end(): a line of max bytes plus a CR that no LF followed.
      this.stats.overlongLines++;
      this.stats.droppedBytes += end;
      return;
    }
    if (end === 0) return;
    try {
      out.push(this.decoder.decode(bytes));
      this.stats.lines++;
    } catch {
      this.stats.invalidEncoding++;
      this.stats.droppedBytes += end;
    }
  }
}

// ---- parsing ------------------------------------------------------------------------------------

/** Checks a line format from configuration, with messages naming the field; throws TypeError. */
export function checkLineFormat(format: unknown): LineFormat {
  if (typeof format !== 'object' || format === null) throw new TypeError('format must be an object.');
  const { kind, columns, delimiter } = format as { kind?: unknown; columns?: unknown; delimiter?: unknown };
  if (kind === 'json' || kind === 'keyValue') return { kind };
  if (kind !== 'csv') throw new TypeError("format.kind must be 'json', 'csv' or 'keyValue'.");
  if (
    !Array.isArray(columns) ||
    columns.length === 0 ||
    !columns.every((column) => typeof column === 'string' && column !== '') ||
    new Set(columns).size !== columns.length
  ) {
    throw new TypeError('format.columns must be a non-empty array of distinct, non-empty strings.');
  }
  if (delimiter !== undefined && (typeof delimiter !== 'string' || delimiter.length !== 1 || /["\r\n]/.test(delimiter))) {
    throw new TypeError('format.delimiter, when provided, must be one character other than a quote or line break.');
  }
  return delimiter === undefined ? { kind, columns: [...columns] } : { kind, columns: [...columns], delimiter };
}

/** Parses one line in the configured format. */
export function parseLine(line: string, format: LineFormat): LineParseResult {
  switch (format.kind) {
    case 'json':
      return parseJsonLine(line);
    case 'csv':
      return parseCsvLine(line, format.columns, format.delimiter);
    case 'keyValue':
      return parseKeyValueLine(line);
    default:
      throw new TypeError("format.kind must be 'json', 'csv' or 'keyValue'.");
  }
}

/** Parses a JSON object whose values are numbers, strings, booleans or null. */
export function parseJsonLine(line: string): LineParseResult {
  const reject = (reason: LineRejectReason, detail: string): LineParseResult => ({ ok: false, reason, detail, line });
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return reject('malformed', `not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return reject('notObject', `JSON ${parsed === null ? 'null' : Array.isArray(parsed) ? 'array' : typeof parsed} is not an object`);
  }
  const entries = Object.entries(parsed);
  for (const [key, value] of entries) {
    if (typeof value === 'object' && value !== null) {
      return reject('invalidValue', `field '${key}' is ${Array.isArray(value) ? 'an array' : 'an object'}; values must be numbers, strings, booleans or null`);
    }
  }
  // fromEntries defines own properties, so a key named __proto__ stays a plain field.
  return { ok: true, values: Object.fromEntries(entries) as LineValues };
}

/** Parses a CSV line against a column list: numbers become numbers, empty fields null, quoted fields stay text. */
export function parseCsvLine(line: string, columns: readonly string[], delimiter = ','): LineParseResult {
  const reject = (reason: LineRejectReason, detail: string): LineParseResult => ({ ok: false, reason, detail, line });
  const fields: { text: string; quoted: boolean }[] = [];
  let at = 0;
  for (;;) {
    while (line[at] === ' ' || line[at] === '\t') at++;
    if (line[at] === '"') {
      let text = '';
      at++;
      for (;;) {
        if (at >= line.length) return reject('malformed', `field ${fields.length + 1}: quote is not closed`);
        if (line[at] === '"') {
          if (line[at + 1] === '"') {
            text += '"';
            at += 2;
            continue;
          }
          at++;
          break;
        }
        text += line[at++];
      }
      while (line[at] === ' ' || line[at] === '\t') at++;
      if (at < line.length && line[at] !== delimiter) return reject('malformed', `field ${fields.length + 1}: text after the closing quote`);
      fields.push({ text, quoted: true });
    } else {
      const next = line.indexOf(delimiter, at);
      const text = line.slice(at, next < 0 ? line.length : next).trim();
      if (text.includes('"')) return reject('malformed', `field ${fields.length + 1}: quote inside an unquoted field`);
      fields.push({ text, quoted: false });
      at = next < 0 ? line.length : next;
    }
    if (at >= line.length) break;
    at++; // the delimiter
  }
  if (fields.length !== columns.length) {
    return reject('columnCount', `expected ${columns.length} columns (${columns.join(', ')}), got ${fields.length}`);
  }
  if (fields.every((field, i) => field.text === columns[i])) return reject('header', 'line repeats the column names');
  return { ok: true, values: Object.fromEntries(columns.map((column, i) => [column, fieldValue(fields[i]!.text, fields[i]!.quoted)])) };
}

/** Parses `key=value` pairs separated by spaces or commas; values may be double-quoted to hold either. */
export function parseKeyValueLine(line: string): LineParseResult {
  const reject = (reason: LineRejectReason, detail: string): LineParseResult => ({ ok: false, reason, detail, line });
  const entries: [string, LineValue][] = [];
  const seen = new Set<string>();
  let at = 0;
  for (;;) {
    while (at < line.length && /[\s,]/.test(line[at]!)) at++;
    if (at >= line.length) break;
    const keyMatch = /^[^\s,="]+/.exec(line.slice(at));
    if (!keyMatch) return reject('malformed', `position ${at + 1}: expected a key`);
    const key = keyMatch[0];
    at += key.length;
    if (line[at] !== '=') return reject('malformed', `key '${key}' has no '=value'`);
    at++;
    let value: LineValue;
    if (line[at] === '"') {
      let text = '';
      at++;
      for (;;) {
        if (at >= line.length) return reject('malformed', `key '${key}': quote is not closed`);
        const char = line[at]!;
        if (char === '\\' && (line[at + 1] === '"' || line[at + 1] === '\\')) {
          text += line[at + 1];
          at += 2;
        } else if (char === '"') {
          at++;
          break;
        } else {
          text += char;
          at++;
        }
      }
      if (at < line.length && !/[\s,]/.test(line[at]!)) return reject('malformed', `key '${key}': text after the closing quote`);
      value = text;
    } else {
      const text = /^[^\s,]*/.exec(line.slice(at))![0];
      if (text.includes('"') || text.includes('=')) return reject('malformed', `key '${key}': value '${text}' needs quotes`);
      at += text.length;
      value = fieldValue(text, false);
    }
    if (seen.has(key)) return reject('invalidValue', `key '${key}' appears more than once`);
    seen.add(key);
    entries.push([key, value]);
  }
  if (entries.length === 0) return reject('malformed', 'line has no key=value pairs');
  return { ok: true, values: Object.fromEntries(entries) };
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function fieldValue(text: string, quoted: boolean): LineValue {
  if (quoted) return text;
  if (text === '') return null;
  return NUMBER.test(text) ? Number(text) : text;
}
