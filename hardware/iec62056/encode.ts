// IEC 62056-21 mode C messages, for both the reader (sign-on, option select) and the simulated
// meter (identification, data block). Everything on this line is 7-bit ASCII sent as 7E1; the
// serial port supplies the parity, so these bytes carry none.

/** Start of text: opens a data block. */
export const STX = 0x02;
/** End of text: closes a data block; the BCC byte follows. */
export const ETX = 0x03;
/** Acknowledge: first byte of the option select message. */
export const ACK = 0x06;

/** Mode C baud rate characters '0'–'6' and the rates they select. */
export const BAUD_RATES: Readonly<Record<string, number>> = Object.freeze({
  '0': 300,
  '1': 600,
  '2': 1200,
  '3': 2400,
  '4': 4800,
  '5': 9600,
  '6': 19200,
});

/** The meter's identification message. */
export interface Identification {
  /** Three-letter manufacturer code (FLAG id); a lowercase third letter advertises 20 ms reaction time. */
  manufacturer: string;
  /** Rate the meter offers to switch to; must be one of BAUD_RATES. */
  baudRate: number;
  /** Model identification, up to 16 characters (enhanced `\W` escapes not counted). */
  ident: string;
}

/** The reader's acknowledgement / option select message. */
export interface OptionSelect {
  /** Rate to switch to, normally the one the meter offered. */
  baudRate: number;
  /** Data readout (Y = '0', the default) or programming mode (Y = '1'). */
  mode?: 'readout' | 'programming';
}

/** One value of a data set: `value*unit`. */
export interface EncodableValue {
  /** Written as given; pass a string to keep the meter's fixed width (`001234.567`). */
  value: number | string;
  unit?: string;
}

/** One data set: `code(value*unit)(…)`. */
export interface EncodableItem {
  code: string;
  values: readonly EncodableValue[];
}

/** Options of the data block encoder. */
export interface DataBlockOptions {
  /** Send a wrong BCC, to exercise the receiver's rejection path. */
  corruptBcc?: boolean;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** Builds the reader's sign-on request `/?<address>!\r\n`; an empty address asks any meter. */
export function encodeSignOn(address = ''): Uint8Array {
  // The standard allows up to 32 characters from 0-9, A-Z, a-z and space.
  if (!/^[0-9A-Za-z ]{0,32}$/.test(address)) {
    throw new RangeError('address must be at most 32 characters from 0-9, A-Z, a-z or space');
  }
  return ascii(`/?${address}!\r\n`);
}

/** Builds the meter's identification `/XXXZ<ident>\r\n` (for the simulator). */
export function encodeIdentification(identification: Identification): Uint8Array {
  if (!/^[A-Za-z]{3}$/.test(identification.manufacturer)) {
    throw new RangeError('identification.manufacturer must be three letters');
  }
  const baudChar = baudCharFor('identification.baudRate', identification.baudRate);
  const { ident } = identification;
  if (!/^[\x20-\x7e]+$/.test(ident) || /[/!]/.test(ident) || ident.replace(/\\./g, '').length > 16) {
    throw new RangeError('identification.ident must be 1–16 printable characters other than / and !');
  }
  return ascii(`/${identification.manufacturer}${baudChar}${ident}\r\n`);
}

/** Builds the reader's option select `ACK 0 Z Y CR LF`. */
export function encodeAck(select: OptionSelect): Uint8Array {
  const baudChar = baudCharFor('select.baudRate', select.baudRate);
  const mode = select.mode ?? 'readout';
  if (mode !== 'readout' && mode !== 'programming') throw new RangeError('select.mode must be readout or programming');
  return Uint8Array.of(ACK, 0x30, baudChar.charCodeAt(0), mode === 'readout' ? 0x30 : 0x31, 0x0d, 0x0a);
}

/** Formats one data set as a data line, e.g. `1.8.0(001234.567*kWh)`. */
export function encodeDataLine(item: EncodableItem): string {
  if (!/^[\x21-\x7e]+$/.test(item.code) || /[()!]/.test(item.code)) {
    throw new RangeError('item.code must be printable characters other than ( ) and !');
  }
  if (item.values.length === 0) throw new RangeError('item.values must hold at least one value');
  return (
    item.code +
    item.values
      .map(({ value, unit }, i) => {
        const text = `${value}${unit === undefined ? '' : `*${unit}`}`;
        if (!/^[\x20-\x7e]*$/.test(text) || /[()]/.test(text)) {
          throw new RangeError(`item.values[${i}] must be printable characters other than ( and )`);
        }
        return `(${text})`;
      })
      .join('')
  );
}

/** Builds a readout data block `STX <lines CRLF> ! CRLF ETX BCC` (for the simulator). */
export function encodeDataBlock(lines: readonly string[], options: DataBlockOptions = {}): Uint8Array {
  lines.forEach((line, i) => {
    if (!/^[\x20-\x7e]*$/.test(line)) throw new RangeError(`lines[${i}] must be printable ASCII without CR or LF`);
  });
  const body = ascii(lines.map((line) => `${line}\r\n`).join('') + '!\r\n');
  const block = new Uint8Array(body.length + 3);
  block[0] = STX;
  block.set(body, 1);
  block[body.length + 1] = ETX;
  let bcc = blockCheck(block.subarray(1, body.length + 2));
  // Any non-zero flip is wrong; 0x7f keeps the byte inside 7 bits as a 7E1 line would carry it.
  if (options.corruptBcc) bcc ^= 0x7f;
  block[body.length + 2] = bcc;
  return block;
}

/** XOR of the bytes after STX up to and including ETX. */
export function blockCheck(bytes: Uint8Array): number {
  let bcc = 0;
  for (const byte of bytes) bcc ^= byte;
  return bcc;
}

function baudCharFor(field: string, baudRate: number): string {
  for (const [char, rate] of Object.entries(BAUD_RATES)) if (rate === baudRate) return char;
  throw new RangeError(`${field} must be one of ${Object.values(BAUD_RATES).join(', ')}`);
}
