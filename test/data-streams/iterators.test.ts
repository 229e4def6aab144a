// Shard iterators through the real SDK: they are opaque, tamper-proof, expire after five
// minutes, and do not survive their stream.

import {
  CreateStreamCommand,
  DeleteStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { bothTransports, rejectsWith } from '../helpers/kinesis.js';

const SHARD = 'shardId-000000000000';

async function trimHorizon(kinesis: KinesisClient, stream: string): Promise<string> {
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: SHARD, ShardIteratorType: 'TRIM_HORIZON' }));
  return ShardIterator!;
}

bothTransports('a tampered or made-up iterator is InvalidArgumentException', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'sealed', ShardCount: 2 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'sealed', PartitionKey: 'p', Data: Buffer.from('secret') }));
  const genuine = await trimHorizon(kinesis, 'sealed');
  t.true(genuine.length <= 512);

  // Flip one bit in each byte of the iterator in turn: no change may be accepted.
  const bytes = Buffer.from(genuine, 'base64url');
  for (let i = 0; i < bytes.length; i += 3) {
    const forged = Buffer.from(bytes);
    forged[i] = forged[i]! ^ 0x01;
    await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: forged.toString('base64url') })), 'InvalidArgumentException');
  }
  // Retargeting to shard 1 (a field inside the iterator) must fail too.
  const retargeted = Buffer.from(bytes);
  retargeted.writeUInt32BE(1, 5);
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: retargeted.toString('base64url') })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: 'not-an-iterator' })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: genuine.slice(0, -4) })), 'InvalidArgumentException');

  const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: genuine }));
  t.true(page.Records!.length <= 1, 'the genuine iterator still works');
});

bothTransports('an iterator older than five minutes is ExpiredIteratorException', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'aging', ShardCount: 1 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'aging', PartitionKey: 'p', Data: Buffer.from('one') }));
  const old = await trimHorizon(kinesis, 'aging');
  const kept = await trimHorizon(kinesis, 'aging');
  clock.advance(4 * 60_000);
  // Each page hands out a fresh iterator, so a reader that keeps reading never expires.
  const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: kept }));
  t.is(page.Records!.length, 1);
  clock.advance(60_000 + 1000);
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: old })), 'ExpiredIteratorException');
  await kinesis.send(new PutRecordCommand({ StreamName: 'aging', PartitionKey: 'p', Data: Buffer.from('two') }));
  const next = await kinesis.send(new GetRecordsCommand({ ShardIterator: page.NextShardIterator }));
  t.deepEqual(next.Records!.map((record) => Buffer.from(record.Data!).toString()), ['two']);
  clock.advance(5 * 60_000 + 1000);
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: next.NextShardIterator })), 'ExpiredIteratorException');
});

bothTransports('an iterator of a deleted stream fails, even once the name is reused', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'phoenix', ShardCount: 1 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'phoenix', PartitionKey: 'p', Data: Buffer.from('first life') }));
  const before = await trimHorizon(kinesis, 'phoenix');
  await kinesis.send(new DeleteStreamCommand({ StreamName: 'phoenix' }));
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: before })), 'ResourceNotFoundException');
  await kinesis.send(new CreateStreamCommand({ StreamName: 'phoenix', ShardCount: 1 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'phoenix', PartitionKey: 'p', Data: Buffer.from('second life') }));
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: before })), 'ResourceNotFoundException');
  const fresh = await kinesis.send(new GetRecordsCommand({ ShardIterator: await trimHorizon(kinesis, 'phoenix') }));
  t.deepEqual(fresh.Records!.map((record) => Buffer.from(record.Data!).toString()), ['second life']);
});

bothTransports('an iterator given with the StreamARN of another stream is refused', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'mine', ShardCount: 1 }));
  await kinesis.send(new CreateStreamCommand({ StreamName: 'theirs', ShardCount: 1 }));
  const iterator = await trimHorizon(kinesis, 'mine');
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/theirs' })), 'InvalidArgumentException');
  t.deepEqual((await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/mine' }))).Records, []);
});

bothTransports('AT_TIMESTAMP finds every arrival time, also among concurrent puts', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'busy', ShardCount: 1 }));
  // Concurrent puts are committed together in batches that span several milliseconds.
  await Promise.all(Array.from({ length: 150 }, (_, i) => kinesis.send(new PutRecordCommand({ StreamName: 'busy', PartitionKey: `p${i}`, Data: Buffer.from(String(i)) }))));
  const all = (await kinesis.send(new GetRecordsCommand({ ShardIterator: await trimHorizon(kinesis, 'busy') }))).Records!;
  t.is(all.length, 150);
  const arrivals = [...new Set(all.map((record) => record.ApproximateArrivalTimestamp!.getTime()))];
  t.true(arrivals.length > 1);
  for (const at of arrivals) {
    const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'busy', ShardId: SHARD, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(at) }));
    const [first] = (await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }))).Records!;
    const expected = all.find((record) => record.ApproximateArrivalTimestamp!.getTime() >= at)!;
    t.is(first?.SequenceNumber, expected.SequenceNumber, `AT_TIMESTAMP ${new Date(at).toISOString()}`);
  }
});
