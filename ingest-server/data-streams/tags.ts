import { InvalidArgumentException, ResourceNotFoundException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import type { DataStreamsContext } from './context.js';
import type { StreamState } from './model.js';
import { changeStream, findStream } from './streams.js';
import { checkTags, merged } from './tag-rules.js';

const TAG_KEY = { min: 1, max: 128 };

function without(existing: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(existing).filter(([key]) => !keys.includes(key)));
}

function tagList(tags: Record<string, string>): { Key: string; Value: string }[] {
  return Object.entries(tags)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([Key, Value]) => ({ Key, Value }));
}

export async function addTagsToStream(ctx: DataStreamsContext, input: Input): Promise<object> {
  const tags = input.stringMap('Tags') ?? {};
  if (Object.keys(tags).length === 0) throw new InvalidArgumentException('Tags must contain at least one tag.');
  checkTags(tags);
  const state = await findStream(ctx, input);
  await changeStream(ctx, state, (draft) => void (draft.tags = merged(state.name, draft.tags, tags)));
  return {};
}

export async function removeTagsFromStream(ctx: DataStreamsContext, input: Input): Promise<object> {
  const keys = input.requiredStringList('TagKeys', { min: 1, max: 50, each: TAG_KEY });
  const state = await findStream(ctx, input);
  await changeStream(ctx, state, (draft) => void (draft.tags = without(draft.tags, keys)));
  return {};
}

export async function listTagsForStream(ctx: DataStreamsContext, input: Input): Promise<object> {
  const limit = input.integer('Limit', { min: 1, max: 50 }) ?? 50;
  const after = input.string('ExclusiveStartTagKey', TAG_KEY);
  const state = await findStream(ctx, input);
  const tags = tagList(state.tags).filter((tag) => after === undefined || tag.Key > after);
  return { Tags: tags.slice(0, limit), HasMoreTags: tags.length > limit };
}

/** The stream, and the consumer if the ARN names one, that a resource ARN points at. */
async function resource(ctx: DataStreamsContext, arn: string): Promise<{ state: StreamState; consumer?: string }> {
  const match = /^arn:aws[^:]*:kinesis:[^:]*:\d{12}:stream\/([a-zA-Z0-9_.-]+)(?:\/consumer\/([a-zA-Z0-9_.-]+):\d+)?$/.exec(arn);
  if (!match) throw new InvalidArgumentException(`Invalid ResourceARN ${arn}.`);
  const state = await ctx.store.getStream(match[1]!);
  if (!state || (match[2] === undefined && state.arn !== arn)) throw new ResourceNotFoundException(`Resource ${arn} not found.`);
  if (match[2] !== undefined && !state.consumers.some((consumer) => consumer.arn === arn)) throw new ResourceNotFoundException(`Resource ${arn} not found.`);
  return { state, ...(match[2] !== undefined ? { consumer: arn } : {}) };
}

export async function tagResource(ctx: DataStreamsContext, input: Input): Promise<object> {
  const arn = input.requiredString('ResourceARN', { min: 1, max: 2048 });
  const tags = input.stringMap('Tags') ?? {};
  checkTags(tags);
  const { state, consumer } = await resource(ctx, arn);
  await changeStream(ctx, state, (draft) => {
    const target = consumer ? draft.consumers.find((candidate) => candidate.arn === consumer)! : draft;
    target.tags = merged(arn, target.tags, tags);
  });
  return {};
}

export async function untagResource(ctx: DataStreamsContext, input: Input): Promise<object> {
  const arn = input.requiredString('ResourceARN', { min: 1, max: 2048 });
  const keys = input.requiredStringList('TagKeys', { min: 1, max: 50, each: TAG_KEY });
  const { state, consumer } = await resource(ctx, arn);
  await changeStream(ctx, state, (draft) => {
    const target = consumer ? draft.consumers.find((candidate) => candidate.arn === consumer)! : draft;
    target.tags = without(target.tags, keys);
  });
  return {};
}

export async function listTagsForResource(ctx: DataStreamsContext, input: Input): Promise<object> {
  const arn = input.requiredString('ResourceARN', { min: 1, max: 2048 });
  const { state, consumer } = await resource(ctx, arn);
  const tags = consumer ? state.consumers.find((candidate) => candidate.arn === consumer)!.tags : state.tags;
  return { Tags: tagList(tags) };
}
