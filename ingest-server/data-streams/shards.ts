import { ResourceNotFoundException } from '../protocol/errors.js';
import type { DataStreamsContext } from './context.js';
import type { ShardState, StreamState } from './model.js';

const HOUR_MS = 3_600_000;

/** The oldest arrival time a stream still keeps. */
export function retentionCutoff(state: StreamState, now: number): number {
  return now - state.retentionHours * HOUR_MS;
}

/** Shards a client can still see: open ones, and closed ones whose records are within retention. */
export function visibleShards(state: StreamState, now: number): ShardState[] {
  const cutoff = retentionCutoff(state, now);
  return state.shards.filter((shard) => shard.closedAt === undefined || shard.closedAt >= cutoff);
}

export function openShards(state: StreamState): ShardState[] {
  return state.shards.filter((shard) => shard.closedAt === undefined);
}

/** The open shard whose hash key range holds the key. */
export function shardForHashKey(state: StreamState, hashKey: bigint): ShardState {
  const shard = openShards(state).find((candidate) => BigInt(candidate.startingHashKey) <= hashKey && hashKey <= BigInt(candidate.endingHashKey));
  // Open shards always cover the whole key space; resharding keeps that true.
  if (!shard) throw new Error(`no open shard of ${state.name} holds hash key ${hashKey}`);
  return shard;
}

/** A visible shard by id, or ResourceNotFoundException as AWS words it. */
export function findShard(ctx: DataStreamsContext, state: StreamState, shardId: string): ShardState {
  const shard = visibleShards(state, ctx.now()).find((candidate) => candidate.shardId === shardId);
  if (!shard) throw new ResourceNotFoundException(`Shard ${shardId} in stream ${state.name} under account ${ctx.settings.accountId} does not exist`);
  return shard;
}

/** The children a reader moves on to at the end of a closed shard, in the ChildShards shape. */
export function childShards(state: StreamState, shard: ShardState): object[] {
  return state.shards
    .filter((child) => child.parentShardId === shard.shardId || child.adjacentParentShardId === shard.shardId)
    .map((child) => ({
      ShardId: child.shardId,
      ParentShards: [child.parentShardId, child.adjacentParentShardId].filter((id): id is string => id !== undefined),
      HashKeyRange: { StartingHashKey: child.startingHashKey, EndingHashKey: child.endingHashKey },
    }));
}
