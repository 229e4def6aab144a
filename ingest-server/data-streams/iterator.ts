import { createHmac, timingSafeEqual } from 'node:crypto';
import { ExpiredIteratorException, InvalidArgumentException } from '../protocol/errors.js';

/** Where a shard iterator points. */
export interface IteratorPosition {
  streamName: string;
  streamUid: number;
  shardIndex: number;
  position: number;
  issuedAt: number;
}

export const ITERATOR_LIFETIME_MS = 5 * 60 * 1000;
const MAC_BYTES = 16;

// An iterator is the position itself, authenticated with an HMAC under a secret the store
// keeps: the server holds no per-iterator state (any node can continue any iterator), and a
// client cannot forge or retarget one.

/** Seals a position into an opaque shard iterator. */
export function sealIterator(position: IteratorPosition, secret: Buffer): string {
  const name = Buffer.from(position.streamName, 'utf8');
  const body = Buffer.alloc(1 + 4 + 4 + 8 + 8 + name.length);
  body.writeUInt8(1, 0);
  body.writeUInt32BE(position.streamUid, 1);
  body.writeUInt32BE(position.shardIndex, 5);
  body.writeBigUInt64BE(BigInt(position.position), 9);
  body.writeBigUInt64BE(BigInt(position.issuedAt), 17);
  name.copy(body, 25);
  return Buffer.concat([body, mac(body, secret)]).toString('base64url');
}

/** Opens a shard iterator; throws InvalidArgumentException if forged, ExpiredIteratorException if old. */
export function openIterator(iterator: string, secret: Buffer, now: number): IteratorPosition {
  const bytes = Buffer.from(iterator, 'base64url');
  if (iterator.length > 512 || bytes.length < 25 + MAC_BYTES || bytes.readUInt8(0) !== 1) throw invalid();
  const body = bytes.subarray(0, bytes.length - MAC_BYTES);
  if (!timingSafeEqual(mac(body, secret), bytes.subarray(bytes.length - MAC_BYTES))) throw invalid();
  const issuedAt = Number(body.readBigUInt64BE(17));
  if (now - issuedAt > ITERATOR_LIFETIME_MS) {
    throw new ExpiredIteratorException(
      `Iterator expired. The iterator was created at time ${new Date(issuedAt).toUTCString()} while right now it is ` +
        `${new Date(now).toUTCString()} which is further in the future than the tolerated delay of ${ITERATOR_LIFETIME_MS} milliseconds.`,
    );
  }
  return {
    streamUid: body.readUInt32BE(1),
    shardIndex: body.readUInt32BE(5),
    position: Number(body.readBigUInt64BE(9)),
    issuedAt,
    streamName: body.subarray(25).toString('utf8'),
  };
}

function mac(body: Buffer, secret: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest().subarray(0, MAC_BYTES);
}

function invalid(): InvalidArgumentException {
  return new InvalidArgumentException('Invalid ShardIterator.');
}
