import { randomBytes } from 'node:crypto';
import { pageToken, readPageToken } from '../data-streams/page-token.js';
import { checkTags } from '../data-streams/tag-rules.js';
import { InvalidArgumentException, ResourceInUseException, ResourceNotFoundException, VersionMismatchException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import { Timestamp } from '../protocol/wire-values.js';
import type { RequestOrigin } from '../video-streams/data-endpoint.js';
import type { ChannelState } from './channel-store.js';
import type { SignalingContext } from './context.js';

// The signaling channel control plane. A channel is ACTIVE as soon as CreateSignalingChannel
// returns; DeleteSignalingChannel sends GO_AWAY to everyone connected and removes it at once.
// Constraints are the ones the AWS service model declares.

const CHANNEL_NAME = { min: 1, max: 256, pattern: /[a-zA-Z0-9_.-]+/ };
const CHANNEL_ARN = { min: 1, max: 1024, pattern: /arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+\/[a-zA-Z0-9_.-]+\/[0-9]+/ };
const VERSION = { min: 1, max: 64, pattern: /[a-zA-Z0-9]+/ };
const CHANNEL_TYPES = ['SINGLE_MASTER', 'FULL_MESH'] as const;
const PROTOCOLS = ['WSS', 'HTTPS', 'WEBRTC'] as const;
const ROLES = ['MASTER', 'VIEWER'] as const;
const TTL = { min: 5, max: 120 };
const DEFAULT_TTL_SECONDS = 60;
/** AWS's limit of tags per channel. */
export const MAX_TAGS = 50;
export const TAG_KEY = { min: 1, max: 128 };
/** The path of the signaling WebSocket on this server's port. */
export const SIGNALING_PATH = '/signaling';

function channelNotFound(ctx: SignalingContext, name: string): ResourceNotFoundException {
  return new ResourceNotFoundException(`Signaling channel ${name} under account ${ctx.settings.accountId} not found.`, 404);
}

/** The channel with that ARN; ResourceNotFoundException when there is none. */
export async function channelByArn(ctx: SignalingContext, arn: string): Promise<ChannelState> {
  const state = (await ctx.channels.list()).find((candidate) => candidate.arn === arn);
  if (!state) throw channelNotFound(ctx, arn);
  return state;
}

/** The channel a request names by its required ChannelARN. */
export function channelNamedBy(ctx: SignalingContext, input: Input): Promise<ChannelState> {
  return channelByArn(ctx, input.requiredString('ChannelARN', CHANNEL_ARN));
}

/** Whether a text has the shape of a channel ARN. */
export function isChannelArn(text: string): boolean {
  return new RegExp(`^(?:${CHANNEL_ARN.pattern.source})$`).test(text) && text.length <= CHANNEL_ARN.max;
}

/** The channel a request names by ChannelName or ChannelARN (both: they must agree). */
async function channelFor(ctx: SignalingContext, input: Input): Promise<ChannelState> {
  const name = input.string('ChannelName', CHANNEL_NAME);
  const arn = input.string('ChannelARN', CHANNEL_ARN);
  if (name === undefined && arn === undefined) throw new InvalidArgumentException('Either ChannelName or ChannelARN must be specified.');
  const state = (await ctx.channels.list()).find((candidate) => (name === undefined || candidate.name === name) && (arn === undefined || candidate.arn === arn));
  if (!state) throw channelNotFound(ctx, name ?? arn!);
  return state;
}

function checkVersion(state: ChannelState, currentVersion: string | undefined): void {
  if (currentVersion !== undefined && currentVersion !== state.version) {
    throw new VersionMismatchException(`The version ${currentVersion} of signaling channel ${state.name} is not the latest version; the current version is ${state.version}.`);
  }
}

/** DescribeSignalingChannel's and ListSignalingChannels' view of a channel. */
function channelInfo(state: ChannelState): object {
  return {
    ChannelName: state.name,
    ChannelARN: state.arn,
    ChannelType: state.type,
    ChannelStatus: state.status,
    CreationTime: new Timestamp(state.creationTimeMs),
    SingleMasterConfiguration: { MessageTtlSeconds: state.messageTtlSeconds },
    Version: state.version,
  };
}

/** The Tags list ([{Key, Value}]) of CreateSignalingChannel and TagResource, as a map. */
export function tagList(input: Input): Record<string, string> {
  const list = input.list('Tags', { min: 1, max: MAX_TAGS }) ?? [];
  const tags = Object.fromEntries(list.map((tag) => [tag.requiredString('Key', TAG_KEY), tag.requiredString('Value', { min: 0, max: 256 })]));
  checkTags(tags);
  return tags;
}

/** CreateSignalingChannel: a new ACTIVE channel; ResourceInUseException when the name is taken. */
export async function createSignalingChannel(ctx: SignalingContext, input: Input): Promise<object> {
  const name = input.requiredString('ChannelName', CHANNEL_NAME);
  const type = input.enumeration('ChannelType', CHANNEL_TYPES) ?? 'SINGLE_MASTER';
  const ttl = input.object('SingleMasterConfiguration')?.integer('MessageTtlSeconds', TTL) ?? DEFAULT_TTL_SECONDS;
  const tags = tagList(input);
  if ((await ctx.channels.list()).some((state) => state.name === name)) throw new ResourceInUseException(`The signaling channel ${name} already exists.`);
  const now = ctx.now();
  const state: ChannelState = {
    name,
    arn: `arn:aws:kinesisvideo:${ctx.settings.region}:${ctx.settings.accountId}:channel/${name}/${now}`,
    type,
    status: 'ACTIVE',
    creationTimeMs: now,
    version: randomBytes(12).toString('hex'),
    messageTtlSeconds: ttl,
    tags,
  };
  await ctx.channels.put(state);
  return { ChannelARN: state.arn };
}

/** DescribeSignalingChannel: the ChannelInfo of a channel named by ChannelName or ChannelARN. */
export async function describeSignalingChannel(ctx: SignalingContext, input: Input): Promise<object> {
  return { ChannelInfo: channelInfo(await channelFor(ctx, input)) };
}

/** ListSignalingChannels: channels in name order, optionally those whose name begins with a prefix, paged. */
export async function listSignalingChannels(ctx: SignalingContext, input: Input): Promise<object> {
  const limit = input.integer('MaxResults', { min: 1, max: 10000 }) ?? 10000;
  const token = input.string('NextToken', { min: 0, max: 512 });
  const condition = input.object('ChannelNameCondition');
  condition?.enumeration('ComparisonOperator', ['BEGINS_WITH']);
  const prefix = condition?.string('ComparisonValue', { min: 1, max: 256 }) ?? '';
  const now = ctx.now();
  const after = token ? readPageToken(token, 'ListSignalingChannels', now, prefix) : undefined;
  const matching = (await ctx.channels.list())
    .filter((state) => state.name.startsWith(prefix) && (after === undefined || state.name > after))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const page = matching.slice(0, limit);
  return {
    ChannelInfoList: page.map(channelInfo),
    ...(matching.length > page.length ? { NextToken: pageToken('ListSignalingChannels', page.at(-1)!.name, now, prefix) } : {}),
  };
}

/** DeleteSignalingChannel: GO_AWAY to everyone connected, then the channel is gone; CurrentVersion, when given, must be current. */
export async function deleteSignalingChannel(ctx: SignalingContext, input: Input): Promise<object> {
  const state = await channelNamedBy(ctx, input);
  checkVersion(state, input.string('CurrentVersion', VERSION));
  await ctx.channels.delete(state.name);
  ctx.hub.closeChannel(state.arn);
  return {};
}

/** UpdateSignalingChannel: changes MessageTtlSeconds; CurrentVersion must be current. */
export async function updateSignalingChannel(ctx: SignalingContext, input: Input): Promise<object> {
  const state = await channelNamedBy(ctx, input);
  checkVersion(state, input.requiredString('CurrentVersion', VERSION));
  const ttl = input.object('SingleMasterConfiguration')?.integer('MessageTtlSeconds', TTL);
  await ctx.channels.put({ ...state, version: randomBytes(12).toString('hex'), ...(ttl !== undefined ? { messageTtlSeconds: ttl } : {}) });
  return {};
}

/**
 * GetSignalingChannelEndpoint: everything is served on this server's own port, so each protocol's
 * endpoint is the origin the client used (WSS as ws:// or wss://, plus the WebSocket path).
 */
export async function getSignalingChannelEndpoint(ctx: SignalingContext, input: Input, request: RequestOrigin): Promise<object> {
  await channelNamedBy(ctx, input);
  const config = input.object('SingleMasterChannelEndpointConfiguration');
  const protocols = config?.stringList('Protocols', { min: 1, max: 5 }) ?? ['WSS', 'HTTPS'];
  for (const protocol of protocols) {
    if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw new InvalidArgumentException(`Protocols must be among ${PROTOCOLS.join(', ')}; got ${protocol}.`);
  }
  // Either role connects to the same endpoint; the role shows in the WebSocket query (X-Amz-ClientId for viewers).
  config?.enumeration('Role', ROLES);
  const webSocket = request.origin.replace(/^http/, 'ws') + SIGNALING_PATH;
  return {
    ResourceEndpointList: [...new Set(protocols)].map((protocol) => ({ Protocol: protocol, ResourceEndpoint: protocol === 'WSS' ? webSocket : request.origin })),
  };
}
