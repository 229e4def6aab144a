// Decoding the payload of EBML elements by their type. Payloads are big-endian and may be
// shorter than the value's natural width (a uint of 0 can be zero bytes long).

import { EbmlError } from './errors.js';

const decoder = new TextDecoder('utf-8');

/** An unsigned integer payload (0–8 bytes) as a bigint. */
export function readBigUint(payload: Uint8Array): bigint {
  if (payload.length > 8) throw new EbmlError(`unsigned integer of ${payload.length} bytes (at most 8)`, 0);
  let value = 0n;
  for (const byte of payload) value = (value << 8n) | BigInt(byte);
  return value;
}

/** An unsigned integer payload as a number; throws when it exceeds 2^53. */
export function readUint(payload: Uint8Array): number {
  const value = readBigUint(payload);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new EbmlError(`unsigned integer ${value} is too large`, 0);
  return Number(value);
}

/** A float payload: 0 bytes (0.0), 4 (binary32) or 8 (binary64). */
export function readFloat(payload: Uint8Array): number {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload.length === 0) return 0;
  if (payload.length === 4) return view.getFloat32(0);
  if (payload.length === 8) return view.getFloat64(0);
  throw new EbmlError(`float of ${payload.length} bytes (0, 4 or 8)`, 0);
}

/** A string or UTF-8 payload; trailing zero bytes are padding and dropped. */
export function readString(payload: Uint8Array): string {
  let end = payload.length;
  while (end > 0 && payload[end - 1] === 0) end--;
  return decoder.decode(payload.subarray(0, end));
}
