// Writing and reading records through the real SDK: routing, sequence numbers, iterator types,
// byte-exact data, paging and lag.

import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordCommand,
  PutRecordsCommand,
  type KinesisClient,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { bothTransports, describeShards, md5HashKey, readAll, rejectsWith, shardHolding } from '../helpers/kinesis.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

async function iterator(kinesis: KinesisClient, stream: string, shardId: string, type: 'TRIM_HORIZON' | 'LATEST'): Promise<string> {
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: type }));
  return ShardIterator!;
}

bothTransports('PutRecord routes by the MD5 of the partition key', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'routed', ShardCount: 4 }));
  const shards = await describeShards(kinesis, 'routed');
  const used = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const key = `device-${i}-ü`;
    const put = await kinesis.send(new PutRecordCommand({ StreamName: 'routed', PartitionKey: key, Data: Buffer.from(`reading ${i}`) }));
    t.is(put.ShardId, shardHolding(shards, md5HashKey(key)).ShardId, key);
    t.regex(put.SequenceNumber!, /^(0|[1-9]\d{0,128})$/);
    t.is(put.EncryptionType, 'NONE');
    used.add(put.ShardId!);
  }
  t.is(used.size, 4, '40 keys reach every one of 4 shards');
});

bothTransports('ExplicitHashKey overrides the partition key', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'explicit', ShardCount: 4 }));
  const quarter = (1n << 128n) / 4n;
  const cases: [string, string][] = [
    ['0', 'shardId-000000000000'],
    [(quarter - 1n).toString(), 'shardId-000000000000'],
    [quarter.toString(), 'shardId-000000000001'],
    [(2n * quarter + 5n).toString(), 'shardId-000000000002'],
    [((1n << 128n) - 1n).toString(), 'shardId-000000000003'],
  ];
  for (const [hashKey, shardId] of cases) {
    // The same partition key every time: only the explicit hash key can move it.
    const put = await kinesis.send(new PutRecordCommand({ StreamName: 'explicit', PartitionKey: 'same', ExplicitHashKey: hashKey, Data: Buffer.from('x') }));
    t.is(put.ShardId, shardId, hashKey);
  }
  const batch = await kinesis.send(
    new PutRecordsCommand({
      StreamName: 'explicit',
      Records: cases.map(([hashKey]) => ({ PartitionKey: 'same', ExplicitHashKey: hashKey, Data: Buffer.from('y') })),
    }),
  );
  t.deepEqual(batch.Records!.map((entry) => entry.ShardId), cases.map(([, shardId]) => shardId));
});

bothTransports('sequence numbers strictly increase within a shard', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'ordered', ShardCount: 2 }));
  const last = new Map<string, bigint>();
  for (let round = 0; round < 5; round++) {
    const single = await kinesis.send(new PutRecordCommand({ StreamName: 'ordered', PartitionKey: `k${round}`, Data: Buffer.from('a') }));
    const batch = await kinesis.send(
      new PutRecordsCommand({ StreamName: 'ordered', Records: Array.from({ length: 20 }, (_, i) => ({ PartitionKey: `k${i}`, Data: Buffer.from('b') })) }),
    );
    for (const entry of [single, ...batch.Records!]) {
      const sequence = BigInt(entry.SequenceNumber!);
      const previous = last.get(entry.ShardId!);
      if (previous !== undefined) t.true(sequence > previous, `${entry.ShardId}: ${sequence} after ${previous}`);
      last.set(entry.ShardId!, sequence);
    }
  }
  t.is(last.size, 2);
});

bothTransports('PutRecords takes 500 records in one call and routes each by MD5', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'bulk', ShardCount: 3 }));
  const shards = await describeShards(kinesis, 'bulk');
  const entries: PutRecordsRequestEntry[] = Array.from({ length: 500 }, (_, i) => ({ PartitionKey: `sensor-${i}`, Data: Buffer.from(`payload-${i}`) }));
  const result = await kinesis.send(new PutRecordsCommand({ StreamName: 'bulk', Records: entries }));
  t.is(result.FailedRecordCount, 0);
  t.is(result.Records!.length, 500);
  t.is(result.EncryptionType, 'NONE');
  result.Records!.forEach((entry, i) => {
    t.is(entry.ErrorCode, undefined);
    t.is(entry.ShardId, shardHolding(shards, md5HashKey(`sensor-${i}`)).ShardId);
  });

  const read: string[] = [];
  for (const shard of shards) {
    const { records } = await readAll(kinesis, 'bulk', shard.ShardId!);
    records.forEach((record) => t.is(shardHolding(shards, md5HashKey(record.PartitionKey!)).ShardId, shard.ShardId));
    read.push(...records.map((record) => Buffer.from(record.Data!).toString()));
  }
  t.deepEqual(read.sort(), entries.map((entry) => Buffer.from(entry.Data!).toString()).sort());

  // Within a shard, batch order is sequence order.
  for (const shard of shards) {
    const mine = result.Records!.filter((entry) => entry.ShardId === shard.ShardId).map((entry) => BigInt(entry.SequenceNumber!));
    t.deepEqual(mine, [...mine].sort((a, b) => (a < b ? -1 : 1)));
  }
});

bothTransports('SequenceNumberForOrdering is accepted and the record sorts after it', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'chain', ShardCount: 2 }));
  let previous = (await kinesis.send(new PutRecordCommand({ StreamName: 'chain', PartitionKey: 'meter-7', Data: Buffer.from('0') }))).SequenceNumber!;
  for (let i = 1; i <= 5; i++) {
    const put = await kinesis.send(
      new PutRecordCommand({ StreamName: 'chain', PartitionKey: 'meter-7', Data: Buffer.from(String(i)), SequenceNumberForOrdering: previous }),
    );
    t.true(BigInt(put.SequenceNumber!) > BigInt(previous));
    previous = put.SequenceNumber!;
  }
});

bothTransports('GetRecords returns data byte-exact, including every byte value and empty data', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'binary', ShardCount: 1 }));
  const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + (i >> 3)) & 0xff));
  const payloads = [ALL_BYTES, Buffer.from([...ALL_BYTES].reverse()), Buffer.alloc(0), Buffer.from('\u0000\uffff✓ text', 'utf8'), random];
  const put = await kinesis.send(new PutRecordCommand({ StreamName: 'binary', PartitionKey: 'bin', Data: payloads[0] }));
  await kinesis.send(new PutRecordsCommand({ StreamName: 'binary', Records: payloads.slice(1).map((Data) => ({ PartitionKey: 'ключ-🔑', Data })) }));
  const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: await iterator(kinesis, 'binary', 'shardId-000000000000', 'TRIM_HORIZON') }));
  t.is(page.Records!.length, payloads.length);
  page.Records!.forEach((record, i) => t.true(Buffer.from(record.Data!).equals(payloads[i]!), `payload ${i}`));
  t.is(page.Records![0]!.SequenceNumber, put.SequenceNumber);
  t.is(page.Records![0]!.PartitionKey, 'bin');
  t.is(page.Records![1]!.PartitionKey, 'ключ-🔑');
  t.is(page.Records![0]!.EncryptionType, undefined);
});

bothTransports('GetRecords honours Limit and chains NextShardIterator', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'chained', ShardCount: 1 }));
  const puts = await kinesis.send(
    new PutRecordsCommand({ StreamName: 'chained', Records: Array.from({ length: 10 }, (_, i) => ({ PartitionKey: 'p', Data: Buffer.from(`r${i}`) })) }),
  );
  let shardIterator = await iterator(kinesis, 'chained', 'shardId-000000000000', 'TRIM_HORIZON');
  const pages: string[][] = [];
  for (;;) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: shardIterator, Limit: 3 }));
    t.truthy(page.NextShardIterator, 'an open shard always has a next iterator');
    t.not(page.NextShardIterator, shardIterator);
    shardIterator = page.NextShardIterator!;
    if (page.Records!.length === 0) break;
    pages.push(page.Records!.map((record) => Buffer.from(record.Data!).toString()));
  }
  t.deepEqual(pages, [['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6', 'r7', 'r8'], ['r9']]);

  // The iterator at the tip picks up what is written next.
  await kinesis.send(new PutRecordCommand({ StreamName: 'chained', PartitionKey: 'p', Data: Buffer.from('r10') }));
  const next = await kinesis.send(new GetRecordsCommand({ ShardIterator: shardIterator }));
  t.deepEqual(next.Records!.map((record) => Buffer.from(record.Data!).toString()), ['r10']);
  t.true(puts.Records!.every((entry) => BigInt(entry.SequenceNumber!) < BigInt(next.Records![0]!.SequenceNumber!)));
});

bothTransports('GetShardIterator: TRIM_HORIZON, LATEST, AT_ and AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'positions', ShardCount: 1 }));
  const shardId = 'shardId-000000000000';
  const data = (records: { Data?: Uint8Array }[] | undefined) => records!.map((record) => Buffer.from(record.Data!).toString());
  const read = async (request: Omit<ConstructorParameters<typeof GetShardIteratorCommand>[0], 'StreamName' | 'ShardId'>) => {
    const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'positions', ShardId: shardId, ...request }));
    return data((await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records);
  };

  const first = await kinesis.send(
    new PutRecordsCommand({ StreamName: 'positions', Records: ['a', 'b', 'c'].map((value) => ({ PartitionKey: 'p', Data: Buffer.from(value) })) }),
  );
  const latest = await iterator(kinesis, 'positions', shardId, 'LATEST');
  clock.advance(60_000);
  const boundary = new Date(clock.now() - 1000);
  await kinesis.send(new PutRecordsCommand({ StreamName: 'positions', Records: ['d', 'e'].map((value) => ({ PartitionKey: 'p', Data: Buffer.from(value) })) }));
  const b = first.Records![1]!.SequenceNumber!;

  t.deepEqual(await read({ ShardIteratorType: 'TRIM_HORIZON' }), ['a', 'b', 'c', 'd', 'e']);
  t.deepEqual(data((await kinesis.send(new GetRecordsCommand({ ShardIterator: latest }))).Records), ['d', 'e']);
  t.deepEqual(await read({ ShardIteratorType: 'LATEST' }), []);
  t.deepEqual(await read({ ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: b }), ['b', 'c', 'd', 'e']);
  t.deepEqual(await read({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: b }), ['c', 'd', 'e']);
  t.deepEqual(await read({ ShardIteratorType: 'AT_TIMESTAMP', Timestamp: boundary }), ['d', 'e']);
  t.deepEqual(await read({ ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(clock.now() - 3_600_000) }), ['a', 'b', 'c', 'd', 'e']);
  t.deepEqual(await read({ ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(clock.now() + 60_000) }), []);

  await rejectsWith(t, kinesis.send(new GetShardIteratorCommand({ StreamName: 'positions', ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER' })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new GetShardIteratorCommand({ StreamName: 'positions', ShardId: shardId, ShardIteratorType: 'AT_TIMESTAMP' })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new GetShardIteratorCommand({ StreamName: 'positions', ShardId: 'shardId-000000000009', ShardIteratorType: 'LATEST' })), 'ResourceNotFoundException');
});

bothTransports('a sequence number of another shard is refused', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'crossed', ShardCount: 2 }));
  const put = await kinesis.send(new PutRecordCommand({ StreamName: 'crossed', PartitionKey: 'k', ExplicitHashKey: '0', Data: Buffer.from('x') }));
  t.is(put.ShardId, 'shardId-000000000000');
  await rejectsWith(
    t,
    kinesis.send(new GetShardIteratorCommand({ StreamName: 'crossed', ShardId: 'shardId-000000000001', ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: put.SequenceNumber })),
    'InvalidArgumentException',
  );
});

bothTransports('MillisBehindLatest is positive when behind and 0 at the tip', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'lag', ShardCount: 1 }));
  await kinesis.send(new PutRecordsCommand({ StreamName: 'lag', Records: Array.from({ length: 5 }, (_, i) => ({ PartitionKey: 'p', Data: Buffer.from([i]) })) }));
  clock.advance(30_000);
  const behind = await kinesis.send(new GetRecordsCommand({ ShardIterator: await iterator(kinesis, 'lag', 'shardId-000000000000', 'TRIM_HORIZON'), Limit: 2 }));
  t.is(behind.Records!.length, 2);
  t.true(behind.MillisBehindLatest! >= 30_000, `MillisBehindLatest ${behind.MillisBehindLatest}`);
  const rest = await kinesis.send(new GetRecordsCommand({ ShardIterator: behind.NextShardIterator }));
  t.is(rest.Records!.length, 3);
  t.is(rest.MillisBehindLatest, 0);
  const empty = await kinesis.send(new GetRecordsCommand({ ShardIterator: rest.NextShardIterator }));
  t.deepEqual(empty.Records, []);
  t.is(empty.MillisBehindLatest, 0);
});

bothTransports('ApproximateArrivalTimestamp is when the record arrived', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'arrivals', ShardCount: 1 }));
  const before = clock.now();
  await kinesis.send(new PutRecordCommand({ StreamName: 'arrivals', PartitionKey: 'p', Data: Buffer.from('first') }));
  const after = clock.now();
  clock.advance(90_000);
  await kinesis.send(new PutRecordCommand({ StreamName: 'arrivals', PartitionKey: 'p', Data: Buffer.from('second') }));
  const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: await iterator(kinesis, 'arrivals', 'shardId-000000000000', 'TRIM_HORIZON') }));
  const [first, second] = page.Records!.map((record) => record.ApproximateArrivalTimestamp!);
  t.true(first instanceof Date);
  // Timestamps travel as epoch seconds with three decimals.
  t.true(first!.getTime() >= before - 1 && first!.getTime() <= after + 1, `${first!.toISOString()} in [${new Date(before).toISOString()}, ${new Date(after).toISOString()}]`);
  t.true(second!.getTime() - first!.getTime() >= 90_000);
});

bothTransports('puts and reads of an unknown stream fail with ResourceNotFoundException', async (t, { kinesis }) => {
  await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'ghost', PartitionKey: 'p', Data: Buffer.from('x') })), 'ResourceNotFoundException');
  await rejectsWith(t, kinesis.send(new PutRecordsCommand({ StreamName: 'ghost', Records: [{ PartitionKey: 'p', Data: Buffer.from('x') }] })), 'ResourceNotFoundException');
  await rejectsWith(
    t,
    kinesis.send(new GetShardIteratorCommand({ StreamName: 'ghost', ShardId: 'shardId-000000000000', ShardIteratorType: 'LATEST' })),
    'ResourceNotFoundException',
  );
});
