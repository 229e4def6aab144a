import { ResourceNotFoundException } from '../protocol/errors.js';
import type { DataStreamsContext } from './context.js';
import { hashKeyHex } from './hash-key.js';
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

interface Route {
  start: string;
  end: string;
  shard: ShardState;
}

// Stream states are immutable snapshots (every change stores a new object), so the routing
// table built for one can be kept for as long as that snapshot is in use.
const routes = new WeakMap<StreamState, Route[]>();

function routesOf(state: StreamState): Route[] {
  let table = routes.get(state);
  if (!table) {
    table = openShards(state)
      .map((shard) => ({ start: hashKeyHex(shard.startingHashKey), end: hashKeyHex(shard.endingHashKey), shard }))
      .sort((a, b) => (a.start < b.start ? -1 : 1));
    routes.set(state, table);
  }
  return table;
}

/** The open shard whose hash key range holds the key (32-digit hex, see hash-key.ts). */
export function shardForHashKey(state: StreamState, hashKeyHex: string): ShardState {
  const table = routesOf(state);
  let low = 0;
  let high = table.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const route = table[middle]!;
    if (hashKeyHex < route.start) high = middle - 1;
    else if (hashKeyHex > route.end) low = middle + 1;
    else return route.shard;
  }
  // Open shards always cover the whole key space; resharding keeps that true.
  throw new Error(`no open shard of ${state.name} holds hash key ${hashKeyHex}`);
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
