// EBML variable-length integers: the count of leading zero bits in the first byte gives the
// length (1–8 bytes); element ids keep that marker bit, element sizes drop it, and a size whose
// value bits are all ones means "unknown" (live streams write Segments and Clusters that way).

import { EbmlError } from './errors.js';

/** The 8-byte "unknown size" field that streaming muxers write: 01 FF FF FF FF FF FF FF. */
export const UNKNOWN_SIZE = Uint8Array.of(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/** A decoded variable-length integer and how many bytes it took. */
export interface Vint {
  /** Value bits (marker removed); exact up to 2^53, which covers every size Rivulet accepts. */
  value: number;
  length: number;
}

/** Length of the vint starting with `first`, from its leading zero bits; 0 when invalid (0x00). */
export function vintLength(first: number): number {
  return first === 0 ? 0 : Math.clz32(first) - 23;
}

/** Reads an element size at `offset`: undefined when `bytes` ends first, `value` null for unknown size. */
export function readElementSize(bytes: Uint8Array, offset: number): { value: number | null; length: number } | undefined {
  if (offset >= bytes.length) return undefined;
  const length = vintLength(bytes[offset]!);
  if (length === 0) throw new EbmlError('invalid element size (first byte 0x00)', offset);
  if (offset + length > bytes.length) return undefined;
  let value = bytes[offset]! & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const byte = bytes[offset + i]!;
    value = value * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { value: allOnes ? null : value, length };
}

/** Reads a vint as a plain number (marker removed), e.g. a block's track number; undefined when `bytes` ends first. */
export function readVint(bytes: Uint8Array, offset: number): Vint | undefined {
  const size = readElementSize(bytes, offset);
  if (size === undefined) return undefined;
  if (size.value === null) throw new EbmlError('reserved all-ones value where a number was expected', offset);
  return { value: size.value, length: size.length };
}

/** Reads an element id at `offset` (marker kept, at most 4 bytes); undefined when `bytes` ends first. */
export function readElementId(bytes: Uint8Array, offset: number): Vint | undefined {
  if (offset >= bytes.length) return undefined;
  const length = vintLength(bytes[offset]!);
  if (length === 0 || length > 4) {
    throw new EbmlError(`invalid element id (first byte 0x${bytes[offset]!.toString(16).padStart(2, '0')})`, offset);
  }
  if (offset + length > bytes.length) return undefined;
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + bytes[offset + i]!;
  return { value, length };
}

/** Encodes a size or number as a vint, in `length` bytes or the fewest that hold it. */
export function encodeVint(value: number, length?: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`vint value must be a non-negative safe integer, got ${value}`);
  let fewest = 1;
  // All ones is reserved (unknown size), so a length holds values up to 2^(7n) - 2.
  while (fewest < 8 && value >= 2 ** (7 * fewest) - 1) fewest++;
  if (value >= 2 ** 56 - 1) throw new RangeError(`vint value ${value} does not fit in 8 bytes`);
  const n = length ?? fewest;
  if (!Number.isInteger(n) || n < fewest || n > 8) throw new RangeError(`vint value ${value} does not fit in ${n} bytes`);
  const out = new Uint8Array(n);
  let rest = value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  out[0]! |= 0x80 >> (n - 1);
  return out;
}

/** Encodes an element id (given with its marker bits, as in MkvId) in its 1–4 bytes. */
export function encodeElementId(id: number): Uint8Array {
  const length = id >= 0x1000000 ? 4 : id >= 0x10000 ? 3 : id >= 0x100 ? 2 : 1;
  if (!Number.isInteger(id) || id <= 0 || id > 0xffffffff || vintLength(id >>> (8 * (length - 1))) !== length) {
    throw new RangeError(`not a valid EBML element id: 0x${id.toString(16)}`);
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (id >>> (8 * (length - 1 - i))) & 0xff;
  return out;
}
