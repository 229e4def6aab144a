// Tagging through the real SDK: the stream-scoped operations and the ARN-scoped ones, for
// streams and consumers.

import {
  AddTagsToStreamCommand,
  CreateStreamCommand,
  ListTagsForResourceCommand,
  ListTagsForStreamCommand,
  RegisterStreamConsumerCommand,
  RemoveTagsFromStreamCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-kinesis';
import { bothTransports, rejectsWith } from '../helpers/kinesis.js';

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/tagged';

bothTransports('AddTagsToStream, ListTagsForStream and RemoveTagsFromStream', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'tagged', ShardCount: 1, Tags: { team: 'grid', env: 'test' } }));
  t.deepEqual((await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }))).Tags, [
    { Key: 'env', Value: 'test' },
    { Key: 'team', Value: 'grid' },
  ]);
  await kinesis.send(new AddTagsToStreamCommand({ StreamName: 'tagged', Tags: { env: 'prod', site: 'north', owner: '' } }));
  const all = await kinesis.send(new ListTagsForStreamCommand({ StreamARN: STREAM_ARN }));
  t.deepEqual(all.Tags, [
    { Key: 'env', Value: 'prod' },
    { Key: 'owner', Value: '' },
    { Key: 'site', Value: 'north' },
    { Key: 'team', Value: 'grid' },
  ]);
  t.false(all.HasMoreTags);

  const first = await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged', Limit: 2 }));
  t.deepEqual(first.Tags!.map((tag) => tag.Key), ['env', 'owner']);
  t.true(first.HasMoreTags);
  const rest = await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged', Limit: 2, ExclusiveStartTagKey: 'owner' }));
  t.deepEqual(rest.Tags!.map((tag) => tag.Key), ['site', 'team']);
  t.false(rest.HasMoreTags);

  await kinesis.send(new RemoveTagsFromStreamCommand({ StreamName: 'tagged', TagKeys: ['env', 'site', 'not-there'] }));
  t.deepEqual((await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }))).Tags!.map((tag) => tag.Key), ['owner', 'team']);
  await rejectsWith(t, kinesis.send(new AddTagsToStreamCommand({ StreamName: 'untagged', Tags: { a: 'b' } })), 'ResourceNotFoundException');
  await rejectsWith(t, kinesis.send(new ListTagsForStreamCommand({ StreamName: 'untagged' })), 'ResourceNotFoundException');
});

bothTransports('a stream holds at most 50 tags', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'tagged', ShardCount: 1 }));
  const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key-${String(i).padStart(2, '0')}`, `value-${i}`]));
  await kinesis.send(new AddTagsToStreamCommand({ StreamName: 'tagged', Tags: fifty }));
  const listed = await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }));
  t.is(listed.Tags!.length, 50);
  t.false(listed.HasMoreTags);
  await rejectsWith(t, kinesis.send(new AddTagsToStreamCommand({ StreamName: 'tagged', Tags: { 'one-more': 'x' } })), 'LimitExceededException');
  await rejectsWith(t, kinesis.send(new TagResourceCommand({ ResourceARN: STREAM_ARN, Tags: { 'one-more': 'x' } })), 'LimitExceededException');
  // The limit holds for tags given at creation too, and their keys are checked the same way.
  const fiftyOne = { ...fifty, 'one-more': 'x' };
  await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'crowded', ShardCount: 1, Tags: fiftyOne })), 'LimitExceededException');
  await rejectsWith(t, kinesis.send(new CreateStreamCommand({ StreamName: 'crowded', ShardCount: 1, Tags: { ['k'.repeat(129)]: 'v' } })), 'InvalidArgumentException');
  await rejectsWith(t, kinesis.send(new ListTagsForStreamCommand({ StreamName: 'crowded' })), 'ResourceNotFoundException');
  await rejectsWith(t, kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'crowded', Tags: fiftyOne })), 'LimitExceededException');
  // Overwriting an existing key does not add one.
  await kinesis.send(new AddTagsToStreamCommand({ StreamName: 'tagged', Tags: { 'key-00': 'changed' } }));
  const after = await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }));
  t.is(after.Tags!.length, 50);
  t.deepEqual(after.Tags![0], { Key: 'key-00', Value: 'changed' });
});

bothTransports('TagResource, UntagResource and ListTagsForResource on a stream ARN and a consumer ARN', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'tagged', ShardCount: 1, Tags: { scope: 'stream' } }));
  const { Consumer } = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'tagged-reader', Tags: { scope: 'consumer' } }));
  const consumerArn = Consumer!.ConsumerARN!;
  t.deepEqual((await kinesis.send(new ListTagsForResourceCommand({ ResourceARN: consumerArn }))).Tags, [{ Key: 'scope', Value: 'consumer' }]);

  await kinesis.send(new TagResourceCommand({ ResourceARN: STREAM_ARN, Tags: { cost: 'ops', tier: 'gold' } }));
  await kinesis.send(new TagResourceCommand({ ResourceARN: consumerArn, Tags: { app: 'billing' } }));
  t.deepEqual((await kinesis.send(new ListTagsForResourceCommand({ ResourceARN: STREAM_ARN }))).Tags, [
    { Key: 'cost', Value: 'ops' },
    { Key: 'scope', Value: 'stream' },
    { Key: 'tier', Value: 'gold' },
  ]);
  t.deepEqual((await kinesis.send(new ListTagsForResourceCommand({ ResourceARN: consumerArn }))).Tags, [
    { Key: 'app', Value: 'billing' },
    { Key: 'scope', Value: 'consumer' },
  ]);
  // The stream-scoped listing sees the same stream tags.
  t.is((await kinesis.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }))).Tags!.length, 3);

  await kinesis.send(new UntagResourceCommand({ ResourceARN: STREAM_ARN, TagKeys: ['tier', 'scope'] }));
  await kinesis.send(new UntagResourceCommand({ ResourceARN: consumerArn, TagKeys: ['scope'] }));
  t.deepEqual((await kinesis.send(new ListTagsForResourceCommand({ ResourceARN: STREAM_ARN }))).Tags, [{ Key: 'cost', Value: 'ops' }]);
  t.deepEqual((await kinesis.send(new ListTagsForResourceCommand({ ResourceARN: consumerArn }))).Tags, [{ Key: 'app', Value: 'billing' }]);

  await rejectsWith(t, kinesis.send(new ListTagsForResourceCommand({ ResourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/other' })), 'ResourceNotFoundException');
  await rejectsWith(t, kinesis.send(new TagResourceCommand({ ResourceARN: `${STREAM_ARN}/consumer/ghost:1700000000`, Tags: { a: 'b' } })), 'ResourceNotFoundException');
  await rejectsWith(t, kinesis.send(new ListTagsForResourceCommand({ ResourceARN: 'not-an-arn' })), 'InvalidArgumentException');
});
