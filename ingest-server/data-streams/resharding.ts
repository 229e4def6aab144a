import { InvalidArgumentException, LimitExceededException, ResourceInUseException, ValidationException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import type { DataStreamsContext } from './context.js';
import { MAX_HASH_KEY, splitEvenly } from './hash-key.js';
import type { ShardState, StreamState } from './model.js';
import { findShard, openShards } from './shards.js';
import { changeStream, checkShardLimit, findActiveStream, newShards, settle } from './streams.js';

const SHARD_ID = { min: 1, max: 128, pattern: /[a-zA-Z0-9_.-]+/ };
const HASH_KEY = { pattern: /0|([1-9]\d{0,38})/ };

function requireProvisioned(state: StreamState, operation: string): void {
  if (state.mode !== 'PROVISIONED') throw new ValidationException(`${operation} is not supported for ON_DEMAND streams.`);
}

function requireOpen(state: StreamState, shard: ShardState): void {
  if (shard.closedAt !== undefined) {
    throw new ResourceInUseException(`Shard ${shard.shardId} of stream ${state.name} is already closed.`);
  }
}

// Closing parents and opening children happens in one metadata write, so the open shards
// always cover the whole hash key space and no put is ever without a shard.
function reshard(ctx: DataStreamsContext, draft: StreamState, parents: string[], children: Omit<ShardState, 'index' | 'shardId' | 'openedAt'>[]): void {
  const now = ctx.now();
  for (const shard of draft.shards) if (parents.includes(shard.shardId)) shard.closedAt = now;
  const firstIndex = Math.max(...draft.shards.map((shard) => shard.index)) + 1;
  const created = newShards(
    children.map((child) => ({ start: BigInt(child.startingHashKey), end: BigInt(child.endingHashKey) })),
    firstIndex,
    now,
  );
  created.forEach((shard, offset) => Object.assign(shard, children[offset], { index: shard.index, shardId: shard.shardId, openedAt: now }));
  draft.shards.push(...created);
  settle(ctx, draft, 'UPDATING');
}

export async function splitShard(ctx: DataStreamsContext, input: Input): Promise<object> {
  const shardId = input.requiredString('ShardToSplit', SHARD_ID);
  const newStartingHashKey = BigInt(input.requiredString('NewStartingHashKey', HASH_KEY));
  const state = await findActiveStream(ctx, input);
  requireProvisioned(state, 'SplitShard');
  const shard = findShard(ctx, state, shardId);
  requireOpen(state, shard);
  const start = BigInt(shard.startingHashKey);
  const end = BigInt(shard.endingHashKey);
  if (newStartingHashKey <= start || newStartingHashKey > end || newStartingHashKey > MAX_HASH_KEY) {
    throw new InvalidArgumentException(
      `NewStartingHashKey ${newStartingHashKey} used in SplitShard() on shard ${shardId} in stream ${state.name} under account ${ctx.settings.accountId} is not both greater than one plus the shard's StartingHashKey ${start} and less than the shard's EndingHashKey ${end}.`,
    );
  }
  await checkShardLimit(ctx, 1);
  await changeStream(ctx, state, (draft) =>
    reshard(ctx, draft, [shardId], [
      { startingHashKey: start.toString(), endingHashKey: (newStartingHashKey - 1n).toString(), parentShardId: shardId },
      { startingHashKey: newStartingHashKey.toString(), endingHashKey: end.toString(), parentShardId: shardId },
    ]),
  );
  return {};
}

export async function mergeShards(ctx: DataStreamsContext, input: Input): Promise<object> {
  const shardId = input.requiredString('ShardToMerge', SHARD_ID);
  const adjacentId = input.requiredString('AdjacentShardToMerge', SHARD_ID);
  const state = await findActiveStream(ctx, input);
  requireProvisioned(state, 'MergeShards');
  const shard = findShard(ctx, state, shardId);
  const adjacent = findShard(ctx, state, adjacentId);
  requireOpen(state, shard);
  requireOpen(state, adjacent);
  const [low, high] = BigInt(shard.startingHashKey) < BigInt(adjacent.startingHashKey) ? [shard, adjacent] : [adjacent, shard];
  if (BigInt(low.endingHashKey) + 1n !== BigInt(high.startingHashKey)) {
    throw new InvalidArgumentException(`Shards ${shardId} and ${adjacentId} in stream ${state.name} under account ${ctx.settings.accountId} are not an adjacent pair of shards eligible for merging`);
  }
  await changeStream(ctx, state, (draft) =>
    reshard(ctx, draft, [shardId, adjacentId], [
      { startingHashKey: low.startingHashKey, endingHashKey: high.endingHashKey, parentShardId: shardId, adjacentParentShardId: adjacentId },
    ]),
  );
  return {};
}

export async function updateShardCount(ctx: DataStreamsContext, input: Input): Promise<object> {
  const target = input.requiredInteger('TargetShardCount', { min: 1, max: 100000 });
  input.requiredEnumeration('ScalingType', ['UNIFORM_SCALING'] as const);
  const state = await findActiveStream(ctx, input);
  requireProvisioned(state, 'UpdateShardCount');
  const open = openShards(state).sort((a, b) => (BigInt(a.startingHashKey) < BigInt(b.startingHashKey) ? -1 : 1));
  const current = open.length;
  if (target > current * 2 || target * 2 < current) {
    throw new LimitExceededException(`UpdateShardCount can only scale between half and double the current open shard count (${current}); requested ${target}.`);
  }
  if (target === current) throw new InvalidArgumentException(`Stream ${state.name} already has ${current} open shards.`);
  await checkShardLimit(ctx, target - current);
  // Each new shard names the one or two old shards its range starts in as parents, so readers
  // that finish parents before children keep per-key order.
  const overlapping = (range: { start: bigint; end: bigint }) =>
    open.filter((shard) => BigInt(shard.startingHashKey) <= range.end && range.start <= BigInt(shard.endingHashKey)).map((shard) => shard.shardId);
  await changeStream(ctx, state, (draft) =>
    reshard(
      ctx,
      draft,
      open.map((shard) => shard.shardId),
      splitEvenly(target).map((range) => {
        const [parentShardId, adjacentParentShardId] = overlapping(range);
        return {
          startingHashKey: range.start.toString(),
          endingHashKey: range.end.toString(),
          parentShardId: parentShardId!,
          ...(adjacentParentShardId ? { adjacentParentShardId } : {}),
        };
      }),
    ),
  );
  return { StreamName: state.name, CurrentShardCount: current, TargetShardCount: target, StreamARN: state.arn };
}
