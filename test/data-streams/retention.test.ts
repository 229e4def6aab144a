// Retention through the real SDK: the period's bounds and direction rules, and records older
// than the period disappearing from reads once the clock passes it.

import {
  CreateStreamCommand,
  DecreaseStreamRetentionPeriodCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  IncreaseStreamRetentionPeriodCommand,
  PutRecordCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { HOUR_MS, bothTransports, rejectsWith } from '../helpers/kinesis.js';

async function readData(kinesis: KinesisClient, stream: string): Promise<string[]> {
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  const page = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
  return page.Records!.map((record) => Buffer.from(record.Data!).toString());
}

async function retention(kinesis: KinesisClient, stream: string): Promise<number | undefined> {
  return (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary!.RetentionPeriodHours;
}

bothTransports('Increase/DecreaseStreamRetentionPeriod change the period within 24..8760 hours', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'kept', ShardCount: 1 }));
  t.is(await retention(kinesis, 'kept'), 24);
  await kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 8760 }));
  t.is(await retention(kinesis, 'kept'), 8760);
  await kinesis.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 48 }));
  t.is(await retention(kinesis, 'kept'), 48);
  await kinesis.send(new DecreaseStreamRetentionPeriodCommand({ StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/kept', RetentionPeriodHours: 24 }));
  t.is(await retention(kinesis, 'kept'), 24);

  await rejectsWith(t, kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 8761 })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 23 })), 'InvalidArgumentException');
  await kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 100 }));
  await rejectsWith(t, kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 50 })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: 'kept', RetentionPeriodHours: 200 })), 'InvalidArgumentException');
  t.is(await retention(kinesis, 'kept'), 100, 'refused changes leave the period alone');
  await rejectsWith(t, kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: 'absent', RetentionPeriodHours: 48 })), 'ResourceNotFoundException');
});

bothTransports('records older than the retention period are no longer returned', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'fading', ShardCount: 1 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'fading', PartitionKey: 'p', Data: Buffer.from('day 1') }));
  clock.advance(12 * HOUR_MS);
  await kinesis.send(new PutRecordCommand({ StreamName: 'fading', PartitionKey: 'p', Data: Buffer.from('day 1.5') }));
  clock.advance(11 * HOUR_MS);
  t.deepEqual(await readData(kinesis, 'fading'), ['day 1', 'day 1.5']);
  clock.advance(2 * HOUR_MS);
  t.deepEqual(await readData(kinesis, 'fading'), ['day 1.5'], 'past 24 h the first record is gone');
  await kinesis.send(new PutRecordCommand({ StreamName: 'fading', PartitionKey: 'p', Data: Buffer.from('day 2') }));
  t.deepEqual(await readData(kinesis, 'fading'), ['day 1.5', 'day 2']);
  clock.advance(20 * HOUR_MS);
  t.deepEqual(await readData(kinesis, 'fading'), ['day 2']);
});

bothTransports('a longer retention period keeps records that a shorter one drops', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'elastic', ShardCount: 1 }));
  await kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: 'elastic', RetentionPeriodHours: 72 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'elastic', PartitionKey: 'p', Data: Buffer.from('old') }));
  clock.advance(48 * HOUR_MS);
  await kinesis.send(new PutRecordCommand({ StreamName: 'elastic', PartitionKey: 'p', Data: Buffer.from('new') }));
  t.deepEqual(await readData(kinesis, 'elastic'), ['old', 'new']);
  await kinesis.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: 'elastic', RetentionPeriodHours: 24 }));
  t.deepEqual(await readData(kinesis, 'elastic'), ['new']);
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({ StreamName: 'elastic', ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(clock.now() - 60 * HOUR_MS) }),
  );
  t.deepEqual((await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records!.map((record) => Buffer.from(record.Data!).toString()), ['new']);
});
