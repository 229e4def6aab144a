// Enhanced fan-out through the real SDK: consumer registration, and SubscribeToShard read with
// `for await` over the SDK's event stream. The SDK speaks the event stream over HTTP/1.1
// (NodeHttpHandler) as well as over HTTP/2, so these tests run on both transports too.

import type { ExecutionContext } from 'ava';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DeregisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  ListStreamConsumersCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SplitShardCommand,
  SubscribeToShardCommand,
  type KinesisClient,
  type SubscribeToShardEvent,
  type SubscribeToShardInput,
  type _Record,
} from '@aws-sdk/client-kinesis';
import { bothTransports, rejectsWith } from '../helpers/kinesis.js';

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/fan';
const SHARD = 'shardId-000000000000';
const EVENT_TIMEOUT_MS = 5000;
const text = (record: _Record) => Buffer.from(record.Data!).toString();

interface Subscription {
  /** The next SubscribeToShardEvent, or undefined once the server ends the stream. */
  next(): Promise<SubscribeToShardEvent | undefined>;
  close(): void;
}

async function subscribe(t: ExecutionContext, kinesis: KinesisClient, input: SubscribeToShardInput): Promise<Subscription> {
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const response = await kinesis.send(new SubscribeToShardCommand(input), { abortSignal: abort.signal });
  const events = response.EventStream![Symbol.asyncIterator]();
  return {
    async next() {
      const pending = events.next();
      pending.catch(() => {});
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no event within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
      });
      try {
        const result = await Promise.race([pending, timeout]);
        if (result.done) return undefined;
        if (!result.value.SubscribeToShardEvent) throw new Error(`unexpected event ${Object.keys(result.value).join()}`);
        return result.value.SubscribeToShardEvent;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => abort.abort(),
  };
}

/**
 * Resolves once the subscription ends. Heartbeat events (no records) that were already on their
 * way when the end was asked for may still arrive first; a record may not.
 */
async function ends(t: ExecutionContext, subscription: Subscription): Promise<void> {
  for (let event = await subscription.next(); event !== undefined; event = await subscription.next()) {
    t.deepEqual(event.Records, []);
  }
}

/** Reads events until `count` records have come; returns them and the last event. */
async function collect(subscription: Subscription, count: number): Promise<{ records: _Record[]; last: SubscribeToShardEvent }> {
  const records: _Record[] = [];
  for (;;) {
    const event = await subscription.next();
    if (!event) throw new Error(`stream ended after ${records.length} of ${count} records`);
    records.push(...event.Records!);
    if (records.length >= count) return { records, last: event };
  }
}

async function streamWithConsumer(kinesis: KinesisClient, shards = 1, name = 'reader'): Promise<string> {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'fan', ShardCount: shards }));
  const { Consumer } = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: name }));
  return Consumer!.ConsumerARN!;
}

async function put(kinesis: KinesisClient, values: string[], explicitHashKey = '0') {
  return (
    await kinesis.send(new PutRecordsCommand({ StreamName: 'fan', Records: values.map((value) => ({ PartitionKey: value, ExplicitHashKey: explicitHashKey, Data: Buffer.from(value) })) }))
  ).Records!;
}

bothTransports('Register, Describe, List and DeregisterStreamConsumer', async (t, { kinesis, clock }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'fan', ShardCount: 1 }));
  const before = clock.now();
  const { Consumer } = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'billing' }));
  t.is(Consumer!.ConsumerName, 'billing');
  const match = /^(.+)\/consumer\/billing:(\d+)$/.exec(Consumer!.ConsumerARN!);
  t.truthy(match, Consumer!.ConsumerARN);
  t.is(match![1], STREAM_ARN);
  const epoch = Number(match![2]);
  t.true(Math.abs(epoch - Math.floor(before / 1000)) <= 1);
  t.is(Math.floor(Consumer!.ConsumerCreationTimestamp!.getTime() / 1000), epoch);

  const byArn = await kinesis.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer!.ConsumerARN }));
  t.like(byArn.ConsumerDescription, { ConsumerName: 'billing', ConsumerARN: Consumer!.ConsumerARN, ConsumerStatus: 'ACTIVE', StreamARN: STREAM_ARN });
  const byName = await kinesis.send(new DescribeStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'billing' }));
  t.is(byName.ConsumerDescription!.ConsumerARN, Consumer!.ConsumerARN);
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'fan' }))).StreamDescriptionSummary!.ConsumerCount, 1);

  await rejectsWith(t, kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'billing' })), 'ResourceInUseException');
  await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'audit' }));
  const listed = await kinesis.send(new ListStreamConsumersCommand({ StreamARN: STREAM_ARN }));
  t.deepEqual(listed.Consumers!.map((consumer) => consumer.ConsumerName), ['audit', 'billing']);
  t.is(listed.NextToken, undefined);

  await kinesis.send(new DeregisterStreamConsumerCommand({ ConsumerARN: Consumer!.ConsumerARN }));
  await rejectsWith(t, kinesis.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer!.ConsumerARN })), 'ResourceNotFoundException');
  await kinesis.send(new DeregisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'audit' }));
  t.deepEqual((await kinesis.send(new ListStreamConsumersCommand({ StreamARN: STREAM_ARN }))).Consumers, []);
  await rejectsWith(t, kinesis.send(new DeregisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'audit' })), 'ResourceNotFoundException');
  await rejectsWith(
    t,
    kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/none', ConsumerName: 'x' })),
    'ResourceNotFoundException',
  );
});

bothTransports('ListStreamConsumers pages; a stream takes at most 20 consumers', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'fan', ShardCount: 1 }));
  const names = Array.from({ length: 20 }, (_, i) => `consumer-${String(i).padStart(2, '0')}`);
  for (const name of names) await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: name }));
  await rejectsWith(t, kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'one-too-many' })), 'LimitExceededException');

  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListStreamConsumersCommand({ StreamARN: STREAM_ARN, MaxResults: 7, ...(token ? { NextToken: token } : {}) }));
    t.true(page.Consumers!.length <= 7);
    seen.push(...page.Consumers!.map((consumer) => consumer.ConsumerName!));
    token = page.NextToken;
  } while (token);
  t.deepEqual(seen, names);
});

bothTransports(
  'a consumer is CREATING for stateChangeMs and cannot subscribe until ACTIVE',
  async (t, { kinesis, clock }) => {
    // Frozen, so only advance() moves the server past stateChangeMs, however slow the machine.
    clock.freeze();
    await kinesis.send(new CreateStreamCommand({ StreamName: 'fan', ShardCount: 1 }));
    clock.advance(300);
    const { Consumer } = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'slow' }));
    t.is(Consumer!.ConsumerStatus, 'CREATING');
    await rejectsWith(
      t,
      kinesis.send(new SubscribeToShardCommand({ ConsumerARN: Consumer!.ConsumerARN, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } })),
      'ResourceInUseException',
    );
    clock.advance(300);
    t.is((await kinesis.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer!.ConsumerARN }))).ConsumerDescription!.ConsumerStatus, 'ACTIVE');
    const subscription = await subscribe(t, kinesis, { ConsumerARN: Consumer!.ConsumerARN, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } });
    t.truthy(await subscription.next());
  },
  { settings: { stateChangeMs: 200 } },
);

bothTransports('SubscribeToShard from LATEST receives records put after subscribing', async (t, { kinesis }) => {
  const consumerArn = await streamWithConsumer(kinesis);
  await put(kinesis, ['old-1', 'old-2']);
  const subscription = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } });
  const first = await subscription.next();
  t.deepEqual(first!.Records, [], 'the first event says where LATEST is');
  t.truthy(first!.ContinuationSequenceNumber);
  const written = await put(kinesis, ['new-1', 'new-2', 'new-3']);
  const { records, last } = await collect(subscription, 3);
  t.deepEqual(records.map(text), ['new-1', 'new-2', 'new-3']);
  t.deepEqual(records.map((record) => record.SequenceNumber), written.map((entry) => entry.SequenceNumber));
  t.is(last.ContinuationSequenceNumber, written[2]!.SequenceNumber);
  t.is(last.MillisBehindLatest, 0);
  t.true(records.every((record) => record.ApproximateArrivalTimestamp instanceof Date && record.PartitionKey === text(record)));
});

bothTransports('SubscribeToShard from TRIM_HORIZON, then resumes AFTER its ContinuationSequenceNumber', async (t, { kinesis, clock }) => {
  const consumerArn = await streamWithConsumer(kinesis);
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
  await kinesis.send(new PutRecordCommand({ StreamName: 'fan', PartitionKey: 'bin', Data: binary }));
  await put(kinesis, ['a', 'b', 'c']);
  const first = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'TRIM_HORIZON' } });
  const { records, last } = await collect(first, 4);
  t.true(Buffer.from(records[0]!.Data!).equals(binary));
  t.deepEqual(records.slice(1).map(text), ['a', 'b', 'c']);
  t.is(last.ContinuationSequenceNumber, records[3]!.SequenceNumber);
  first.close();

  await put(kinesis, ['d', 'e']);
  clock.advance(6000);
  const resumed = await subscribe(t, kinesis, {
    ConsumerARN: consumerArn,
    ShardId: SHARD,
    StartingPosition: { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: last.ContinuationSequenceNumber },
  });
  t.deepEqual((await collect(resumed, 2)).records.map(text), ['d', 'e']);
  resumed.close();

  clock.advance(6000);
  const at = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'AT_SEQUENCE_NUMBER', SequenceNumber: records[2]!.SequenceNumber } });
  t.deepEqual((await collect(at, 4)).records.map(text), ['b', 'c', 'd', 'e']);
});

bothTransports('SubscribeToShard from AT_TIMESTAMP starts at the first record at or after it', async (t, { kinesis, clock }) => {
  const consumerArn = await streamWithConsumer(kinesis);
  await put(kinesis, ['early']);
  clock.advance(10_000);
  const boundary = new Date(clock.now());
  await put(kinesis, ['late-1', 'late-2']);
  const subscription = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'AT_TIMESTAMP', Timestamp: boundary } });
  t.deepEqual((await collect(subscription, 2)).records.map(text), ['late-1', 'late-2']);
});

bothTransports('SubscribeToShard on a closed shard ends with ChildShards', async (t, { kinesis }) => {
  const consumerArn = await streamWithConsumer(kinesis);
  await put(kinesis, ['x', 'y']);
  await kinesis.send(new SplitShardCommand({ StreamName: 'fan', ShardToSplit: SHARD, NewStartingHashKey: (1n << 127n).toString() }));
  const subscription = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'TRIM_HORIZON' } });
  const events: SubscribeToShardEvent[] = [];
  for (let event = await subscription.next(); event; event = await subscription.next()) events.push(event);
  t.deepEqual(events.flatMap((event) => event.Records!).map(text), ['x', 'y']);
  const final = events[events.length - 1]!;
  t.deepEqual(final.ChildShards, [
    { ShardId: 'shardId-000000000001', ParentShards: [SHARD], HashKeyRange: { StartingHashKey: '0', EndingHashKey: ((1n << 127n) - 1n).toString() } },
    { ShardId: 'shardId-000000000002', ParentShards: [SHARD], HashKeyRange: { StartingHashKey: (1n << 127n).toString(), EndingHashKey: ((1n << 128n) - 1n).toString() } },
  ]);
  t.true(events.slice(0, -1).every((event) => event.ChildShards === undefined));

  // A child that has nothing yet is an ordinary open subscription.
  const child = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: 'shardId-000000000001', StartingPosition: { Type: 'TRIM_HORIZON' } });
  await put(kinesis, ['z']);
  t.deepEqual((await collect(child, 1)).records.map(text), ['z']);
});

bothTransports('a second subscription to the same shard within 5 s is ResourceInUseException', async (t, { kinesis, clock, newClient }) => {
  const consumerArn = await streamWithConsumer(kinesis, 2);
  const { Consumer: other } = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'other' }));
  const first = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } });
  t.truthy(await first.next());

  const second = newClient();
  await rejectsWith(
    t,
    second.send(new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } })),
    'ResourceInUseException',
  );
  // Another shard, or another consumer on the same shard, is a different subscription.
  t.truthy(await (await subscribe(t, second, { ConsumerARN: consumerArn, ShardId: 'shardId-000000000001', StartingPosition: { Type: 'LATEST' } })).next());
  t.truthy(await (await subscribe(t, second, { ConsumerARN: other!.ConsumerARN, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } })).next());

  // After 5 s a new subscription takes over and the old one ends.
  clock.advance(5001);
  const replacement = await subscribe(t, second, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } });
  t.truthy(await replacement.next());
  let ended = false;
  for (let i = 0; i < 3 && !ended; i++) ended = (await first.next()) === undefined;
  t.true(ended, 'the replaced subscription ends');
  await put(kinesis, ['after takeover']);
  t.deepEqual((await collect(replacement, 1)).records.map(text), ['after takeover']);
});

bothTransports('deregistering the consumer or deleting the stream ends its subscriptions', async (t, { kinesis }) => {
  const consumerArn = await streamWithConsumer(kinesis);
  const { Consumer: other } = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'other' }));
  const byConsumer = await subscribe(t, kinesis, { ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } });
  const byStream = await subscribe(t, kinesis, { ConsumerARN: other!.ConsumerARN, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } });
  t.truthy(await byConsumer.next());
  t.truthy(await byStream.next());

  await kinesis.send(new DeregisterStreamConsumerCommand({ ConsumerARN: consumerArn }));
  await ends(t, byConsumer);
  await rejectsWith(
    t,
    kinesis.send(new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } })),
    'ResourceNotFoundException',
  );

  await kinesis.send(new DeleteStreamCommand({ StreamName: 'fan', EnforceConsumerDeletion: true }));
  await ends(t, byStream);
});

bothTransports('SubscribeToShard refuses an unknown shard or consumer', async (t, { kinesis }) => {
  const consumerArn = await streamWithConsumer(kinesis);
  await rejectsWith(
    t,
    kinesis.send(new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: 'shardId-000000000005', StartingPosition: { Type: 'LATEST' } })),
    'ResourceNotFoundException',
  );
  await rejectsWith(
    t,
    kinesis.send(new SubscribeToShardCommand({ ConsumerARN: `${STREAM_ARN}/consumer/ghost:1700000000`, ShardId: SHARD, StartingPosition: { Type: 'LATEST' } })),
    'ResourceNotFoundException',
  );
});
