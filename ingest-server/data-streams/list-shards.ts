import { InvalidArgumentException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import type { DataStreamsContext } from './context.js';
import type { ShardState, StreamState } from './model.js';
import { pageToken, readPageToken } from './page-token.js';
import { retentionCutoff, visibleShards } from './shards.js';
import { describeShard, findStream, notFound } from './streams.js';

const FILTER_TYPES = ['AFTER_SHARD_ID', 'AT_TRIM_HORIZON', 'FROM_TRIM_HORIZON', 'AT_LATEST', 'AT_TIMESTAMP', 'FROM_TIMESTAMP'] as const;

function openAt(shard: ShardState, at: number): boolean {
  return shard.openedAt <= at && (shard.closedAt === undefined || shard.closedAt > at);
}

function filterShards(ctx: DataStreamsContext, state: StreamState, filter: Input | undefined): ShardState[] {
  const shards = visibleShards(state, ctx.now());
  if (!filter) return shards;
  const type = filter.requiredEnumeration('Type', FILTER_TYPES);
  const horizon = retentionCutoff(state, ctx.now());
  switch (type) {
    case 'AFTER_SHARD_ID': {
      const after = filter.string('ShardId');
      if (after === undefined) throw new InvalidArgumentException('ShardFilter of type AFTER_SHARD_ID requires ShardId.');
      return shards.filter((shard) => shard.shardId > after);
    }
    case 'AT_TRIM_HORIZON':
      return shards.filter((shard) => openAt(shard, Math.max(horizon, state.createdAt)));
    case 'FROM_TRIM_HORIZON':
      return shards;
    case 'AT_LATEST':
      return shards.filter((shard) => shard.closedAt === undefined);
    case 'AT_TIMESTAMP':
    case 'FROM_TIMESTAMP': {
      const at = filter.timestamp('Timestamp');
      if (at === undefined) throw new InvalidArgumentException(`ShardFilter of type ${type} requires Timestamp.`);
      const from = Math.max(at, state.createdAt);
      return shards.filter((shard) => (type === 'AT_TIMESTAMP' ? openAt(shard, from) : shard.closedAt === undefined || shard.closedAt > from));
    }
  }
}

export async function listShards(ctx: DataStreamsContext, input: Input): Promise<object> {
  const token = input.string('NextToken', { min: 1, max: 1048576 });
  const maxResults = input.integer('MaxResults', { min: 1, max: 10000 }) ?? 1000;
  let state: StreamState;
  let after: string | undefined;
  if (token !== undefined) {
    if (input.has('StreamName') || input.has('ExclusiveStartShardId') || input.has('ShardFilter')) {
      throw new InvalidArgumentException('NextToken and StreamName cannot be provided together.');
    }
    const [name, shardId] = JSON.parse(readPageToken(token, 'ListShards', ctx.now())) as [string, string];
    const found = await ctx.store.getStream(name);
    if (!found) throw notFound(ctx, name);
    state = found;
    after = shardId;
  } else {
    state = await findStream(ctx, input);
    after = input.string('ExclusiveStartShardId', { min: 1, max: 128 });
  }
  const shards = filterShards(ctx, state, token === undefined ? input.object('ShardFilter') : undefined).filter(
    (shard) => after === undefined || shard.shardId > after,
  );
  const page = shards.slice(0, maxResults);
  const more = shards.length > page.length;
  return {
    Shards: await Promise.all(page.map((shard) => describeShard(ctx, state, shard))),
    ...(more ? { NextToken: pageToken('ListShards', JSON.stringify([state.name, page[page.length - 1]!.shardId]), ctx.now()) } : {}),
  };
}
