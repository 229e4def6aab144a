import type { AppendEntry, StoredRecord } from '../../data-streams/model.js';

// A JetStream message of a shard holds the records one append() call put in that shard (a batch),
// so a PutRecords of 500 records costs a few publishes, not 500. A record's position is
// jsSeq * BATCH_SLOTS + its index in the batch: positions still only increase within a shard, and
// they stay far below 2^53 (and so the 42-digit sequence-number space) for any reachable jsSeq.

/** Records one message may hold; also the position stride between consecutive messages. */
export const BATCH_SLOTS = 1024;
/** Stored bytes of a batch before another starts: well below the nats-server max_payload we document (8 MB). */
const MAX_BATCH_BYTES = 1024 * 1024;
/** JSON punctuation around a record's fields, counted towards MAX_BATCH_BYTES. */
const RECORD_OVERHEAD_BYTES = 16;

/** A record as stored in a batch: partition key, data as base64, and the KMS key id when encrypted. */
type StoredEntry = [partitionKey: string, dataBase64: string, keyId?: string];

/** The entries of one message, with their indexes in the append() call. */
export interface Batch {
  streamUid: number;
  shardIndex: number;
  entries: AppendEntry[];
  callIndexes: number[];
}

/**
 * Groups the entries of an append() call into messages: per shard, in call order, within
 * BATCH_SLOTS and MAX_BATCH_BYTES (a larger record goes alone). An entry with a producer
 * sequence goes alone too: its message carries the (producer, sequence) de-duplication id.
 */
export function batchesOf(entries: AppendEntry[]): Batch[] {
  const batches: Batch[] = [];
  const open = new Map<string, { batch: Batch; bytes: number }>();
  entries.forEach((entry, callIndex) => {
    const bytes = storedBytes(entry);
    if (entry.producer) {
      batches.push({ streamUid: entry.streamUid, shardIndex: entry.shardIndex, entries: [entry], callIndexes: [callIndex] });
      return;
    }
    const slot = `${entry.streamUid}:${entry.shardIndex}`;
    const current = open.get(slot);
    if (current && current.batch.entries.length < BATCH_SLOTS && current.bytes + bytes <= MAX_BATCH_BYTES) {
      current.batch.entries.push(entry);
      current.batch.callIndexes.push(callIndex);
      current.bytes += bytes;
      return;
    }
    const batch: Batch = { streamUid: entry.streamUid, shardIndex: entry.shardIndex, entries: [entry], callIndexes: [callIndex] };
    batches.push(batch);
    open.set(slot, { batch, bytes });
  });
  return batches;
}

/** The message payload of a batch. */
export function encodeBatch(entries: AppendEntry[]): string {
  return JSON.stringify(entries.map((entry): StoredEntry => (entry.keyId !== undefined ? [entry.partitionKey, entry.dataBase64, entry.keyId] : [entry.partitionKey, entry.dataBase64])));
}

/** The records of the message at jsSeq, given its payload and arrival. */
export function decodeBatch(jsSeq: number, payload: string, arrivalMs: number): StoredRecord[] {
  return (JSON.parse(payload) as StoredEntry[]).map(([partitionKey, dataBase64, keyId], index) => {
    const position = positionOf(jsSeq, index);
    return keyId !== undefined ? { position, arrivalMs, partitionKey, dataBase64, keyId } : { position, arrivalMs, partitionKey, dataBase64 };
  });
}

export function positionOf(jsSeq: number, index: number): number {
  return jsSeq * BATCH_SLOTS + index;
}

/** The message a position falls in. */
export function jsSeqOf(position: number): number {
  return Math.floor(position / BATCH_SLOTS);
}

function storedBytes(entry: AppendEntry): number {
  return entry.dataBase64.length + Buffer.byteLength(entry.partitionKey) + (entry.keyId?.length ?? 0) + RECORD_OVERHEAD_BYTES;
}
