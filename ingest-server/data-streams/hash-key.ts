import { hash } from 'node:crypto';

/** The largest hash key: the hash key space is [0, 2^128 - 1]. */
export const MAX_HASH_KEY = (1n << 128n) - 1n;

// Routing compares hash keys as 32-digit lower-case hex: fixed width makes text order equal to
// numeric order, and an MD5 digest already comes in that form, so the hot path needs no BigInt.

/** The hash key a partition key routes by: its UTF-8 MD5 read as an unsigned 128-bit integer, as hex. */
export function hashKeyHexOf(partitionKey: string): string {
  // The one-shot hash() costs a third of createHash()'s per-call overhead; this runs per record.
  return hash('md5', partitionKey, 'hex');
}

/** A hash key (decimal text or integer) as the 32-digit hex routing compares. */
export function hashKeyHex(key: string | bigint): string {
  return BigInt(key).toString(16).padStart(32, '0');
}

/** `count` contiguous ranges splitting [start, end] as evenly as integers allow. */
export function splitEvenly(count: number, start = 0n, end = MAX_HASH_KEY): { start: bigint; end: bigint }[] {
  const span = end - start + 1n;
  const ranges: { start: bigint; end: bigint }[] = [];
  for (let i = 0n; i < BigInt(count); i++) {
    ranges.push({ start: start + (span * i) / BigInt(count), end: start + (span * (i + 1n)) / BigInt(count) - 1n });
  }
  return ranges;
}
