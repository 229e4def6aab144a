import { randomBytes, randomUUID } from 'node:crypto';
import { pageToken, readPageToken } from '../data-streams/page-token.js';
import { checkTags } from '../data-streams/tag-rules.js';
import {
  InvalidArgumentException,
  ResourceInUseException,
  ResourceNotFoundException,
  TagsPerResourceExceededLimitException,
  VersionMismatchException,
} from '../protocol/errors.js';
import { Input } from '../protocol/input.js';
import { Timestamp } from '../protocol/wire-values.js';
import { StaleVideoStreamError, VideoStreamExistsError, type VideoStreamState } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';

// The Kinesis Video stream control plane. A stream is ACTIVE as soon as CreateStream returns
// (AWS passes through CREATING for a moment; nothing here needs to wait), and DeleteStream removes
// it and its fragments at once. Constraints are the ones the AWS service model declares.

const VIDEO_STREAM_NAME = { min: 1, max: 256, pattern: /[a-zA-Z0-9_.-]+/ };
const VIDEO_STREAM_ARN = { min: 1, max: 1024, pattern: /arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+\/[a-zA-Z0-9_.-]+\/[0-9]+/ };
const DEVICE_NAME = { min: 1, max: 128, pattern: /[a-zA-Z0-9_.-]+/ };
const MEDIA_TYPE = { min: 1, max: 128, pattern: /[\w\-.+]+\/[\w\-.+]+(,[\w\-.+]+\/[\w\-.+]+)*/ };
const KMS_KEY_ID = { min: 1, max: 2048 };
const VERSION = { min: 1, max: 64, pattern: /[a-zA-Z0-9]+/ };
const DEFAULT_KMS_KEY_ID = 'alias/aws/kinesisvideo';
/** AWS's ceiling: ten years. */
const MAX_RETENTION_HOURS = 87_600;
/** AWS's limit of tags per stream. */
export const MAX_TAGS = 50;
const RETENTION_OPERATIONS = ['INCREASE_DATA_RETENTION', 'DECREASE_DATA_RETENTION'] as const;

/** The 404 the Kinesis Video models give ResourceNotFoundException. */
function streamNotFound(ctx: VideoStreamsContext, name: string): ResourceNotFoundException {
  return new ResourceNotFoundException(`Stream ${name} under account ${ctx.settings.accountId} not found.`, 404);
}

/** The stream a request names by StreamName or StreamARN (both: they must agree); ResourceNotFoundException when there is none. */
export async function streamFor(ctx: VideoStreamsContext, input: Input | { StreamName?: unknown; StreamARN?: unknown }): Promise<VideoStreamState> {
  const fields = input instanceof Input ? input : Input.of(input);
  const name = fields.string('StreamName', VIDEO_STREAM_NAME);
  const arn = fields.string('StreamARN', VIDEO_STREAM_ARN);
  if (name === undefined && arn === undefined) throw new InvalidArgumentException('Either StreamName or StreamARN must be specified.');
  const state = name !== undefined ? await ctx.store.getStream(name) : (await ctx.store.listStreams()).find((candidate) => candidate.arn === arn);
  if (!state || (arn !== undefined && state.arn !== arn)) throw streamNotFound(ctx, name ?? arn!);
  return state;
}

/** A new random version string, as UpdateStream's CurrentVersion takes it. */
function newVersion(): string {
  return randomBytes(12).toString('hex');
}

/** Fails unless the caller's CurrentVersion (when given) is the stream's. */
function checkVersion(state: VideoStreamState, currentVersion: string | undefined): void {
  if (currentVersion !== undefined && currentVersion !== state.version) {
    throw new VersionMismatchException(`The version ${currentVersion} of stream ${state.name} is not the latest version; the current version is ${state.version}.`);
  }
}

/**
 * Stores `next` in place of `current`. A write in between (another request's) means the caller
 * acted on an old version: VersionMismatchException, as AWS answers a stale CurrentVersion.
 */
export async function replaceStream(ctx: VideoStreamsContext, current: VideoStreamState, next: VideoStreamState): Promise<void> {
  try {
    await ctx.store.updateStream(next, current.version);
  } catch (error) {
    if (!(error instanceof StaleVideoStreamError)) throw error;
    if (!(await ctx.store.getStream(current.name))) throw streamNotFound(ctx, current.name);
    throw new VersionMismatchException(`Stream ${current.name} was changed by another request; describe it and retry.`);
  }
}

/** Fails with TagsPerResourceExceededLimitException past AWS's 50 tags per stream, and on bad keys or values. */
export function checkStreamTags(tags: Record<string, string>): void {
  checkTags(tags);
  if (Object.keys(tags).length > MAX_TAGS) throw new TagsPerResourceExceededLimitException(`A stream can have at most ${MAX_TAGS} tags.`);
}

/** DescribeStream's and ListStreams' view of a stream. */
function streamInfo(state: VideoStreamState): object {
  return {
    ...(state.deviceName !== undefined ? { DeviceName: state.deviceName } : {}),
    StreamName: state.name,
    StreamARN: state.arn,
    ...(state.mediaType !== undefined ? { MediaType: state.mediaType } : {}),
    KmsKeyId: state.kmsKeyId,
    Version: state.version,
    Status: state.status,
    CreationTime: new Timestamp(state.creationTimeMs),
    DataRetentionInHours: state.dataRetentionInHours,
  };
}

/** CreateStream: a new ACTIVE stream; ResourceInUseException when the name is taken. */
export async function createStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const name = input.requiredString('StreamName', VIDEO_STREAM_NAME);
  const deviceName = input.string('DeviceName', DEVICE_NAME);
  const mediaType = input.string('MediaType', MEDIA_TYPE);
  const kmsKeyId = input.string('KmsKeyId', KMS_KEY_ID) ?? DEFAULT_KMS_KEY_ID;
  const retention = input.integer('DataRetentionInHours', { min: 0 }) ?? 0;
  if (retention > MAX_RETENTION_HOURS) throw new InvalidArgumentException(`DataRetentionInHours must be at most ${MAX_RETENTION_HOURS}.`);
  const tags = input.stringMap('Tags') ?? {};
  checkStreamTags(tags);
  const now = ctx.now();
  const state: VideoStreamState = {
    name,
    arn: `arn:aws:kinesisvideo:${ctx.settings.region}:${ctx.settings.accountId}:stream/${name}/${now}`,
    uid: randomUUID(),
    version: newVersion(),
    status: 'ACTIVE',
    creationTimeMs: now,
    ...(deviceName !== undefined ? { deviceName } : {}),
    ...(mediaType !== undefined ? { mediaType } : {}),
    kmsKeyId,
    dataRetentionInHours: retention,
    tags,
  };
  try {
    await ctx.store.createStream(state);
  } catch (error) {
    if (error instanceof VideoStreamExistsError) throw new ResourceInUseException(`The stream ${name} already exists.`);
    throw error;
  }
  return { StreamARN: state.arn };
}

/** DescribeStream: the StreamInfo of a stream named by StreamName or StreamARN. */
export async function describeStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  return { StreamInfo: streamInfo(await streamFor(ctx, input)) };
}

/** ListStreams: streams in name order, optionally those whose name begins with a prefix, paged. */
export async function listStreams(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const limit = input.integer('MaxResults', { min: 1, max: 10000 }) ?? 10000;
  const token = input.string('NextToken', { min: 0, max: 512 });
  const condition = input.object('StreamNameCondition');
  condition?.enumeration('ComparisonOperator', ['BEGINS_WITH']);
  const prefix = condition?.string('ComparisonValue', { min: 1, max: 256 }) ?? '';
  const now = ctx.now();
  const after = token ? readPageToken(token, 'ListStreams', now, prefix) : undefined;
  const matching = (await ctx.store.listStreams())
    .filter((state) => state.name.startsWith(prefix) && (after === undefined || state.name > after))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const page = matching.slice(0, limit);
  return {
    StreamInfoList: page.map(streamInfo),
    ...(matching.length > page.length ? { NextToken: pageToken('ListStreams', page.at(-1)!.name, now, prefix) } : {}),
  };
}

/** DeleteStream: removes the stream and its fragments at once; CurrentVersion, when given, must be current. */
export async function deleteStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const state = await streamFor(ctx, { StreamARN: input.requiredString('StreamARN') });
  checkVersion(state, input.string('CurrentVersion', VERSION));
  await ctx.store.deleteStream(state.name, state.uid);
  return {};
}

/** UpdateStream: changes DeviceName and MediaType; CurrentVersion must be current. */
export async function updateStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const currentVersion = input.requiredString('CurrentVersion', VERSION);
  const deviceName = input.string('DeviceName', DEVICE_NAME);
  const mediaType = input.string('MediaType', MEDIA_TYPE);
  const state = await streamFor(ctx, input);
  checkVersion(state, currentVersion);
  await replaceStream(ctx, state, {
    ...state,
    version: newVersion(),
    ...(deviceName !== undefined ? { deviceName } : {}),
    ...(mediaType !== undefined ? { mediaType } : {}),
  });
  return {};
}

/** UpdateDataRetention: raises or lowers DataRetentionInHours by a number of hours; CurrentVersion must be current. */
export async function updateDataRetention(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const currentVersion = input.requiredString('CurrentVersion', VERSION);
  const operation = input.requiredEnumeration('Operation', RETENTION_OPERATIONS);
  const change = input.requiredInteger('DataRetentionChangeInHours', { min: 1 });
  const state = await streamFor(ctx, input);
  checkVersion(state, currentVersion);
  const hours = state.dataRetentionInHours + (operation === 'INCREASE_DATA_RETENTION' ? change : -change);
  if (hours < 0) {
    throw new InvalidArgumentException(`Cannot decrease the data retention of stream ${state.name} by ${change} hours: it is ${state.dataRetentionInHours} hours.`);
  }
  if (hours > MAX_RETENTION_HOURS) throw new InvalidArgumentException(`The data retention of a stream can be at most ${MAX_RETENTION_HOURS} hours.`);
  await replaceStream(ctx, state, { ...state, version: newVersion(), dataRetentionInHours: hours });
  return {};
}
