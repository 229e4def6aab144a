// Shared pieces of the agent tests: a server with a stream, and reading a whole stream back.

import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { describeShards, kinesisClient, readAll } from '../helpers/kinesis.js';
import { RecordBuffer } from '../../agent/buffer/index.js';

/** A temp dir removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix = 'rivulet-agent-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A Kinesis client (HTTP/1.1) destroyed when the test ends. */
export function client(t: ExecutionContext, url: string): KinesisClient {
  const kinesis = kinesisClient(url, 'http1.1');
  t.teardown(() => kinesis.destroy());
  return kinesis;
}

/** Creates a stream and waits until it is ACTIVE. */
export async function createStream(kinesis: KinesisClient, name: string, shards = 1): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (StreamDescriptionSummary!.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One record read back: its data parsed as JSON, its partition key and shard. */
export interface ReadBack<T> {
  value: T;
  partitionKey: string;
  shardId: string;
  sequenceNumber: string;
}

/** Every record of the stream, shard by shard in sequence order, data parsed as JSON. */
export async function readStream<T>(kinesis: KinesisClient, stream: string): Promise<ReadBack<T>[]> {
  const out: ReadBack<T>[] = [];
  for (const shard of await describeShards(kinesis, stream)) {
    const { records } = await readAll(kinesis, stream, shard.ShardId!);
    for (const record of records) {
      out.push({ value: JSON.parse(Buffer.from(record.Data!).toString('utf8')) as T, partitionKey: record.PartitionKey!, shardId: shard.ShardId!, sequenceNumber: record.SequenceNumber! });
    }
  }
  return out;
}

/** Checks every id arrived exactly once and, per partition key, in increasing id order. */
export function assertExactlyOnceInOrder(t: ExecutionContext, records: ReadBack<{ id: number }>[], expectedIds: number[]): void {
  const seen = new Map<number, number>();
  for (const record of records) seen.set(record.value.id, (seen.get(record.value.id) ?? 0) + 1);
  const duplicates = [...seen].filter(([, count]) => count > 1).map(([id]) => id);
  const missing = expectedIds.filter((id) => !seen.has(id));
  t.deepEqual(duplicates, [], 'no record stored twice');
  t.deepEqual(missing, [], 'no record lost');
  t.is(records.length, expectedIds.length);
  const lastByKey = new Map<string, number>();
  let outOfOrder = 0;
  for (const record of records) {
    const last = lastByKey.get(record.partitionKey);
    if (last !== undefined && record.value.id < last) outOfOrder++;
    lastByKey.set(record.partitionKey, record.value.id);
  }
  t.is(outOfOrder, 0, 'records of a key are in append order');
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A buffer with sources "a" and "b" writing to the given streams; closed when the test ends. */
export async function openBuffer(
  t: ExecutionContext,
  dir: string,
  { name = 'buffer.db', maxBytes = 16 * 1024 * 1024, streams = ['meters', 'gps'] }: { name?: string; maxBytes?: number; streams?: [string, string] } = {},
): Promise<RecordBuffer> {
  const buffer = await RecordBuffer.open({
    path: join(dir, name),
    maxBytes,
    sources: [
      { name: 'a', stream: streams[0], priority: 0, onFull: 'reject-new' },
      { name: 'b', stream: streams[1], priority: 0, onFull: 'reject-new' },
    ],
  });
  t.teardown(() => buffer.close());
  return buffer;
}

/**
 * Appends `count` records with increasing ids over 4 keys: k0 and k1 from source "a", k2 and k3
 * from "b" — records of one key always come from one source, in id order. `pad` adds bytes.
 */
export function appender(buffer: RecordBuffer, pad = 0) {
  let next = 1;
  return async (count: number): Promise<number[]> => {
    const ids: number[] = [];
    const bySource: Record<string, { partitionKey: string; data: Buffer; timestamp: number }[]> = { a: [], b: [] };
    for (let index = 0; index < count; index++) {
      const id = next++;
      ids.push(id);
      const data = pad > 0 ? { id, pad: 'x'.repeat(pad) } : { id };
      bySource[id % 4 < 2 ? 'a' : 'b']!.push({ partitionKey: `k${id % 4}`, data: Buffer.from(JSON.stringify(data)), timestamp: Date.now() });
    }
    for (const [source, records] of Object.entries(bySource)) if (records.length > 0) await buffer.append(source, records);
    return ids;
  };
}
