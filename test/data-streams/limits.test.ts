// Limits through the real SDK: DescribeLimits, record and request sizes, the account shard limit
// and, with enforceThroughput, AWS's per-shard rates.

import {
  CreateStreamCommand,
  DescribeLimitsCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordCommand,
  PutRecordsCommand,
  SplitShardCommand,
  UpdateMaxRecordSizeCommand,
  UpdateShardCountCommand,
  UpdateStreamModeCommand,
} from '@aws-sdk/client-kinesis';
import { bothTransports, rejectsWith } from '../helpers/kinesis.js';

const MiB = 1024 * 1024;
const arnOf = (name: string) => `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`;

bothTransports('DescribeLimits reports the shard limit and what is in use', async (t, { kinesis }) => {
  t.like(await kinesis.send(new DescribeLimitsCommand({})), { ShardLimit: 500, OpenShardCount: 0, OnDemandStreamCount: 0, OnDemandStreamCountLimit: 50 });
  await kinesis.send(new CreateStreamCommand({ StreamName: 'three', ShardCount: 3 }));
  await kinesis.send(new CreateStreamCommand({ StreamName: 'elastic', StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
  await kinesis.send(new SplitShardCommand({ StreamName: 'three', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '1000' }));
  const limits = await kinesis.send(new DescribeLimitsCommand({}));
  t.like(limits, { ShardLimit: 500, OpenShardCount: 8, OnDemandStreamCount: 1, OnDemandStreamCountLimit: 50 });
});

bothTransports(
  'LimitExceededException when a create or reshard would pass settings.shardLimit',
  async (t, { kinesis }) => {
    t.is((await kinesis.send(new DescribeLimitsCommand({}))).ShardLimit, 5);
    await kinesis.send(new CreateStreamCommand({ StreamName: 'first', ShardCount: 3 }));
    await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'second', ShardCount: 3 })), 'LimitExceededException');
    await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'elastic', StreamModeDetails: { StreamMode: 'ON_DEMAND' } })), 'LimitExceededException');
    await kinesis.send(new CreateStreamCommand({ StreamName: 'second', ShardCount: 2 }));
    await rejectsWith(
      t,
      kinesis.send(new SplitShardCommand({ StreamName: 'first', ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '1000' })),
      'LimitExceededException',
    );
    await rejectsWith(t, kinesis.send(new UpdateShardCountCommand({ StreamName: 'second', TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' })), 'LimitExceededException');
    // Scaling down frees shards for others.
    await kinesis.send(new UpdateShardCountCommand({ StreamName: 'first', TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' }));
    await kinesis.send(new UpdateShardCountCommand({ StreamName: 'second', TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' }));
    t.is((await kinesis.send(new DescribeLimitsCommand({}))).OpenShardCount, 5);
  },
  { settings: { shardLimit: 5 } },
);

bothTransports(
  'LimitExceededException past the on-demand stream limit',
  async (t, { kinesis }) => {
    await kinesis.send(new CreateStreamCommand({ StreamName: 'one', StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
    await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'two', StreamModeDetails: { StreamMode: 'ON_DEMAND' } })), 'LimitExceededException');
    await kinesis.send(new CreateStreamCommand({ StreamName: 'two', ShardCount: 1 }));
    t.like(await kinesis.send(new DescribeLimitsCommand({})), { OnDemandStreamCount: 1, OnDemandStreamCountLimit: 1 });
    await rejectsWith(t, kinesis.send(new UpdateStreamModeCommand({ StreamARN: arnOf('two'), StreamModeDetails: { StreamMode: 'ON_DEMAND' } })), 'LimitExceededException');
  },
  { settings: { onDemandStreamLimit: 1 } },
);

bothTransports('a record over 1 MiB (data plus partition key) is InvalidArgumentException', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'sized', ShardCount: 1 }));
  const exactly = Buffer.alloc(MiB - 1, 7);
  await kinesis.send(new PutRecordCommand({ StreamName: 'sized', PartitionKey: 'k', Data: exactly }));
  await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'sized', PartitionKey: 'kk', Data: exactly })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new PutRecordsCommand({ StreamName: 'sized', Records: [{ PartitionKey: 'kk', Data: exactly }] })), 'InvalidArgumentException');
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'sized', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  const records = (await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records!;
  t.is(records.length, 1, 'the refused records were not written');
  t.true(Buffer.from(records[0]!.Data!).equals(exactly));
});

bothTransports('PutRecords over 5 MiB in total is InvalidArgumentException', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'sized', ShardCount: 2 }));
  const record = Buffer.alloc(MiB - 16, 1);
  const entries = (count: number) => Array.from({ length: count }, (_, i) => ({ PartitionKey: `p${i}`, Data: record }));
  await rejectsWith(t, kinesis.send(new PutRecordsCommand({ StreamName: 'sized', Records: entries(6) })), 'InvalidArgumentException');
  const five = await kinesis.send(new PutRecordsCommand({ StreamName: 'sized', Records: entries(5) }));
  t.is(five.FailedRecordCount, 0);
});

bothTransports('UpdateMaxRecordSize to 2048 KiB lets a 1.5 MiB record through', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'large', ShardCount: 1 }));
  const big = Buffer.alloc(1.5 * MiB);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'large', PartitionKey: 'p', Data: big })), 'InvalidArgumentException');
  await kinesis.send(new UpdateMaxRecordSizeCommand({ StreamARN: arnOf('large'), MaxRecordSizeInKiB: 2048 }));
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'large' }))).StreamDescriptionSummary!.MaxRecordSizeInKiB, 2048);
  const put = await kinesis.send(new PutRecordCommand({ StreamName: 'large', PartitionKey: 'p', Data: big }));
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'large', ShardId: put.ShardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: put.SequenceNumber }));
  const [record] = (await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records!;
  t.true(Buffer.from(record!.Data!).equals(big));
  await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'large', PartitionKey: 'p', Data: Buffer.alloc(2 * MiB) })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new UpdateMaxRecordSizeCommand({ StreamARN: arnOf('large'), MaxRecordSizeInKiB: 1023 })), 'ValidationException');
  await rejectsWith(t, kinesis.send(new UpdateMaxRecordSizeCommand({ StreamARN: arnOf('large'), MaxRecordSizeInKiB: 10241 })), 'ValidationException');
});

bothTransports(
  'over 1,000 records/s to one shard: PutRecords fails just those records with ProvisionedThroughputExceededException',
  async (t, { kinesis, clock }) => {
    await kinesis.send(new CreateStreamCommand({ StreamName: 'throttled', ShardCount: 2 }));
    clock.freeze();
    const toShard = (shard: 0 | 1, count: number, tag: string) =>
      Array.from({ length: count }, (_, i) => ({ PartitionKey: `${tag}-${i}`, ExplicitHashKey: shard === 0 ? '0' : (1n << 127n).toString(), Data: Buffer.from('x') }));
    for (const tag of ['a', 'b']) {
      const ok = await kinesis.send(new PutRecordsCommand({ StreamName: 'throttled', Records: toShard(0, 500, tag) }));
      t.is(ok.FailedRecordCount, 0);
    }
    const mixed = await kinesis.send(new PutRecordsCommand({ StreamName: 'throttled', Records: [...toShard(0, 10, 'c'), ...toShard(1, 10, 'd')] }));
    t.is(mixed.FailedRecordCount, 10);
    mixed.Records!.slice(0, 10).forEach((entry) => {
      t.is(entry.ErrorCode, 'ProvisionedThroughputExceededException');
      t.truthy(entry.ErrorMessage);
      t.is(entry.SequenceNumber, undefined);
    });
    mixed.Records!.slice(10).forEach((entry) => {
      t.is(entry.ErrorCode, undefined);
      t.is(entry.ShardId, 'shardId-000000000001');
    });
    await rejectsWith(
      t,
      kinesis.send(new PutRecordCommand({ StreamName: 'throttled', PartitionKey: 'single', ExplicitHashKey: '0', Data: Buffer.from('x') })),
      'ProvisionedThroughputExceededException',
    );
    clock.advance(1000);
    t.is((await kinesis.send(new PutRecordsCommand({ StreamName: 'throttled', Records: toShard(0, 10, 'e') }))).FailedRecordCount, 0);
  },
  { enforceThroughput: true },
);

bothTransports(
  'over 1 MiB/s to one shard is ProvisionedThroughputExceededException',
  async (t, { kinesis, clock }) => {
    await kinesis.send(new CreateStreamCommand({ StreamName: 'throttled', ShardCount: 1 }));
    clock.freeze();
    const chunk = Buffer.alloc(600 * 1024);
    await kinesis.send(new PutRecordCommand({ StreamName: 'throttled', PartitionKey: 'p', Data: chunk }));
    await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'throttled', PartitionKey: 'p', Data: chunk })), 'ProvisionedThroughputExceededException');
    clock.advance(1000);
    await kinesis.send(new PutRecordCommand({ StreamName: 'throttled', PartitionKey: 'p', Data: chunk }));
  },
  { enforceThroughput: true },
);

bothTransports(
  'once a shard throttles an entry, it refuses the rest of that PutRecords call, so no later record of a key gets in ahead',
  async (t, { kinesis, clock }) => {
    await kinesis.send(new CreateStreamCommand({ StreamName: 'throttled', ShardCount: 1 }));
    clock.freeze();
    // 900 KiB leaves room for small records but not for the 200 KiB one: the small ones after it
    // would fit the byte budget, and still must wait behind it.
    await kinesis.send(new PutRecordCommand({ StreamName: 'throttled', PartitionKey: 'k', Data: Buffer.alloc(900 * 1024) }));
    const result = await kinesis.send(
      new PutRecordsCommand({
        StreamName: 'throttled',
        Records: [
          { PartitionKey: 'k', Data: Buffer.from('small, fits') },
          { PartitionKey: 'k', Data: Buffer.alloc(200 * 1024) },
          { PartitionKey: 'k', Data: Buffer.from('small, would fit') },
        ],
      }),
    );
    t.deepEqual(result.Records!.map((entry) => entry.ErrorCode ?? 'ok'), ['ok', 'ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException']);
  },
  { enforceThroughput: true },
);

bothTransports(
  'more than 5 GetRecords a second on one shard is ProvisionedThroughputExceededException',
  async (t, { kinesis, clock }) => {
    await kinesis.send(new CreateStreamCommand({ StreamName: 'throttled', ShardCount: 2 }));
    await kinesis.send(new PutRecordCommand({ StreamName: 'throttled', PartitionKey: 'p', ExplicitHashKey: '0', Data: Buffer.from('x') }));
    const iterator = async (shardId: string) =>
      (await kinesis.send(new GetShardIteratorCommand({ StreamName: 'throttled', ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    const first = await iterator('shardId-000000000000');
    const other = await iterator('shardId-000000000001');
    clock.freeze();
    for (let i = 0; i < 5; i++) await kinesis.send(new GetRecordsCommand({ ShardIterator: first }));
    await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator: first })), 'ProvisionedThroughputExceededException');
    // The limit is per shard.
    await kinesis.send(new GetRecordsCommand({ ShardIterator: other }));
    clock.advance(1000);
    t.is((await kinesis.send(new GetRecordsCommand({ ShardIterator: first }))).Records!.length, 1);
  },
  { enforceThroughput: true },
);

bothTransports('without enforceThroughput the per-shard rates are not applied', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'free', ShardCount: 1 }));
  clock.freeze();
  for (let i = 0; i < 3; i++) {
    const result = await kinesis.send(new PutRecordsCommand({ StreamName: 'free', Records: Array.from({ length: 500 }, (_, j) => ({ PartitionKey: `${i}-${j}`, Data: Buffer.from('x') })) }));
    t.is(result.FailedRecordCount, 0);
  }
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'free', ShardId: 'shardId-000000000000', ShardIteratorType: 'LATEST' }));
  for (let i = 0; i < 8; i++) t.deepEqual((await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records, []);
});
