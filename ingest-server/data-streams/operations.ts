import type { EventStreamResponse } from '../protocol/event-stream-response.js';
import type { Input } from '../protocol/input.js';
import * as consumers from './consumers.js';
import type { DataStreamsContext } from './context.js';
import { listShards } from './list-shards.js';
import * as records from './records.js';
import * as resharding from './resharding.js';
import * as streams from './streams.js';
import { subscribeToShard } from './subscribe.js';
import * as tags from './tags.js';

export type Operation = (ctx: DataStreamsContext, input: Input) => Promise<object | EventStreamResponse>;

/** Every Kinesis operation this server speaks, by the name in `x-amz-target: Kinesis_20131202.<name>`. */
export const OPERATIONS: Record<string, Operation> = {
  CreateStream: streams.createStream,
  DeleteStream: streams.deleteStream,
  DescribeStream: streams.describeStream,
  DescribeStreamSummary: streams.describeStreamSummary,
  ListStreams: streams.listStreams,
  ListShards: listShards,
  IncreaseStreamRetentionPeriod: streams.increaseStreamRetentionPeriod,
  DecreaseStreamRetentionPeriod: streams.decreaseStreamRetentionPeriod,
  UpdateStreamMode: streams.updateStreamMode,
  DescribeLimits: streams.describeLimits,
  UpdateMaxRecordSize: streams.updateMaxRecordSize,
  StartStreamEncryption: streams.startStreamEncryption,
  StopStreamEncryption: streams.stopStreamEncryption,
  PutRecord: records.putRecord,
  PutRecords: records.putRecords,
  GetShardIterator: records.getShardIterator,
  GetRecords: records.getRecords,
  SplitShard: resharding.splitShard,
  MergeShards: resharding.mergeShards,
  UpdateShardCount: resharding.updateShardCount,
  RegisterStreamConsumer: consumers.registerStreamConsumer,
  DescribeStreamConsumer: consumers.describeStreamConsumer,
  ListStreamConsumers: consumers.listStreamConsumers,
  DeregisterStreamConsumer: consumers.deregisterStreamConsumer,
  SubscribeToShard: subscribeToShard,
  AddTagsToStream: tags.addTagsToStream,
  RemoveTagsFromStream: tags.removeTagsFromStream,
  ListTagsForStream: tags.listTagsForStream,
  TagResource: tags.tagResource,
  UntagResource: tags.untagResource,
  ListTagsForResource: tags.listTagsForResource,
};

export const TARGET_PREFIX = 'Kinesis_20131202.';
