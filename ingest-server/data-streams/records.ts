import { InvalidArgumentException, ProvisionedThroughputExceededException, ResourceNotFoundException, type ServiceError } from '../protocol/errors.js';
import type { EncodedBlob, Input } from '../protocol/input.js';
import { Blob, Timestamp } from '../protocol/wire-values.js';
import type { DataStreamsContext } from './context.js';
import { MAX_HASH_KEY, hashKeyHex, hashKeyHexOf } from './hash-key.js';
import { openIterator, sealIterator } from './iterator.js';
import type { ShardState, StreamState } from './model.js';
import { formatSequenceNumber, formatShardId, parseSequenceNumber } from './sequence-number.js';
import { childShards, findShard, retentionCutoff, shardForHashKey } from './shards.js';
import { findStream, notFound, statusOf, streamNameOf } from './streams.js';

const PARTITION_KEY = { min: 1, max: 256 };
const EXPLICIT_HASH_KEY = { pattern: /0|([1-9]\d{0,38})/ };
const SEQUENCE_NUMBER = { pattern: /0|([1-9]\d{0,128})/ };
const MAX_GET_BYTES = 10 * 1024 * 1024;
const ITERATOR_TYPES = ['AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER', 'TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'] as const;
export type StartingPositionType = (typeof ITERATOR_TYPES)[number];

// Exactly-once producers (Rivulet's agent) add two members AWS's model does not have: a
// request-level ProducerId and a per-record ProducerSequence. A record is stored at most once per
// (stream, ProducerId, ProducerSequence); a retry gets the original SequenceNumber and ShardId.
// Clients that do not send them are unaffected.
const PRODUCER_ID = { min: 1, max: 256 };
const PRODUCER_SEQUENCE = { pattern: /[1-9]\d{0,15}/ };

interface RecordToPut {
  data: EncodedBlob;
  partitionKey: string;
  explicitHashKey?: string;
  producer?: { id: string; sequence: number };
}

function readRecordToPut(input: Input, maxBytes: number, producerId: string | undefined): RecordToPut {
  const data = input.requiredBlob('Data', maxBytes);
  const partitionKey = input.requiredString('PartitionKey', PARTITION_KEY);
  const explicitHashKey = input.string('ExplicitHashKey', EXPLICIT_HASH_KEY);
  if (explicitHashKey !== undefined && BigInt(explicitHashKey) > MAX_HASH_KEY) {
    throw new InvalidArgumentException(`Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was ${explicitHashKey}`);
  }
  const sequence = producerId === undefined ? input.string('ProducerSequence', PRODUCER_SEQUENCE) : input.requiredString('ProducerSequence', PRODUCER_SEQUENCE);
  if (sequence !== undefined && producerId === undefined) throw new InvalidArgumentException('ProducerSequence needs a ProducerId.');
  const producer = producerId !== undefined && sequence !== undefined ? { id: producerId, sequence: Number(sequence) } : undefined;
  if (producer && !Number.isSafeInteger(producer.sequence)) throw new InvalidArgumentException(`ProducerSequence ${sequence} is out of range.`);
  return { data, partitionKey, ...(explicitHashKey !== undefined ? { explicitHashKey } : {}), ...(producer ? { producer } : {}) };
}

/** The stream records can be written to: puts work while ACTIVE or UPDATING, not while CREATING. */
async function writableStream(ctx: DataStreamsContext, input: Input): Promise<StreamState> {
  const state = await findStream(ctx, input);
  if (statusOf(state, ctx.now()) === 'CREATING') throw notFound(ctx, state.name);
  return state;
}

interface PutOutcome {
  shard: ShardState;
  /** Where the record is: its own shard and sequence number, or the original's for a duplicate. */
  shardId?: string;
  sequenceNumber?: string;
  error?: ProvisionedThroughputExceededException;
}

/**
 * Routes, encrypts and appends records; answers once they are durable. Routing and the append
 * call happen with no await in between, so a reshard that commits meanwhile can never leave a
 * record in a shard that readers already consider finished.
 */
async function putAll(ctx: DataStreamsContext, state: StreamState, records: RecordToPut[]): Promise<PutOutcome[]> {
  const keyId = state.encryption.type === 'KMS' ? state.encryption.keyId : undefined;
  // Throttling is decided at one instant per call, and once a shard refuses an entry it refuses
  // the rest of the call: a later entry (of the same key, say) never gets in ahead of an earlier
  // one that has to be retried, whether a window rolls over mid-call or a smaller record still fits.
  const at = ctx.now();
  const throttled = new Set<number>();
  const outcomes: PutOutcome[] = records.map((record) => {
    const hashKey = record.explicitHashKey !== undefined ? hashKeyHex(record.explicitHashKey) : hashKeyHexOf(record.partitionKey);
    const shard = shardForHashKey(state, hashKey);
    const bytes = record.data.byteLength + Buffer.byteLength(record.partitionKey);
    if (ctx.throughput && (throttled.has(shard.index) || !ctx.throughput.admitWrite(`${state.uid}:${shard.index}`, bytes, at))) {
      throttled.add(shard.index);
      return { shard, error: new ProvisionedThroughputExceededException(`Rate exceeded for shard ${shard.shardId} in stream ${state.name} under account ${ctx.settings.accountId}.`) };
    }
    return { shard };
  });
  const accepted = outcomes.flatMap((outcome, index) => (outcome.error ? [] : [{ outcome, record: records[index]! }]));
  const results = await ctx.store.append(
    accepted.map(({ outcome, record }) => ({
      streamUid: state.uid,
      shardIndex: outcome.shard.index,
      // AWS's server-side encryption covers the partition key as well as the data.
      partitionKey: keyId ? ctx.keys.encryptText(keyId, record.partitionKey) : record.partitionKey,
      dataBase64: keyId ? ctx.keys.encrypt(keyId, record.data.base64) : record.data.base64,
      ...(keyId ? { keyId } : {}),
      ...(record.producer ? { producer: record.producer } : {}),
    })),
  );
  accepted.forEach(({ outcome }, index) => {
    const { shardIndex, position } = results[index]!;
    outcome.shardId = formatShardId(shardIndex);
    outcome.sequenceNumber = formatSequenceNumber(shardIndex, position);
  });
  return outcomes;
}

function checkRecordSize(state: StreamState, record: RecordToPut): void {
  const limit = state.maxRecordSizeKiB * 1024;
  if (record.data.byteLength + Buffer.byteLength(record.partitionKey) > limit) {
    throw new InvalidArgumentException(`Record size (data plus partition key) exceeds the stream's maximum record size of ${limit} bytes.`);
  }
}

export async function putRecord(ctx: DataStreamsContext, input: Input): Promise<object> {
  const record = readRecordToPut(input, 10 * 1024 * 1024, input.string('ProducerId', PRODUCER_ID));
  const ordering = input.string('SequenceNumberForOrdering', SEQUENCE_NUMBER);
  if (ordering !== undefined) parseSequenceNumber(ordering, 'SequenceNumberForOrdering');
  const state = await writableStream(ctx, input);
  checkRecordSize(state, record);
  // A record with the same partition key always lands in the same shard or, after a reshard,
  // in a child whose sequence numbers are all higher: ordering after the given number holds.
  const [outcome] = await putAll(ctx, state, [record]);
  if (outcome!.error) throw outcome!.error;
  return { ShardId: outcome!.shardId, SequenceNumber: outcome!.sequenceNumber, EncryptionType: state.encryption.type };
}

/** A message the MQTT broker routed to a stream. */
export interface MqttRecord {
  partitionKey: string;
  data: Uint8Array;
  /** Stored at most once per (stream, producer id, sequence), like PutRecords' ProducerId/ProducerSequence. */
  producer?: { id: string; sequence: number };
}

export type MqttPutResult = { shardId: string; sequenceNumber: string } | { error: ServiceError };

/**
 * Stores MQTT messages the way PutRecords stores its entries (same checks, routing, encryption,
 * throughput limits and group commit), in the given order; resolves once they are durable with
 * each message's sequence number or the error PutRecords would have given it. Throws
 * ResourceNotFoundException when the stream cannot take records at all.
 */
export async function putFromMqtt(ctx: DataStreamsContext, streamName: string, messages: MqttRecord[]): Promise<MqttPutResult[]> {
  const state = await ctx.store.getStream(streamName);
  if (!state || statusOf(state, ctx.now()) === 'CREATING') throw notFound(ctx, streamName);
  const results: MqttPutResult[] = new Array(messages.length);
  const accepted: { index: number; record: RecordToPut }[] = [];
  messages.forEach(({ partitionKey, data, producer }, index) => {
    const record: RecordToPut = { partitionKey, data: { base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), byteLength: data.byteLength }, ...(producer ? { producer } : {}) };
    const length = [...partitionKey].length;
    if (length < PARTITION_KEY.min || length > PARTITION_KEY.max) {
      results[index] = { error: new InvalidArgumentException(`Partition key must have ${PARTITION_KEY.min} to ${PARTITION_KEY.max} characters, got ${length}.`) };
      return;
    }
    try {
      checkRecordSize(state, record);
      accepted.push({ index, record });
    } catch (error) {
      results[index] = { error: error as InvalidArgumentException };
    }
  });
  const outcomes = await putAll(ctx, state, accepted.map(({ record }) => record));
  outcomes.forEach((outcome, i) => {
    results[accepted[i]!.index] = outcome.error ? { error: outcome.error } : { shardId: outcome.shardId!, sequenceNumber: outcome.sequenceNumber! };
  });
  return results;
}

export async function putRecords(ctx: DataStreamsContext, input: Input): Promise<object> {
  const entries = input.list('Records', { min: 1, max: 500 }) ?? [];
  if (entries.length === 0) input.requiredString('Records');
  const producerId = input.string('ProducerId', PRODUCER_ID);
  const records = entries.map((entry) => readRecordToPut(entry, 10 * 1024 * 1024, producerId));
  const state = await writableStream(ctx, input);
  records.forEach((record) => checkRecordSize(state, record));
  const requestLimit = state.maxRecordSizeKiB > 1024 ? 10 * 1024 * 1024 : 5 * 1024 * 1024;
  const total = records.reduce((sum, record) => sum + record.data.byteLength + Buffer.byteLength(record.partitionKey), 0);
  if (total > requestLimit) throw new InvalidArgumentException(`Records size exceeds ${requestLimit / 1024 / 1024} MB limit`);
  const outcomes = await putAll(ctx, state, records);
  return {
    FailedRecordCount: outcomes.filter((outcome) => outcome.error).length,
    Records: outcomes.map((outcome) =>
      outcome.error
        ? { ErrorCode: outcome.error.name, ErrorMessage: outcome.error.message }
        : { SequenceNumber: outcome.sequenceNumber, ShardId: outcome.shardId },
    ),
    EncryptionType: state.encryption.type,
  };
}

/** The first position a reader starting at `type` gets. */
export async function startingPosition(
  ctx: DataStreamsContext,
  state: StreamState,
  shard: ShardState,
  type: StartingPositionType,
  sequenceNumber: string | undefined,
  timestampMs: number | undefined,
): Promise<number> {
  switch (type) {
    case 'TRIM_HORIZON':
      return 0;
    case 'LATEST':
      return ctx.store.nextPosition(state.uid, shard.index);
    case 'AT_TIMESTAMP':
      if (timestampMs === undefined) throw new InvalidArgumentException('Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.');
      return ctx.store.positionAtTime(state.uid, shard.index, timestampMs);
    case 'AT_SEQUENCE_NUMBER':
    case 'AFTER_SEQUENCE_NUMBER': {
      if (sequenceNumber === undefined) throw new InvalidArgumentException(`Must specify StartingSequenceNumber for iterator type ${type}.`);
      const parsed = parseSequenceNumber(sequenceNumber, 'StartingSequenceNumber');
      if (parsed.shardIndex !== shard.index) {
        throw new InvalidArgumentException(`Invalid StartingSequenceNumber. It encodes shardId-${String(parsed.shardIndex).padStart(12, '0')}, while it was used in a call to a shard with ${shard.shardId}`);
      }
      return type === 'AT_SEQUENCE_NUMBER' ? parsed.position : parsed.position + 1;
    }
  }
}

export async function getShardIterator(ctx: DataStreamsContext, input: Input): Promise<object> {
  const shardId = input.requiredString('ShardId', { min: 1, max: 128 });
  const type = input.requiredEnumeration('ShardIteratorType', ITERATOR_TYPES);
  const sequenceNumber = input.string('StartingSequenceNumber', SEQUENCE_NUMBER);
  const timestamp = input.timestamp('Timestamp');
  const state = await findStream(ctx, input);
  const shard = findShard(ctx, state, shardId);
  const position = await startingPosition(ctx, state, shard, type, sequenceNumber, timestamp);
  const now = ctx.now();
  return { ShardIterator: sealIterator({ streamName: state.name, streamUid: state.uid, shardIndex: shard.index, position, issuedAt: now }, ctx.iteratorSecret) };
}

/** One page read from a shard, in the shape both GetRecords and SubscribeToShard return. */
export interface ShardPage {
  records: object[];
  /** Where the next page starts, or undefined when the shard is closed and fully read. */
  next?: number;
  lastPosition?: number;
  millisBehindLatest: number;
  childShards?: object[];
  bytes: number;
}

/** Reads up to `limit` records from `from`, decrypted and within retention. */
export async function readShardPage(ctx: DataStreamsContext, state: StreamState, shard: ShardState, from: number, limit: number): Promise<ShardPage> {
  const now = ctx.now();
  // Taken before the read: if every record of the closed shard was durable by then, an empty
  // read means the reader is past its last record, even when positions before the tip were
  // never used or have been trimmed.
  const durable = shard.closedAt !== undefined ? await ctx.store.durablePosition(state.uid, shard.index) : undefined;
  const stored = await ctx.store.read(state.uid, shard.index, from, limit, MAX_GET_BYTES);
  const cutoff = retentionCutoff(state, now);
  const kept = stored.filter((record) => record.arrivalMs >= cutoff);
  const last = stored[stored.length - 1];
  const next = last ? last.position + 1 : from;
  const tip = await ctx.store.nextPosition(state.uid, shard.index);
  let bytes = 0;
  const records = kept.map((record) => {
    const data = record.keyId ? ctx.keys.decrypt(record.keyId, record.dataBase64) : record.dataBase64;
    bytes += (data.length * 3) / 4;
    return {
      SequenceNumber: formatSequenceNumber(shard.index, record.position),
      ApproximateArrivalTimestamp: new Timestamp(record.arrivalMs),
      Data: new Blob(data),
      PartitionKey: record.keyId ? ctx.keys.decryptText(record.keyId, record.partitionKey) : record.partitionKey,
      ...(record.keyId ? { EncryptionType: 'KMS' } : {}),
    };
  });
  const millisBehindLatest = last && last.position < tip - 1 ? Math.max(0, now - last.arrivalMs) : 0;
  const finished = shard.closedAt !== undefined && (next >= tip || (stored.length === 0 && durable! >= tip));
  return {
    records,
    ...(finished ? { childShards: childShards(state, shard) } : { next }),
    ...(last ? { lastPosition: last.position } : {}),
    millisBehindLatest,
    bytes,
  };
}

export async function getRecords(ctx: DataStreamsContext, input: Input): Promise<object> {
  const iterator = input.requiredString('ShardIterator', { min: 1, max: 512 });
  const limit = input.integer('Limit', { min: 1, max: 10000 }) ?? 10000;
  const position = openIterator(iterator, ctx.iteratorSecret, ctx.now());
  const state = await ctx.store.getStream(position.streamName);
  if (!state || state.uid !== position.streamUid) throw notFound(ctx, position.streamName);
  if (input.has('StreamARN') || input.has('StreamName')) {
    const named = streamNameOf(input);
    const arn = input.string('StreamARN');
    if (named !== state.name || (arn !== undefined && arn !== state.arn)) throw new InvalidArgumentException('The ShardIterator belongs to another stream.');
  }
  const shard = state.shards.find((candidate) => candidate.index === position.shardIndex);
  if (!shard) throw new ResourceNotFoundException(`Shard ${position.shardIndex} in stream ${state.name} under account ${ctx.settings.accountId} does not exist`);
  const shardKey = `${state.uid}:${shard.index}`;
  ctx.throughput?.admitRead(shardKey);
  const page = await readShardPage(ctx, state, shard, position.position, limit);
  ctx.throughput?.countRead(shardKey, page.bytes);
  return {
    Records: page.records,
    ...(page.next !== undefined
      ? { NextShardIterator: sealIterator({ ...position, position: page.next, issuedAt: ctx.now() }, ctx.iteratorSecret) }
      : { ChildShards: page.childShards }),
    MillisBehindLatest: page.millisBehindLatest,
  };
}
