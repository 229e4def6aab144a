// Reading the children of a complete EBML master element, and writing elements. Both are pure
// functions over bytes; the streaming reader (video/mkv/stream-reader.ts) uses them once it holds
// a whole element.

import { EbmlError } from './errors.js';
import { encodeElementId, encodeVint, readElementId, readElementSize } from './vint.js';

/** One child of a master element: its id and where its payload lies in the parent's bytes. */
export interface EbmlChild {
  id: number;
  /** Offset of the child's id within the bytes iterated. */
  offset: number;
  /** Offset of the child's payload within the bytes iterated. */
  payloadOffset: number;
  payload: Uint8Array;
}

/** The children of `bytes` (a master element's payload), in order; throws EbmlError on damage. */
export function* children(bytes: Uint8Array): Generator<EbmlChild> {
  let offset = 0;
  while (offset < bytes.length) {
    const id = readElementId(bytes, offset);
    const size = id && readElementSize(bytes, offset + id.length);
    if (!id || !size) throw new EbmlError('element header cut off by the end of its parent', offset);
    if (size.value === null) throw new EbmlError('element of unknown size inside a sized parent', offset);
    const start = offset + id.length + size.length;
    const end = start + size.value;
    if (end > bytes.length) throw new EbmlError(`element of ${size.value} bytes overruns its parent`, offset);
    yield { id: id.value, offset, payloadOffset: start, payload: bytes.subarray(start, end) };
    offset = end;
  }
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** An element: id, size and the payload parts concatenated. */
export function element(id: number, ...payload: Uint8Array[]): Uint8Array {
  const body = concatBytes(payload);
  return concatBytes([encodeElementId(id), encodeVint(body.length), body]);
}

/** An unsigned integer element in the fewest bytes (at least one). */
export function uintElement(id: number, value: number | bigint): Uint8Array {
  let rest = BigInt(value);
  if (rest < 0n || rest >= 1n << 64n) throw new RangeError(`unsigned integer out of range: ${value}`);
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(rest & 0xffn));
    rest >>= 8n;
  } while (rest > 0n);
  return element(id, Uint8Array.from(bytes));
}

/** A float element as binary64. */
export function floatElement(id: number, value: number): Uint8Array {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setFloat64(0, value);
  return element(id, payload);
}

/** A string (UTF-8) element. */
export function stringElement(id: number, value: string): Uint8Array {
  return element(id, new TextEncoder().encode(value));
}
