// Resharding through the real SDK: SplitShard, MergeShards, UpdateShardCount and UpdateStreamMode,
// closed parents readable to their end, ChildShards, and the UPDATING window.

import {
  CreateStreamCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  UpdateStreamModeCommand,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { HOUR_MS, bothTransports, describeShards, md5HashKey, readAll, rejectsWith, shardHolding } from '../helpers/kinesis.js';

const MAX = (1n << 128n) - 1n;
const HALF = 1n << 127n;
const arnOf = (name: string) => `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`;
const text = (data: Uint8Array | undefined) => Buffer.from(data!).toString();

function openShards(shards: Shard[]): Shard[] {
  return shards.filter((shard) => shard.SequenceNumberRange!.EndingSequenceNumber === undefined);
}

async function putMany(kinesis: KinesisClient, stream: string, prefix: string, count: number) {
  const result = await kinesis.send(
    new PutRecordsCommand({ StreamName: stream, Records: Array.from({ length: count }, (_, i) => ({ PartitionKey: `${prefix}-${i}`, Data: Buffer.from(`${prefix}-${i}`) })) }),
  );
  return result.Records!;
}

bothTransports('SplitShard closes the parent and opens two children over its range', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'split', ShardCount: 1 }));
  const before = await putMany(kinesis, 'split', 'before', 30);
  await kinesis.send(new SplitShardCommand({ StreamName: 'split', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: HALF.toString() }));

  const shards = await describeShards(kinesis, 'split');
  t.deepEqual(shards.map((shard) => shard.ShardId), ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
  const [parent, low, high] = shards as [Shard, Shard, Shard];
  const lastBefore = before.map((entry) => BigInt(entry.SequenceNumber!)).reduce((a, b) => (a > b ? a : b));
  t.is(parent.SequenceNumberRange!.EndingSequenceNumber, lastBefore.toString(), 'the parent ends at its last record');
  t.like(low, { ParentShardId: parent.ShardId, HashKeyRange: { StartingHashKey: '0', EndingHashKey: (HALF - 1n).toString() } });
  t.like(high, { ParentShardId: parent.ShardId, HashKeyRange: { StartingHashKey: HALF.toString(), EndingHashKey: MAX.toString() } });
  t.is(low.AdjacentParentShardId, undefined);
  t.is(low.SequenceNumberRange!.EndingSequenceNumber, undefined);
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'split' }))).StreamDescriptionSummary!.OpenShardCount, 2);

  // New records go to the children, by hash key.
  const after = await putMany(kinesis, 'split', 'after', 30);
  after.forEach((entry, i) => t.is(entry.ShardId, shardHolding([low, high], md5HashKey(`after-${i}`)).ShardId));
  t.true(after.every((entry) => BigInt(entry.SequenceNumber!) > lastBefore), 'children sort after their parent');

  // The closed parent reads to its end, then points at its children instead of a next iterator.
  const fromParent = await readAll(kinesis, 'split', parent.ShardId!);
  t.deepEqual(fromParent.records.map((record) => text(record.Data)), before.map((_, i) => `before-${i}`));
  t.deepEqual(fromParent.childShards, [low.ShardId, high.ShardId]);
  const childRecords = [...(await readAll(kinesis, 'split', low.ShardId!)).records, ...(await readAll(kinesis, 'split', high.ShardId!)).records];
  t.deepEqual(childRecords.map((record) => text(record.Data)).sort(), after.map((_, i) => `after-${i}`).sort());
});

bothTransports('the last page of a closed shard has ChildShards and no NextShardIterator', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'ending', ShardCount: 1 }));
  await putMany(kinesis, 'ending', 'r', 5);
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'ending', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  const splitAt = (HALF + 12345n).toString();
  await kinesis.send(new SplitShardCommand({ StreamName: 'ending', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: splitAt }));

  const first = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 3 }));
  t.is(first.Records!.length, 3);
  t.truthy(first.NextShardIterator);
  t.is(first.ChildShards, undefined);
  const last = await kinesis.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator, Limit: 3 }));
  t.deepEqual(last.Records!.map((record) => text(record.Data)), ['r-3', 'r-4']);
  t.is(last.NextShardIterator, undefined);
  t.deepEqual(last.ChildShards, [
    { ShardId: 'shardId-000000000001', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: (BigInt(splitAt) - 1n).toString() } },
    { ShardId: 'shardId-000000000002', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: splitAt, EndingHashKey: MAX.toString() } },
  ]);

  // LATEST on a closed shard is already at its end.
  const { ShardIterator: latest } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'ending', ShardId: 'shardId-000000000000', ShardIteratorType: 'LATEST' }));
  const atEnd = await kinesis.send(new GetRecordsCommand({ ShardIterator: latest }));
  t.deepEqual(atEnd.Records, []);
  t.is(atEnd.NextShardIterator, undefined);
  t.is(atEnd.ChildShards!.length, 2);
});

bothTransports('a closed shard that never held a record ends at once with ChildShards', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'quiet', ShardCount: 2 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'quiet', PartitionKey: 'p', ExplicitHashKey: '0', Data: Buffer.from('only in shard 0') }));
  await kinesis.send(new MergeShardsCommand({ StreamName: 'quiet', ShardToMerge: 'shardId-000000000000', AdjacentShardToMerge: 'shardId-000000000001' }));
  const empty = (await describeShards(kinesis, 'quiet'))[1]!;
  t.is(empty.SequenceNumberRange!.EndingSequenceNumber, empty.SequenceNumberRange!.StartingSequenceNumber);
  for (const type of ['TRIM_HORIZON', 'LATEST'] as const) {
    const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'quiet', ShardId: 'shardId-000000000001', ShardIteratorType: type }));
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    t.deepEqual(page.Records, []);
    t.is(page.NextShardIterator, undefined, type);
    t.deepEqual(page.ChildShards?.map((child) => child.ShardId), ['shardId-000000000002'], type);
  }
  const { records, childShards } = await readAll(kinesis, 'quiet', 'shardId-000000000000');
  t.is(records.length, 1);
  t.deepEqual(childShards, ['shardId-000000000002']);
});

bothTransports('SplitShard refuses a hash key outside the shard and a closed shard', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'bad-split', ShardCount: 2 }));
  const split = (shard: string, key: bigint) => kinesis.send(new SplitShardCommand({ StreamName: 'bad-split', ShardToSplit: shard, NewStartingHashKey: key.toString() }));
  await rejectsWith(t, split('shardId-000000000000', 0n), 'InvalidArgumentException');
  await rejectsWith(t, split('shardId-000000000000', HALF), 'InvalidArgumentException');
  await rejectsWith(t, split('shardId-000000000001', HALF - 1n), 'InvalidArgumentException');
  await rejectsWith(t, split('shardId-000000000007', 10n), 'ResourceNotFoundException');
  await split('shardId-000000000000', 1000n);
  await rejectsWith(t, split('shardId-000000000000', 2000n), 'ResourceInUseException');
  t.is(openShards(await describeShards(kinesis, 'bad-split')).length, 3);
});

bothTransports('MergeShards joins two adjacent shards into one child with both parents', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'merge', ShardCount: 3 }));
  await rejectsWith(
    t,
    kinesis.send(new MergeShardsCommand({ StreamName: 'merge', ShardToMerge: 'shardId-000000000000', AdjacentShardToMerge: 'shardId-000000000002' })),
    'InvalidArgumentException',
  );
  const before = await putMany(kinesis, 'merge', 'before', 30);
  await kinesis.send(new MergeShardsCommand({ StreamARN: arnOf('merge'), ShardToMerge: 'shardId-000000000001', AdjacentShardToMerge: 'shardId-000000000000' }));
  const shards = await describeShards(kinesis, 'merge');
  t.is(shards.length, 4);
  const child = shards[3]!;
  t.like(child, {
    ShardId: 'shardId-000000000003',
    ParentShardId: 'shardId-000000000001',
    AdjacentParentShardId: 'shardId-000000000000',
    HashKeyRange: { StartingHashKey: '0', EndingHashKey: shards[1]!.HashKeyRange!.EndingHashKey },
  });
  t.truthy(shards[0]!.SequenceNumberRange!.EndingSequenceNumber);
  t.truthy(shards[1]!.SequenceNumberRange!.EndingSequenceNumber);
  t.is(shards[2]!.SequenceNumberRange!.EndingSequenceNumber, undefined);
  t.deepEqual(openShards(shards).map((shard) => shard.ShardId), ['shardId-000000000002', 'shardId-000000000003']);

  for (const parent of ['shardId-000000000000', 'shardId-000000000001']) {
    const { records, childShards } = await readAll(kinesis, 'merge', parent);
    t.deepEqual(records.map((record) => record.SequenceNumber), before.filter((entry) => entry.ShardId === parent).map((entry) => entry.SequenceNumber));
    t.deepEqual(childShards, ['shardId-000000000003']);
  }
  const after = await putMany(kinesis, 'merge', 'after', 30);
  after.forEach((entry, i) => t.is(entry.ShardId, shardHolding(openShards(shards), md5HashKey(`after-${i}`)).ShardId));
  await rejectsWith(
    t,
    kinesis.send(new MergeShardsCommand({ StreamName: 'merge', ShardToMerge: 'shardId-000000000000', AdjacentShardToMerge: 'shardId-000000000002' })),
    'ResourceInUseException',
  );
});

bothTransports('UpdateShardCount scales uniformly between half and double', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'scale', ShardCount: 2 }));
  await rejectsWith(t, kinesis.send(new UpdateShardCountCommand({ StreamName: 'scale', TargetShardCount: 5, ScalingType: 'UNIFORM_SCALING' })), 'LimitExceededException');
  const before = await putMany(kinesis, 'scale', 'before', 20);

  const up = await kinesis.send(new UpdateShardCountCommand({ StreamName: 'scale', TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' }));
  t.like(up, { StreamName: 'scale', CurrentShardCount: 2, TargetShardCount: 3, StreamARN: arnOf('scale') });
  let shards = await describeShards(kinesis, 'scale');
  let open = openShards(shards);
  const space = MAX + 1n;
  t.deepEqual(
    open.map((shard) => [BigInt(shard.HashKeyRange!.StartingHashKey!), BigInt(shard.HashKeyRange!.EndingHashKey!)]),
    [0, 1, 2].map((i) => [(space * BigInt(i)) / 3n, (space * BigInt(i + 1)) / 3n - 1n]),
  );
  // The middle third straddles both old shards: it names both as parents.
  t.like(open[0], { ParentShardId: 'shardId-000000000000' });
  t.like(open[1], { ParentShardId: 'shardId-000000000000', AdjacentParentShardId: 'shardId-000000000001' });
  t.like(open[2], { ParentShardId: 'shardId-000000000001' });
  for (const old of ['shardId-000000000000', 'shardId-000000000001']) {
    const { records, childShards } = await readAll(kinesis, 'scale', old);
    t.is(records.length, before.filter((entry) => entry.ShardId === old).length);
    t.true(childShards!.length >= 1);
  }
  const after = await putMany(kinesis, 'scale', 'after', 30);
  after.forEach((entry, i) => t.is(entry.ShardId, shardHolding(open, md5HashKey(`after-${i}`)).ShardId));

  await kinesis.send(new UpdateShardCountCommand({ StreamARN: arnOf('scale'), TargetShardCount: 6, ScalingType: 'UNIFORM_SCALING' }));
  t.is(openShards(await describeShards(kinesis, 'scale')).length, 6);
  await rejectsWith(t, kinesis.send(new UpdateShardCountCommand({ StreamName: 'scale', TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' })), 'LimitExceededException');
  await kinesis.send(new UpdateShardCountCommand({ StreamName: 'scale', TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' }));
  shards = await describeShards(kinesis, 'scale');
  open = openShards(shards);
  t.is(open.length, 3);
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'scale' }))).StreamDescriptionSummary!.OpenShardCount, 3);
  t.is((await kinesis.send(new ListShardsCommand({ StreamName: 'scale', ShardFilter: { Type: 'AT_LATEST' } }))).Shards!.length, 3);
});

bothTransports('UpdateStreamMode switches PROVISIONED and ON_DEMAND', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'modal', ShardCount: 2 }));
  const mode = async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'modal' }))).StreamDescriptionSummary!.StreamModeDetails!.StreamMode;
  await kinesis.send(new UpdateStreamModeCommand({ StreamARN: arnOf('modal'), StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
  t.is(await mode(), 'ON_DEMAND');
  await rejectsWith(
    t,
    kinesis.send(new SplitShardCommand({ StreamName: 'modal', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '100' })),
    'ValidationException',
  );
  await kinesis.send(new PutRecordCommand({ StreamName: 'modal', PartitionKey: 'p', Data: Buffer.from('on demand') }));
  await kinesis.send(new UpdateStreamModeCommand({ StreamARN: arnOf('modal'), StreamModeDetails: { StreamMode: 'PROVISIONED' } }));
  t.is(await mode(), 'PROVISIONED');
  await kinesis.send(new SplitShardCommand({ StreamName: 'modal', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '100' }));
  await rejectsWith(t, kinesis.send(new UpdateStreamModeCommand({ StreamARN: arnOf('modal'), StreamModeDetails: { StreamMode: 'PROVISIONED' } })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new UpdateStreamModeCommand({ StreamARN: arnOf('nothing'), StreamModeDetails: { StreamMode: 'ON_DEMAND' } })), 'ResourceNotFoundException');
});

bothTransports(
  'a reshard leaves the stream UPDATING for stateChangeMs; another reshard meanwhile is ResourceInUseException',
  async (t, { kinesis, clock }) => {
    // Frozen, so only advance() moves the server past stateChangeMs, however slow the machine.
    clock.freeze();
    await kinesis.send(new CreateStreamCommand({ StreamName: 'busy', ShardCount: 2 }));
    const status = async () => (await kinesis.send(new DescribeStreamCommand({ StreamName: 'busy' }))).StreamDescription!.StreamStatus;
    t.is(await status(), 'CREATING');
    await rejectsWith(t, kinesis.send(new UpdateShardCountCommand({ StreamName: 'busy', TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' })), 'ResourceInUseException');
    clock.advance(400);
    t.is(await status(), 'ACTIVE');

    await kinesis.send(new SplitShardCommand({ StreamName: 'busy', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '1000' }));
    t.is(await status(), 'UPDATING');
    await rejectsWith(t, kinesis.send(new SplitShardCommand({ StreamName: 'busy', ShardToSplit: 'shardId-000000000001', NewStartingHashKey: (HALF + 1n).toString() })), 'ResourceInUseException');
    await rejectsWith(t, kinesis.send(new MergeShardsCommand({ StreamName: 'busy', ShardToMerge: 'shardId-000000000002', AdjacentShardToMerge: 'shardId-000000000003' })), 'ResourceInUseException');
    await rejectsWith(t, kinesis.send(new UpdateShardCountCommand({ StreamName: 'busy', TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' })), 'ResourceInUseException');
    // Records can still be written and read while UPDATING.
    const put = await kinesis.send(new PutRecordCommand({ StreamName: 'busy', PartitionKey: 'p', ExplicitHashKey: '5', Data: Buffer.from('during') }));
    t.is(put.ShardId, 'shardId-000000000002');

    clock.advance(400);
    t.is(await status(), 'ACTIVE');
    await kinesis.send(new UpdateShardCountCommand({ StreamName: 'busy', TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }));
    t.is(await status(), 'UPDATING');
    clock.advance(400);
    t.is(await status(), 'ACTIVE');
    t.is(openShards(await describeShards(kinesis, 'busy')).length, 4);
  },
  { settings: { stateChangeMs: 300 } },
);

bothTransports('ListShards ShardFilter picks shards by position in the stream history', async (t, { kinesis, clock }) => {
  clock.freeze();
  const created = clock.now();
  await kinesis.send(new CreateStreamCommand({ StreamName: 'history', ShardCount: 1 }));
  clock.advance(10_000);
  await kinesis.send(new SplitShardCommand({ StreamName: 'history', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: HALF.toString() }));
  clock.advance(10_000);
  const ids = async (ShardFilter: NonNullable<ConstructorParameters<typeof ListShardsCommand>[0]>['ShardFilter']) =>
    (await kinesis.send(new ListShardsCommand({ StreamName: 'history', ShardFilter }))).Shards!.map((shard) => shard.ShardId!.slice(-1));
  t.deepEqual(await ids({ Type: 'AT_TRIM_HORIZON' }), ['0']);
  t.deepEqual(await ids({ Type: 'FROM_TRIM_HORIZON' }), ['0', '1', '2']);
  t.deepEqual(await ids({ Type: 'AT_LATEST' }), ['1', '2']);
  t.deepEqual(await ids({ Type: 'AFTER_SHARD_ID', ShardId: 'shardId-000000000000' }), ['1', '2']);
  t.deepEqual(await ids({ Type: 'AT_TIMESTAMP', Timestamp: new Date(created + 5000) }), ['0']);
  t.deepEqual(await ids({ Type: 'AT_TIMESTAMP', Timestamp: new Date(created + 15_000) }), ['1', '2']);
  t.deepEqual(await ids({ Type: 'FROM_TIMESTAMP', Timestamp: new Date(created + 5000) }), ['0', '1', '2']);
  t.deepEqual(await ids({ Type: 'FROM_TIMESTAMP', Timestamp: new Date(created + 15_000) }), ['1', '2']);
  await rejectsWith(t, kinesis.send(new ListShardsCommand({ StreamName: 'history', ShardFilter: { Type: 'AT_TIMESTAMP' } })), 'InvalidArgumentException');
});

bothTransports('a closed shard stays visible until its records pass retention', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'aging', ShardCount: 1 }));
  await putMany(kinesis, 'aging', 'r', 3);
  await kinesis.send(new SplitShardCommand({ StreamName: 'aging', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: HALF.toString() }));
  clock.advance(23 * HOUR_MS);
  t.is((await describeShards(kinesis, 'aging')).length, 3);
  t.is((await readAll(kinesis, 'aging', 'shardId-000000000000')).records.length, 3);
  clock.advance(2 * HOUR_MS);
  t.deepEqual((await describeShards(kinesis, 'aging')).map((shard) => shard.ShardId), ['shardId-000000000001', 'shardId-000000000002']);
  await rejectsWith(
    t,
    kinesis.send(new GetShardIteratorCommand({ StreamName: 'aging', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' })),
    'ResourceNotFoundException',
  );
});
