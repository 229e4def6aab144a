// Stream lifecycle through the real SDK: create, describe, list, delete, StreamARN addressing.

import {
  AddTagsToStreamCommand,
  CreateStreamCommand,
  DecreaseStreamRetentionPeriodCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  IncreaseStreamRetentionPeriodCommand,
  ListShardsCommand,
  ListStreamsCommand,
  ListTagsForStreamCommand,
  MergeShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  RemoveTagsFromStreamCommand,
  SplitShardCommand,
  StartStreamEncryptionCommand,
  StopStreamEncryptionCommand,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import net from 'node:net';
import { bothTransports, kinesisClient, rejectsWith } from '../helpers/kinesis.js';

const SPACE = 1n << 128n;

bothTransports('the client speaks the transport in the test title on the wire', async (t, { server, transport }) => {
  // A TCP relay in front of the server sees the first bytes of each connection.
  const heads: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((socket) => {
    const upstream = net.connect(server.port, '127.0.0.1');
    for (const end of [socket, upstream]) {
      sockets.add(end);
      end.on('error', () => {});
      end.on('close', () => (end === socket ? upstream : socket).destroy());
    }
    socket.once('data', (chunk: Buffer) => heads.push(chunk));
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const client = kinesisClient(`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`, transport);
  t.teardown(async () => {
    client.destroy();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => relay.close(resolve));
  });
  await client.send(new CreateStreamCommand({ StreamName: 'wire', ShardCount: 1 }));
  t.deepEqual((await client.send(new ListStreamsCommand({}))).StreamNames, ['wire']);
  const head = Buffer.concat(heads).toString('latin1');
  if (transport === 'h2') t.true(head.startsWith('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), JSON.stringify(head.slice(0, 30)));
  else t.regex(head, /^POST \/ HTTP\/1\.1\r\n/);
});

bothTransports('CreateStream PROVISIONED splits the hash key space evenly and DescribeStream shows it', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'meters', ShardCount: 3 }));
  const { StreamDescription: d } = await kinesis.send(new DescribeStreamCommand({ StreamName: 'meters' }));
  t.is(d!.StreamName, 'meters');
  t.is(d!.StreamARN, 'arn:aws:kinesis:us-east-1:000000000000:stream/meters');
  t.is(d!.StreamStatus, 'ACTIVE');
  t.is(d!.StreamModeDetails?.StreamMode, 'PROVISIONED');
  t.is(d!.RetentionPeriodHours, 24);
  t.is(d!.EncryptionType, 'NONE');
  t.false(d!.HasMoreShards);
  t.true(d!.StreamCreationTimestamp instanceof Date);
  t.true(Math.abs(d!.StreamCreationTimestamp!.getTime() - Date.now()) < 60_000);
  t.deepEqual(
    d!.Shards!.map((shard) => shard.ShardId),
    ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002'],
  );
  d!.Shards!.forEach((shard, i) => {
    t.is(BigInt(shard.HashKeyRange!.StartingHashKey!), (SPACE * BigInt(i)) / 3n);
    t.is(BigInt(shard.HashKeyRange!.EndingHashKey!), (SPACE * BigInt(i + 1)) / 3n - 1n);
    t.regex(shard.SequenceNumberRange!.StartingSequenceNumber!, /^\d{1,129}$/);
    t.is(shard.SequenceNumberRange!.EndingSequenceNumber, undefined);
    t.is(shard.ParentShardId, undefined);
  });
  t.is(d!.Shards![2]!.HashKeyRange!.EndingHashKey, (SPACE - 1n).toString());
});

bothTransports('two shards: the second starts at 2^127', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'pair', ShardCount: 2 }));
  const { StreamDescription: d } = await kinesis.send(new DescribeStreamCommand({ StreamName: 'pair' }));
  t.deepEqual(
    d!.Shards!.map((shard) => shard.HashKeyRange),
    [
      { StartingHashKey: '0', EndingHashKey: ((1n << 127n) - 1n).toString() },
      { StartingHashKey: (1n << 127n).toString(), EndingHashKey: (SPACE - 1n).toString() },
    ],
  );
});

bothTransports('CreateStream ON_DEMAND gets 4 shards', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'elastic', StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
  const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'elastic' }));
  t.is(s!.StreamModeDetails?.StreamMode, 'ON_DEMAND');
  t.is(s!.OpenShardCount, 4);
  const { StreamDescription: d } = await kinesis.send(new DescribeStreamCommand({ StreamName: 'elastic' }));
  t.deepEqual(
    d!.Shards!.map((shard) => BigInt(shard.HashKeyRange!.StartingHashKey!)),
    [0n, SPACE / 4n, SPACE / 2n, (3n * SPACE) / 4n],
  );
});

bothTransports('DescribeStream pages shards with Limit and ExclusiveStartShardId', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'paged', ShardCount: 5 }));
  const first = await kinesis.send(new DescribeStreamCommand({ StreamName: 'paged', Limit: 2 }));
  t.true(first.StreamDescription!.HasMoreShards);
  t.deepEqual(first.StreamDescription!.Shards!.map((shard) => shard.ShardId), ['shardId-000000000000', 'shardId-000000000001']);
  const seen = first.StreamDescription!.Shards!.map((shard) => shard.ShardId!);
  let last = seen[seen.length - 1];
  for (;;) {
    const page = await kinesis.send(new DescribeStreamCommand({ StreamName: 'paged', Limit: 2, ExclusiveStartShardId: last }));
    const ids = page.StreamDescription!.Shards!.map((shard) => shard.ShardId!);
    t.true(ids.length <= 2);
    seen.push(...ids);
    last = ids[ids.length - 1];
    if (!page.StreamDescription!.HasMoreShards) break;
  }
  t.deepEqual(seen, [0, 1, 2, 3, 4].map((i) => `shardId-00000000000${i}`));
});

bothTransports('DescribeStreamSummary reports counts, retention and record size', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'summary', ShardCount: 2 }));
  const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'summary' }));
  t.like(s, {
    StreamName: 'summary',
    StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/summary',
    StreamStatus: 'ACTIVE',
    RetentionPeriodHours: 24,
    OpenShardCount: 2,
    ConsumerCount: 0,
    EncryptionType: 'NONE',
    MaxRecordSizeInKiB: 1024,
  });
});

bothTransports('ListStreams pages with Limit and NextToken, and with ExclusiveStartStreamName', async (t, { kinesis }) => {
  const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
  for (const name of [...names].reverse()) await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));

  const first = await kinesis.send(new ListStreamsCommand({ Limit: 2 }));
  t.deepEqual(first.StreamNames, ['alpha', 'bravo']);
  t.true(first.HasMoreStreams);
  t.truthy(first.NextToken);
  t.deepEqual(
    first.StreamSummaries!.map((summary) => [summary.StreamName, summary.StreamARN, summary.StreamStatus, summary.StreamModeDetails?.StreamMode]),
    [
      ['alpha', 'arn:aws:kinesis:us-east-1:000000000000:stream/alpha', 'ACTIVE', 'PROVISIONED'],
      ['bravo', 'arn:aws:kinesis:us-east-1:000000000000:stream/bravo', 'ACTIVE', 'PROVISIONED'],
    ],
  );
  t.true(first.StreamSummaries![0]!.StreamCreationTimestamp instanceof Date);

  const collected = [...first.StreamNames!];
  let token = first.NextToken;
  while (token) {
    const page = await kinesis.send(new ListStreamsCommand({ Limit: 2, NextToken: token }));
    collected.push(...page.StreamNames!);
    t.is(page.HasMoreStreams, page.NextToken !== undefined);
    token = page.NextToken;
  }
  t.deepEqual(collected, names);

  const after = await kinesis.send(new ListStreamsCommand({ ExclusiveStartStreamName: 'charlie' }));
  t.deepEqual(after.StreamNames, ['delta', 'echo']);
  t.false(after.HasMoreStreams);
  t.is(after.NextToken, undefined);

  const all = await kinesis.send(new ListStreamsCommand({}));
  t.deepEqual(all.StreamNames, names);
});

bothTransports('ListStreams on an empty server returns no streams', async (t, { kinesis }) => {
  const page = await kinesis.send(new ListStreamsCommand({}));
  t.deepEqual(page.StreamNames, []);
  t.false(page.HasMoreStreams);
});

bothTransports('DeleteStream removes the stream; its name can be reused', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'doomed', ShardCount: 1 }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'doomed', PartitionKey: 'k', Data: Buffer.from('old') }));
  await kinesis.send(new DeleteStreamCommand({ StreamName: 'doomed' }));
  await rejectsWith(t, kinesis.send(new DescribeStreamCommand({ StreamName: 'doomed' })), 'ResourceNotFoundException');
  t.deepEqual((await kinesis.send(new ListStreamsCommand({}))).StreamNames, []);
  await rejectsWith(t, kinesis.send(new DeleteStreamCommand({ StreamName: 'doomed' })), 'ResourceNotFoundException');

  await kinesis.send(new CreateStreamCommand({ StreamName: 'doomed', ShardCount: 1 }));
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'doomed', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  t.deepEqual((await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records, [], 'records of the deleted stream are gone');
});

bothTransports('DeleteStream with registered consumers needs EnforceConsumerDeletion', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'fanout', ShardCount: 1 }));
  const arn = 'arn:aws:kinesis:us-east-1:000000000000:stream/fanout';
  await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'reader' }));
  await rejectsWith(t, kinesis.send(new DeleteStreamCommand({ StreamName: 'fanout' })), 'ResourceInUseException');
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'fanout' }))).StreamDescriptionSummary!.ConsumerCount, 1);
  await kinesis.send(new DeleteStreamCommand({ StreamName: 'fanout', EnforceConsumerDeletion: true }));
  await rejectsWith(t, kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'fanout' })), 'ResourceNotFoundException');
});

bothTransports('StreamARN works instead of StreamName', async (t, { kinesis }) => {
  const arn = 'arn:aws:kinesis:us-east-1:000000000000:stream/by-arn';
  await kinesis.send(new CreateStreamCommand({ StreamName: 'by-arn', ShardCount: 2 }));
  t.is((await kinesis.send(new DescribeStreamCommand({ StreamARN: arn }))).StreamDescription!.StreamName, 'by-arn');
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamARN: arn }))).StreamDescriptionSummary!.StreamName, 'by-arn');
  t.is((await kinesis.send(new ListShardsCommand({ StreamARN: arn }))).Shards!.length, 2);
  const put = await kinesis.send(new PutRecordCommand({ StreamARN: arn, PartitionKey: 'k', Data: Buffer.from('x') }));
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamARN: arn, ShardId: put.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
  t.truthy(ShardIterator);
  await rejectsWith(t, kinesis.send(new DescribeStreamCommand({ StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/nope' })), 'ResourceNotFoundException');
  // The same name in another account or region is another stream.
  await rejectsWith(t, kinesis.send(new DescribeStreamCommand({ StreamARN: 'arn:aws:kinesis:us-east-1:111111111111:stream/by-arn' })), 'ResourceNotFoundException');
  await rejectsWith(
    t,
    kinesis.send(new PutRecordCommand({ StreamARN: 'arn:aws:kinesis:eu-west-1:000000000000:stream/by-arn', PartitionKey: 'k', Data: Buffer.from('x') })),
    'ResourceNotFoundException',
  );
  await kinesis.send(new DeleteStreamCommand({ StreamARN: arn }));
  t.deepEqual((await kinesis.send(new ListStreamsCommand({}))).StreamNames, []);
});

bothTransports('every stream operation that takes a StreamName also takes the StreamARN alone', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'arn-only', ShardCount: 2 }));
  const StreamARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/arn-only';
  const half = (1n << 127n).toString();
  await kinesis.send(new PutRecordsCommand({ StreamARN, Records: [{ PartitionKey: 'a', Data: Buffer.from('a') }] }));
  await kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamARN, RetentionPeriodHours: 48 }));
  await kinesis.send(new DecreaseStreamRetentionPeriodCommand({ StreamARN, RetentionPeriodHours: 24 }));
  await kinesis.send(new AddTagsToStreamCommand({ StreamARN, Tags: { a: '1', b: '2' } }));
  await kinesis.send(new RemoveTagsFromStreamCommand({ StreamARN, TagKeys: ['b'] }));
  t.deepEqual((await kinesis.send(new ListTagsForStreamCommand({ StreamARN }))).Tags, [{ Key: 'a', Value: '1' }]);
  await kinesis.send(new StartStreamEncryptionCommand({ StreamARN, EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
  await kinesis.send(new StopStreamEncryptionCommand({ StreamARN, EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
  await kinesis.send(new SplitShardCommand({ StreamARN, ShardToSplit: 'shardId-000000000001', NewStartingHashKey: (BigInt(half) + 1000n).toString() }));
  await kinesis.send(new MergeShardsCommand({ StreamARN, ShardToMerge: 'shardId-000000000002', AdjacentShardToMerge: 'shardId-000000000003' }));
  await kinesis.send(new UpdateShardCountCommand({ StreamARN, TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' }));
  const summary = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamARN }))).StreamDescriptionSummary!;
  t.like(summary, { StreamName: 'arn-only', OpenShardCount: 3, RetentionPeriodHours: 24, EncryptionType: 'NONE' });
  await kinesis.send(new DeleteStreamCommand({ StreamARN }));
  await rejectsWith(t, kinesis.send(new DescribeStreamSummaryCommand({ StreamARN })), 'ResourceNotFoundException');
});

bothTransports('ListShards lists the stream shards and pages with NextToken', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'listed', ShardCount: 3 }));
  const first = await kinesis.send(new ListShardsCommand({ StreamName: 'listed', MaxResults: 2 }));
  t.deepEqual(first.Shards!.map((shard) => shard.ShardId), ['shardId-000000000000', 'shardId-000000000001']);
  t.truthy(first.NextToken);
  const second = await kinesis.send(new ListShardsCommand({ NextToken: first.NextToken, MaxResults: 2 }));
  t.deepEqual(second.Shards!.map((shard) => shard.ShardId), ['shardId-000000000002']);
  t.is(second.NextToken, undefined);
  const after = await kinesis.send(new ListShardsCommand({ StreamName: 'listed', ExclusiveStartShardId: 'shardId-000000000000' }));
  t.is(after.Shards!.length, 2);
});

bothTransports('a stream is CREATING until stateChangeMs has passed', async (t, { kinesis, clock }) => {
  clock.freeze();
  await kinesis.send(new CreateStreamCommand({ StreamName: 'slow', ShardCount: 1 }));
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'slow' }))).StreamDescriptionSummary!.StreamStatus, 'CREATING');
  await rejectsWith(t, kinesis.send(new PutRecordCommand({ StreamName: 'slow', PartitionKey: 'k', Data: Buffer.from('early') })), 'ResourceNotFoundException');
  clock.advance(1000);
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'slow' }))).StreamDescriptionSummary!.StreamStatus, 'ACTIVE');
  t.truthy((await kinesis.send(new PutRecordCommand({ StreamName: 'slow', PartitionKey: 'k', Data: Buffer.from('on time') }))).SequenceNumber);
}, { settings: { stateChangeMs: 500 } });
