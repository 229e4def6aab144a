import { InvalidArgumentException, LimitExceededException, ResourceInUseException, ResourceNotFoundException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import { Timestamp } from '../protocol/wire-values.js';
import type { DataStreamsContext } from './context.js';
import type { ConsumerState, StreamState } from './model.js';
import { pageToken, readPageToken } from './page-token.js';
import { STREAM_ARN, changeStream, notFound } from './streams.js';
import { checkTagCount, checkTags } from './tag-rules.js';

const CONSUMER_NAME = { min: 1, max: 128, pattern: /[a-zA-Z0-9_.-]+/ };
const CONSUMER_ARN = { min: 1, max: 2048, pattern: /^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+/ };
const MAX_CONSUMERS = 20;

export function consumerStatus(consumer: ConsumerState, now: number): 'CREATING' | 'ACTIVE' {
  return now < consumer.activeAt ? 'CREATING' : 'ACTIVE';
}

function streamNameOfArn(arn: string): string {
  return arn.slice(arn.indexOf(':stream/') + ':stream/'.length).split('/')[0]!;
}

async function streamByArn(ctx: DataStreamsContext, arn: string): Promise<StreamState> {
  const state = await ctx.store.getStream(streamNameOfArn(arn));
  if (!state || !arn.startsWith(state.arn)) throw notFound(ctx, streamNameOfArn(arn));
  return state;
}

/** The consumer named by ConsumerARN, or by StreamARN and ConsumerName. */
export async function findConsumer(ctx: DataStreamsContext, input: Input): Promise<{ state: StreamState; consumer: ConsumerState }> {
  const consumerArn = input.string('ConsumerARN', CONSUMER_ARN);
  const streamArn = input.string('StreamARN', STREAM_ARN);
  const name = input.string('ConsumerName', CONSUMER_NAME);
  if (consumerArn === undefined && (streamArn === undefined || name === undefined)) {
    throw new InvalidArgumentException('Either ConsumerARN, or both StreamARN and ConsumerName, must be provided.');
  }
  const state = await streamByArn(ctx, consumerArn ?? streamArn!);
  const consumer = state.consumers.find((candidate) => (consumerArn !== undefined ? candidate.arn === consumerArn : candidate.name === name));
  if (!consumer) throw new ResourceNotFoundException(`Consumer ${consumerArn ?? name} under stream ${state.name} not found.`);
  return { state, consumer };
}

function describe(consumer: ConsumerState, now: number): object {
  return {
    ConsumerName: consumer.name,
    ConsumerARN: consumer.arn,
    ConsumerStatus: consumerStatus(consumer, now),
    ConsumerCreationTimestamp: new Timestamp(consumer.createdAt),
  };
}

export async function registerStreamConsumer(ctx: DataStreamsContext, input: Input): Promise<object> {
  const streamArn = input.requiredString('StreamARN', STREAM_ARN);
  const name = input.requiredString('ConsumerName', CONSUMER_NAME);
  const tags = input.stringMap('Tags') ?? {};
  checkTags(tags);
  checkTagCount(name, tags);
  const state = await streamByArn(ctx, streamArn);
  const now = ctx.now();
  const consumer: ConsumerState = {
    name,
    arn: `${state.arn}/consumer/${name}:${Math.floor(now / 1000)}`,
    createdAt: now,
    activeAt: now + ctx.settings.stateChangeMs,
    tags,
  };
  await changeStream(ctx, state, (draft) => {
    if (draft.consumers.some((existing) => existing.name === name)) throw new ResourceInUseException(`Consumer ${name} under stream ${state.name} already exists.`);
    if (draft.consumers.length >= MAX_CONSUMERS) throw new LimitExceededException(`Stream ${state.name} already has ${MAX_CONSUMERS} consumers, the maximum.`);
    draft.consumers.push(consumer);
  });
  return { Consumer: describe(consumer, now) };
}

export async function describeStreamConsumer(ctx: DataStreamsContext, input: Input): Promise<object> {
  const { state, consumer } = await findConsumer(ctx, input);
  return { ConsumerDescription: { ...describe(consumer, ctx.now()), StreamARN: state.arn } };
}

export async function listStreamConsumers(ctx: DataStreamsContext, input: Input): Promise<object> {
  const streamArn = input.requiredString('StreamARN', STREAM_ARN);
  const maxResults = input.integer('MaxResults', { min: 1, max: 10000 }) ?? 100;
  const token = input.string('NextToken', { min: 1, max: 1048576 });
  const state = await streamByArn(ctx, streamArn);
  const after = token !== undefined ? readPageToken(token, 'ListStreamConsumers', ctx.now(), state.arn) : undefined;
  const consumers = [...state.consumers].sort((a, b) => (a.name < b.name ? -1 : 1)).filter((consumer) => after === undefined || consumer.name > after);
  const page = consumers.slice(0, maxResults);
  const more = consumers.length > page.length;
  return {
    Consumers: page.map((consumer) => describe(consumer, ctx.now())),
    ...(more ? { NextToken: pageToken('ListStreamConsumers', page[page.length - 1]!.name, ctx.now(), state.arn) } : {}),
  };
}

export async function deregisterStreamConsumer(ctx: DataStreamsContext, input: Input): Promise<object> {
  const { state, consumer } = await findConsumer(ctx, input);
  await changeStream(ctx, state, (draft) => void (draft.consumers = draft.consumers.filter((candidate) => candidate.arn !== consumer.arn)));
  ctx.subscriptions.endConsumer(consumer.arn);
  return {};
}
