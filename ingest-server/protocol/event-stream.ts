// AWS event-stream message encoder (content-type application/vnd.amazon.eventstream), as used by
// Kinesis SubscribeToShard responses. Pure: builds Buffers, performs no I/O.
//
// Message layout (all integers big-endian):
//   prelude:  total length (uint32) | headers length (uint32)
//   prelude CRC32 (uint32, over the 8 prelude bytes)
//   headers:  repeated { name length (uint8) | name (utf8) | type (uint8) | value }
//   payload
//   message CRC32 (uint32, over every byte before it)

import { crc32 } from 'node:zlib';

/**
 * A header value. JS type selects the wire type: `true`/`false` → bool (0/1), `number` → int32 (4),
 * `Buffer` → byte array (6), `string` → string (7), `Date` → timestamp (8, int64 epoch ms).
 */
export type EventStreamHeaderValue = string | boolean | number /* int32 */ | Buffer | Date;

const HeaderType = {
  BoolTrue: 0,
  BoolFalse: 1,
  Int32: 4,
  ByteArray: 6,
  String: 7,
  Timestamp: 8,
} as const;

const PRELUDE_LENGTH = 8;
const CRC_LENGTH = 4;
const MAX_UINT16 = 0xffff;

function encodeHeader(name: string, value: EventStreamHeaderValue): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length === 0 || nameBytes.length > 0xff) {
    throw new RangeError(`event-stream header name must be 1-255 bytes: ${JSON.stringify(name)}`);
  }
  let typeAndValue: Buffer;
  if (typeof value === 'boolean') {
    typeAndValue = Buffer.of(value ? HeaderType.BoolTrue : HeaderType.BoolFalse);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw new RangeError(`event-stream header ${name}: ${value} is not an int32`);
    }
    typeAndValue = Buffer.alloc(5);
    typeAndValue[0] = HeaderType.Int32;
    typeAndValue.writeInt32BE(value, 1);
  } else if (typeof value === 'string') {
    typeAndValue = lengthPrefixed(name, HeaderType.String, Buffer.from(value, 'utf8'));
  } else if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms)) throw new RangeError(`event-stream header ${name}: invalid Date`);
    typeAndValue = Buffer.alloc(9);
    typeAndValue[0] = HeaderType.Timestamp;
    typeAndValue.writeBigInt64BE(BigInt(ms), 1);
  } else if (Buffer.isBuffer(value)) {
    typeAndValue = lengthPrefixed(name, HeaderType.ByteArray, value);
  } else {
    throw new TypeError(`event-stream header ${name}: unsupported value type`);
  }
  return Buffer.concat([Buffer.of(nameBytes.length), nameBytes, typeAndValue]);
}

function lengthPrefixed(name: string, type: number, bytes: Uint8Array): Buffer {
  if (bytes.length > MAX_UINT16) {
    throw new RangeError(`event-stream header ${name}: value is ${bytes.length} bytes (max ${MAX_UINT16})`);
  }
  const out = Buffer.alloc(3 + bytes.length);
  out[0] = type;
  out.writeUInt16BE(bytes.length, 1);
  out.set(bytes, 3);
  return out;
}

/** Encode one event-stream message. Header order follows the object's key order. */
export function encodeEventStreamMessage(
  headers: Record<string, EventStreamHeaderValue>,
  payload: Uint8Array,
): Buffer {
  const headerBytes = Buffer.concat(Object.entries(headers).map(([name, value]) => encodeHeader(name, value)));
  const totalLength = PRELUDE_LENGTH + CRC_LENGTH + headerBytes.length + payload.length + CRC_LENGTH;
  if (totalLength > 0xffffffff) throw new RangeError(`event-stream message too large: ${totalLength} bytes`);

  const message = Buffer.alloc(totalLength);
  message.writeUInt32BE(totalLength, 0);
  message.writeUInt32BE(headerBytes.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, PRELUDE_LENGTH)), PRELUDE_LENGTH);
  let offset = PRELUDE_LENGTH + CRC_LENGTH;
  headerBytes.copy(message, offset);
  offset += headerBytes.length;
  message.set(payload, offset);
  offset += payload.length;
  message.writeUInt32BE(crc32(message.subarray(0, offset)), offset);
  return message;
}

/** An `event` message (e.g. SubscribeToShard's `initial-response` / `SubscribeToShardEvent`). */
export function eventMessage(
  eventType: string,
  payload: Uint8Array,
  contentType = 'application/x-amz-json-1.1',
): Buffer {
  return encodeEventStreamMessage(
    { ':message-type': 'event', ':event-type': eventType, ':content-type': contentType },
    payload,
  );
}

/** An `exception` message carrying a modeled error (e.g. `ResourceNotFoundException`). */
export function exceptionMessage(
  exceptionType: string,
  payload: Uint8Array,
  contentType = 'application/x-amz-json-1.1',
): Buffer {
  return encodeEventStreamMessage(
    { ':message-type': 'exception', ':exception-type': exceptionType, ':content-type': contentType },
    payload,
  );
}
