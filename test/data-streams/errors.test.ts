// Errors as the real SDK surfaces them: `error.name` is the AWS error name a user's catch block
// tests, with the HTTP status and a message naming what was wrong.

import {
  AddTagsToStreamCommand,
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  IncreaseStreamRetentionPeriodCommand,
  ListShardsCommand,
  ListStreamConsumersCommand,
  ListStreamsCommand,
  ListTagsForStreamCommand,
  MergeShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SplitShardCommand,
  StartStreamEncryptionCommand,
  UpdateMaxRecordSizeCommand,
  UpdateShardCountCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { bothTransports, rejectsWith } from '../helpers/kinesis.js';

const GHOST_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/ghost';

function everyOperationOn(kinesis: KinesisClient): [string, () => Promise<unknown>][] {
  const StreamName = 'ghost';
  return [
    ['DescribeStream', () => kinesis.send(new DescribeStreamCommand({ StreamName }))],
    ['DescribeStreamSummary', () => kinesis.send(new DescribeStreamSummaryCommand({ StreamName }))],
    ['DeleteStream', () => kinesis.send(new DeleteStreamCommand({ StreamName }))],
    ['ListShards', () => kinesis.send(new ListShardsCommand({ StreamName }))],
    ['PutRecord', () => kinesis.send(new PutRecordCommand({ StreamName, PartitionKey: 'p', Data: Buffer.from('x') }))],
    ['PutRecords', () => kinesis.send(new PutRecordsCommand({ StreamName, Records: [{ PartitionKey: 'p', Data: Buffer.from('x') }] }))],
    ['GetShardIterator', () => kinesis.send(new GetShardIteratorCommand({ StreamName, ShardId: 'shardId-000000000000', ShardIteratorType: 'LATEST' }))],
    ['IncreaseStreamRetentionPeriod', () => kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName, RetentionPeriodHours: 48 }))],
    ['SplitShard', () => kinesis.send(new SplitShardCommand({ StreamName, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: '10' }))],
    ['MergeShards', () => kinesis.send(new MergeShardsCommand({ StreamName, ShardToMerge: 'shardId-000000000000', AdjacentShardToMerge: 'shardId-000000000001' }))],
    ['UpdateShardCount', () => kinesis.send(new UpdateShardCountCommand({ StreamName, TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' }))],
    ['AddTagsToStream', () => kinesis.send(new AddTagsToStreamCommand({ StreamName, Tags: { a: 'b' } }))],
    ['ListTagsForStream', () => kinesis.send(new ListTagsForStreamCommand({ StreamName }))],
    ['StartStreamEncryption', () => kinesis.send(new StartStreamEncryptionCommand({ StreamName, EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }))],
    ['UpdateMaxRecordSize', () => kinesis.send(new UpdateMaxRecordSizeCommand({ StreamARN: GHOST_ARN, MaxRecordSizeInKiB: 2048 }))],
    ['RegisterStreamConsumer', () => kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: GHOST_ARN, ConsumerName: 'c' }))],
    ['ListStreamConsumers', () => kinesis.send(new ListStreamConsumersCommand({ StreamARN: GHOST_ARN }))],
  ];
}

bothTransports('an unknown stream is ResourceNotFoundException (HTTP 400) for every operation that names one', async (t, { kinesis }) => {
  for (const [operation, call] of everyOperationOn(kinesis)) {
    const error = await rejectsWith(t, call(), 'ResourceNotFoundException');
    t.is(error.$metadata?.httpStatusCode, 400, operation);
    t.regex(error.message, /ghost/, operation);
    t.is((error as { $fault?: string }).$fault, 'client', operation);
  }
});

bothTransports('CreateStream with a name in use is ResourceInUseException', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'taken', ShardCount: 1 }));
  await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'taken', ShardCount: 2 })), 'ResourceInUseException');
  await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'taken', StreamModeDetails: { StreamMode: 'ON_DEMAND' } })), 'ResourceInUseException');
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'taken' }))).StreamDescriptionSummary!.OpenShardCount, 1);
});

bothTransports('malformed input is ValidationException naming the member', async (t, { kinesis }) => {
  for (const name of ['bad name!', 'x'.repeat(129), 'slash/name']) {
    const error = await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 })), 'ValidationException');
    t.regex(error.message, /streamName/);
  }
  await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'zero', ShardCount: 0 })), 'ValidationException');
  await kinesis.send(new CreateStreamCommand({ StreamName: 'v.a_l-1d', ShardCount: 1 }));

  const longKey = 'k'.repeat(257);
  const error = await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'v.a_l-1d', PartitionKey: longKey, Data: Buffer.from('x') })), 'ValidationException');
  t.regex(error.message, /partitionKey/);
  await rejectsWith(
    t,
    kinesis.send(new PutRecordsCommand({ StreamName: 'v.a_l-1d', Records: [{ PartitionKey: 'ok', Data: Buffer.from('x') }, { PartitionKey: longKey, Data: Buffer.from('x') }] })),
    'ValidationException',
  );
  // 256 characters is the limit, counted as characters rather than bytes.
  const put = await kinesis.send(new PutRecordCommand({ StreamName: 'v.a_l-1d', PartitionKey: 'é'.repeat(256), Data: Buffer.from('x') }));
  t.truthy(put.SequenceNumber);

  const records = (count: number) => Array.from({ length: count }, (_, i) => ({ PartitionKey: `p${i}`, Data: Buffer.from('x') }));
  await rejectsWith(t, kinesis.send(new PutRecordsCommand({ StreamName: 'v.a_l-1d', Records: records(501) })), 'ValidationException');
  await rejectsWith(t, kinesis.send(new PutRecordsCommand({ StreamName: 'v.a_l-1d', Records: [] })), 'ValidationException');
  await rejectsWith(t, kinesis.send(new ListStreamsCommand({ Limit: 0 })), 'ValidationException');
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'v.a_l-1d', ShardId: 'shardId-000000000000', ShardIteratorType: 'LATEST' }));
  await rejectsWith(t, kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 10001 })), 'ValidationException');
  await rejectsWith(
    t,
    kinesis.send(new GetShardIteratorCommand({ StreamName: 'v.a_l-1d', ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: 'abc' })),
    'ValidationException',
  );
});

bothTransports('out-of-range arguments are InvalidArgumentException', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'args', ShardCount: 1 }));
  const tooHigh = (1n << 128n).toString();
  const error = await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'args', PartitionKey: 'p', ExplicitHashKey: tooHigh, Data: Buffer.from('x') })), 'InvalidArgumentException');
  t.regex(error.message, /ExplicitHashKey/);
  await rejectsWith(
    t,
    kinesis.send(new PutRecordsCommand({ StreamName: 'args', Records: [{ PartitionKey: 'p', ExplicitHashKey: tooHigh, Data: Buffer.from('x') }] })),
    'InvalidArgumentException',
  );
  await rejectsWith(t, kinesis.send(new DescribeStreamSummaryCommand({})), 'InvalidArgumentException');
  await rejectsWith(
    t,
    kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'args', StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/other' })),
    'InvalidArgumentException',
  );
  await rejectsWith(
    t,
    kinesis.send(new GetShardIteratorCommand({ StreamName: 'args', ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: '12345' })),
    'InvalidArgumentException',
  );
});

bothTransports('list tokens: a made-up one is InvalidArgumentException, an old one ExpiredNextTokenException', async (t, { kinesis, clock }) => {
  for (const name of ['a', 'b', 'c']) await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
  await rejectsWith(t, kinesis.send(new ListStreamsCommand({ NextToken: 'bm90LWEtdG9rZW4' })), 'InvalidArgumentException');
  const { NextToken: streamsToken } = await kinesis.send(new ListStreamsCommand({ Limit: 1 }));
  const { NextToken: shardsToken } = await kinesis.send(new ListShardsCommand({ StreamName: 'a', MaxResults: 1 }));
  await rejectsWith(t, kinesis.send(new ListShardsCommand({ NextToken: streamsToken })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new ListShardsCommand({ NextToken: shardsToken, StreamName: 'a' })), 'InvalidArgumentException');
  t.deepEqual((await kinesis.send(new ListStreamsCommand({ NextToken: streamsToken }))).StreamNames, ['b', 'c']);
  clock.advance(301_000);
  await rejectsWith(t, kinesis.send(new ListStreamsCommand({ NextToken: streamsToken })), 'ExpiredNextTokenException');
  await rejectsWith(t, kinesis.send(new ListShardsCommand({ NextToken: shardsToken })), 'ExpiredNextTokenException');
});
