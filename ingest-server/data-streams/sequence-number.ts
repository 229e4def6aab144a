import { InvalidArgumentException } from '../protocol/errors.js';

// Sequence numbers are 56 decimal digits like AWS's: "49", the shard's index (12 digits) and the
// position within the shard (42 digits). Fixed width keeps numeric order equal to text order,
// and a child shard (higher index) always sorts after its parents, which is what
// SequenceNumberForOrdering relies on across a reshard.
const SHARD_DIGITS = 12;
const POSITION_DIGITS = 42;
const PATTERN = /^49(\d{12})(\d{42})$/;

const POSITION_PADDING = '0'.repeat(POSITION_DIGITS);

/** The sequence number of a position in a shard. */
export function formatSequenceNumber(shardIndex: number, position: number): string {
  const digits = String(position);
  return '49' + String(shardIndex).padStart(SHARD_DIGITS, '0') + POSITION_PADDING.slice(digits.length) + digits;
}

/** Reads a sequence number back; throws InvalidArgumentException naming the field otherwise. */
export function parseSequenceNumber(text: string, field: string): { shardIndex: number; position: number } {
  const match = PATTERN.exec(text);
  if (!match) throw new InvalidArgumentException(`${field} ${text} is not a valid sequence number for this stream.`);
  const position = Number(match[2]);
  if (!Number.isSafeInteger(position)) throw new InvalidArgumentException(`${field} ${text} is out of range.`);
  return { shardIndex: Number(match[1]), position };
}

/** The shard id AWS clients expect: shardId- and 12 digits. */
export function formatShardId(index: number): string {
  return 'shardId-' + String(index).padStart(12, '0');
}

/** The index in a shard id, or undefined when it is not one of ours. */
export function parseShardId(shardId: string): number | undefined {
  const match = /^shardId-(\d{12})$/.exec(shardId);
  return match ? Number(match[1]) : undefined;
}
