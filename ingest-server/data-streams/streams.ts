import { InvalidArgumentException, LimitExceededException, ResourceInUseException, ResourceNotFoundException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import { Timestamp } from '../protocol/wire-values.js';
import { StaleStreamError, StreamExistsError } from '../storage/data-stream-store.js';
import type { DataStreamsContext } from './context.js';
import { splitEvenly } from './hash-key.js';
import type { ShardState, StreamMode, StreamState } from './model.js';
import { pageToken, readPageToken } from './page-token.js';
import { formatSequenceNumber, formatShardId } from './sequence-number.js';
import { openShards, visibleShards } from './shards.js';
import { checkTagCount, checkTags } from './tag-rules.js';

export const STREAM_NAME = { min: 1, max: 128, pattern: /[a-zA-Z0-9_.-]+/ };
export const STREAM_ARN = { min: 1, max: 2048, pattern: /arn:aws.*:kinesis:.*:\d{12}:stream\/\S+/ };
const ON_DEMAND_SHARDS = 4;
const MIN_RETENTION_HOURS = 24;
const MAX_RETENTION_HOURS = 8760;
const STREAM_MODES = ['PROVISIONED', 'ON_DEMAND'] as const;

/** The stream an operation names, by StreamName or StreamARN. */
export function streamNameOf(input: Input): string {
  const name = input.string('StreamName', STREAM_NAME);
  const arn = input.string('StreamARN', STREAM_ARN);
  const fromArn = arn?.slice(arn.indexOf(':stream/') + ':stream/'.length);
  if (name !== undefined && fromArn !== undefined && name !== fromArn) {
    throw new InvalidArgumentException(`StreamARN ${arn} does not match StreamName ${name}.`);
  }
  const chosen = name ?? fromArn;
  if (chosen === undefined) throw new InvalidArgumentException('Either StreamName or StreamARN should be provided.');
  return chosen;
}

export function streamArn(ctx: DataStreamsContext, name: string): string {
  return `arn:aws:kinesis:${ctx.settings.region}:${ctx.settings.accountId}:stream/${name}`;
}

export function statusOf(state: StreamState, now: number): 'CREATING' | 'UPDATING' | 'ACTIVE' {
  return now < state.settlesAt ? state.settlingStatus : 'ACTIVE';
}

export function notFound(ctx: DataStreamsContext, name: string): ResourceNotFoundException {
  return new ResourceNotFoundException(`Stream ${name} under account ${ctx.settings.accountId} not found.`);
}

/** The named stream in any state. */
export async function findStream(ctx: DataStreamsContext, input: Input): Promise<StreamState> {
  const name = streamNameOf(input);
  const state = await ctx.store.getStream(name);
  // An ARN also names an account and region: a stream of the same name here is not that one.
  const arn = input.string('StreamARN');
  if (!state || (arn !== undefined && arn !== state.arn)) throw notFound(ctx, name);
  return state;
}

/** The named stream, which must be ACTIVE: changes to a stream wait for the previous one. */
export async function findActiveStream(ctx: DataStreamsContext, input: Input): Promise<StreamState> {
  const state = await findStream(ctx, input);
  const status = statusOf(state, ctx.now());
  if (status !== 'ACTIVE') {
    throw new ResourceInUseException(`Stream ${state.name} under account ${ctx.settings.accountId} not ACTIVE, instead in state ${status}`);
  }
  return state;
}

/**
 * Applies a change to a stream's metadata and stores it as the next version. The change is
 * re-applied to a fresh copy if another request (or another node) wrote in between.
 */
export async function changeStream(
  ctx: DataStreamsContext,
  state: StreamState,
  change: (draft: StreamState) => void | Promise<void>,
): Promise<StreamState> {
  for (let current = state; ; ) {
    const draft = structuredClone(current);
    await change(draft);
    draft.version = current.version + 1;
    try {
      await ctx.store.updateStream(draft);
      return draft;
    } catch (error) {
      if (!(error instanceof StaleStreamError)) throw error;
      const fresh = await ctx.store.getStream(state.name);
      if (!fresh || fresh.uid !== state.uid) throw notFound(ctx, state.name);
      current = fresh;
    }
  }
}

/** Marks a stream CREATING/UPDATING for the configured settle time. */
export function settle(ctx: DataStreamsContext, draft: StreamState, status: 'CREATING' | 'UPDATING'): void {
  draft.settlingStatus = status;
  draft.settlesAt = ctx.now() + ctx.settings.stateChangeMs;
}

export function newShards(ranges: { start: bigint; end: bigint }[], firstIndex: number, now: number, parents: (range: { start: bigint; end: bigint }) => Pick<ShardState, 'parentShardId' | 'adjacentParentShardId'> = () => ({})): ShardState[] {
  return ranges.map((range, offset) => ({
    shardId: formatShardId(firstIndex + offset),
    index: firstIndex + offset,
    startingHashKey: range.start.toString(),
    endingHashKey: range.end.toString(),
    openedAt: now,
    ...parents(range),
  }));
}

async function openShardTotal(ctx: DataStreamsContext): Promise<number> {
  const streams = await ctx.store.listStreams();
  return streams.reduce((total, state) => total + openShards(state).length, 0);
}

/** Fails with LimitExceededException when adding `more` open shards would pass the account limit. */
export async function checkShardLimit(ctx: DataStreamsContext, more: number): Promise<void> {
  const open = await openShardTotal(ctx);
  if (open + more > ctx.settings.shardLimit) {
    throw new LimitExceededException(
      `This request would exceed the shard limit for the account ${ctx.settings.accountId} in ${ctx.settings.region}. ` +
        `Current shard count for the account: ${open}. Limit: ${ctx.settings.shardLimit}. Number of additional shards that would have resulted from this request: ${more}.`,
    );
  }
}

/** Fails with LimitExceededException when one more ON_DEMAND stream would pass the account limit. */
async function checkOnDemandStreamLimit(ctx: DataStreamsContext): Promise<void> {
  const onDemand = (await ctx.store.listStreams()).filter((state) => state.mode === 'ON_DEMAND').length;
  if (onDemand >= ctx.settings.onDemandStreamLimit) {
    throw new LimitExceededException(`This request would exceed the on-demand stream limit of ${ctx.settings.onDemandStreamLimit} for the account ${ctx.settings.accountId}.`);
  }
}

export async function createStream(ctx: DataStreamsContext, input: Input): Promise<object> {
  const name = input.requiredString('StreamName', STREAM_NAME);
  const mode: StreamMode = input.object('StreamModeDetails')?.requiredEnumeration('StreamMode', STREAM_MODES) ?? 'PROVISIONED';
  const requested = input.integer('ShardCount', { min: 1 });
  if (mode === 'PROVISIONED' && requested === undefined) throw new InvalidArgumentException('ShardCount is required for a PROVISIONED stream.');
  const tags = input.stringMap('Tags') ?? {};
  checkTags(tags);
  checkTagCount(name, tags);
  const shardCount = requested ?? ON_DEMAND_SHARDS;
  if (mode === 'ON_DEMAND') await checkOnDemandStreamLimit(ctx);
  await checkShardLimit(ctx, shardCount);
  const now = ctx.now();
  try {
    await ctx.store.createStream({
      name,
      arn: streamArn(ctx, name),
      createdAt: now,
      mode,
      retentionHours: MIN_RETENTION_HOURS,
      shards: newShards(splitEvenly(shardCount), 0, now),
      encryption: { type: 'NONE' },
      maxRecordSizeKiB: 1024,
      tags,
      consumers: [],
      settlesAt: now + ctx.settings.stateChangeMs,
      settlingStatus: 'CREATING',
    });
  } catch (error) {
    if (error instanceof StreamExistsError) throw new ResourceInUseException(`Stream ${name} under account ${ctx.settings.accountId} already exists.`);
    throw error;
  }
  return {};
}

export async function deleteStream(ctx: DataStreamsContext, input: Input): Promise<object> {
  const state = await findStream(ctx, input);
  if (state.consumers.length > 0 && !input.boolean('EnforceConsumerDeletion')) {
    throw new ResourceInUseException(`Stream ${state.name} under account ${ctx.settings.accountId} has registered consumers; set EnforceConsumerDeletion to delete it.`);
  }
  ctx.subscriptions.endStream(state.uid);
  await ctx.store.deleteStream(state.name, state.uid);
  return {};
}

function streamModeDetails(state: StreamState): object {
  return { StreamMode: state.mode };
}

/** The members DescribeStream and DescribeStreamSummary share. */
function describedStream(ctx: DataStreamsContext, state: StreamState): object {
  return {
    StreamName: state.name,
    StreamARN: state.arn,
    StreamStatus: statusOf(state, ctx.now()),
    StreamModeDetails: streamModeDetails(state),
    RetentionPeriodHours: state.retentionHours,
    StreamCreationTimestamp: new Timestamp(state.createdAt),
    EnhancedMonitoring: [{ ShardLevelMetrics: [] }],
    EncryptionType: state.encryption.type,
    ...(state.encryption.keyId ? { KeyId: state.encryption.keyId } : {}),
  };
}

export async function describeShard(ctx: DataStreamsContext, state: StreamState, shard: ShardState): Promise<object> {
  const range: Record<string, string> = { StartingSequenceNumber: formatSequenceNumber(shard.index, 0) };
  if (shard.closedAt !== undefined) {
    range.EndingSequenceNumber = formatSequenceNumber(shard.index, (await ctx.store.nextPosition(state.uid, shard.index)) - 1);
  }
  return {
    ShardId: shard.shardId,
    ...(shard.parentShardId ? { ParentShardId: shard.parentShardId } : {}),
    ...(shard.adjacentParentShardId ? { AdjacentParentShardId: shard.adjacentParentShardId } : {}),
    HashKeyRange: { StartingHashKey: shard.startingHashKey, EndingHashKey: shard.endingHashKey },
    SequenceNumberRange: range,
  };
}

export async function describeStream(ctx: DataStreamsContext, input: Input): Promise<object> {
  const state = await findStream(ctx, input);
  const limit = input.integer('Limit', { min: 1, max: 10000 }) ?? 100;
  const after = input.string('ExclusiveStartShardId', { min: 1, max: 128 });
  const shards = visibleShards(state, ctx.now()).filter((shard) => after === undefined || shard.shardId > after);
  const page = shards.slice(0, limit);
  return {
    StreamDescription: {
      ...describedStream(ctx, state),
      Shards: await Promise.all(page.map((shard) => describeShard(ctx, state, shard))),
      HasMoreShards: shards.length > page.length,
    },
  };
}

export async function describeStreamSummary(ctx: DataStreamsContext, input: Input): Promise<object> {
  const state = await findStream(ctx, input);
  return {
    StreamDescriptionSummary: {
      ...describedStream(ctx, state),
      OpenShardCount: openShards(state).length,
      ConsumerCount: state.consumers.length,
      MaxRecordSizeInKiB: state.maxRecordSizeKiB,
    },
  };
}

export async function listStreams(ctx: DataStreamsContext, input: Input): Promise<object> {
  const limit = input.integer('Limit', { min: 1, max: 10000 }) ?? 100;
  const token = input.string('NextToken', { min: 1, max: 1048576 });
  const after = token !== undefined ? readPageToken(token, 'ListStreams', ctx.now()) : input.string('ExclusiveStartStreamName', STREAM_NAME);
  const now = ctx.now();
  const all = (await ctx.store.listStreams()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).filter((state) => after === undefined || state.name > after);
  const page = all.slice(0, limit);
  const more = all.length > page.length;
  return {
    StreamNames: page.map((state) => state.name),
    HasMoreStreams: more,
    ...(more ? { NextToken: pageToken('ListStreams', page[page.length - 1]!.name, now) } : {}),
    StreamSummaries: page.map((state) => ({
      StreamName: state.name,
      StreamARN: state.arn,
      StreamStatus: statusOf(state, now),
      StreamModeDetails: streamModeDetails(state),
      StreamCreationTimestamp: new Timestamp(state.createdAt),
    })),
  };
}

function retentionHours(input: Input): number {
  const hours = input.requiredInteger('RetentionPeriodHours');
  if (hours < MIN_RETENTION_HOURS) throw new InvalidArgumentException(`Minimum allowed retention period is ${MIN_RETENTION_HOURS} hours. Requested retention period (${hours} hours) is too short.`);
  if (hours > MAX_RETENTION_HOURS) throw new InvalidArgumentException(`Maximum allowed retention period is ${MAX_RETENTION_HOURS} hours. Requested retention period (${hours} hours) is too long.`);
  return hours;
}

export async function increaseStreamRetentionPeriod(ctx: DataStreamsContext, input: Input): Promise<object> {
  const state = await findActiveStream(ctx, input);
  const hours = retentionHours(input);
  if (hours < state.retentionHours) {
    throw new InvalidArgumentException(
      `Requested retention period (${hours} hours) for stream ${state.name} can not be shorter than existing retention period (${state.retentionHours} hours). Use DecreaseRetentionPeriod API.`,
    );
  }
  await changeStream(ctx, state, (draft) => void (draft.retentionHours = hours));
  return {};
}

export async function decreaseStreamRetentionPeriod(ctx: DataStreamsContext, input: Input): Promise<object> {
  const state = await findActiveStream(ctx, input);
  const hours = retentionHours(input);
  if (hours > state.retentionHours) {
    throw new InvalidArgumentException(
      `Requested retention period (${hours} hours) for stream ${state.name} can not be longer than existing retention period (${state.retentionHours} hours). Use IncreaseRetentionPeriod API.`,
    );
  }
  await changeStream(ctx, state, (draft) => void (draft.retentionHours = hours));
  return {};
}

export async function updateStreamMode(ctx: DataStreamsContext, input: Input): Promise<object> {
  const arn = input.requiredString('StreamARN', STREAM_ARN);
  const mode = input.object('StreamModeDetails')?.requiredEnumeration('StreamMode', STREAM_MODES);
  if (!mode) throw new InvalidArgumentException('StreamModeDetails is required.');
  const state = await findActiveStream(ctx, input);
  if (state.arn !== arn) throw notFound(ctx, state.name);
  if (state.mode === mode) throw new InvalidArgumentException(`Stream ${state.name} is already in ${mode} mode.`);
  if (mode === 'ON_DEMAND') await checkOnDemandStreamLimit(ctx);
  await changeStream(ctx, state, (draft) => {
    draft.mode = mode;
    settle(ctx, draft, 'UPDATING');
  });
  return {};
}

export async function describeLimits(ctx: DataStreamsContext): Promise<object> {
  const streams = await ctx.store.listStreams();
  return {
    ShardLimit: ctx.settings.shardLimit,
    OpenShardCount: streams.reduce((total, state) => total + openShards(state).length, 0),
    OnDemandStreamCount: streams.filter((state) => state.mode === 'ON_DEMAND').length,
    OnDemandStreamCountLimit: ctx.settings.onDemandStreamLimit,
  };
}

export async function updateMaxRecordSize(ctx: DataStreamsContext, input: Input): Promise<object> {
  input.requiredString('StreamARN', STREAM_ARN);
  const size = input.requiredInteger('MaxRecordSizeInKiB', { min: 1024, max: 10240 });
  const state = await findActiveStream(ctx, input);
  await changeStream(ctx, state, (draft) => void (draft.maxRecordSizeKiB = size));
  return {};
}

export async function startStreamEncryption(ctx: DataStreamsContext, input: Input): Promise<object> {
  input.requiredEnumeration('EncryptionType', ['KMS', 'NONE'] as const);
  const keyId = input.requiredString('KeyId', { min: 1, max: 2048 });
  if (input.string('EncryptionType') !== 'KMS') throw new InvalidArgumentException('EncryptionType must be KMS to start encryption.');
  const state = await findActiveStream(ctx, input);
  ctx.keys.require(keyId);
  await changeStream(ctx, state, (draft) => {
    draft.encryption = { type: 'KMS', keyId };
    settle(ctx, draft, 'UPDATING');
  });
  return {};
}

export async function stopStreamEncryption(ctx: DataStreamsContext, input: Input): Promise<object> {
  input.requiredEnumeration('EncryptionType', ['KMS', 'NONE'] as const);
  input.requiredString('KeyId', { min: 1, max: 2048 });
  const state = await findActiveStream(ctx, input);
  await changeStream(ctx, state, (draft) => {
    draft.encryption = { type: 'NONE' };
    settle(ctx, draft, 'UPDATING');
  });
  return {};
}

