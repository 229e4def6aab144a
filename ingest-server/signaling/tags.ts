import { TagsPerResourceExceededLimitException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import { channelByArn, MAX_TAGS, TAG_KEY, tagList } from './channels.js';
import type { ChannelState } from './channel-store.js';
import type { SignalingContext } from './context.js';

// Signaling channel tags (TagResource, UntagResource, ListTagsForResource: Kinesis Video's
// resource tagging applies to channels; streams have TagStream and friends). Tagging does not
// change a channel's Version, which tracks what UpdateSignalingChannel changes.

const RESOURCE_ARN = { min: 1, max: 1024 };

async function tagged(ctx: SignalingContext, input: Input): Promise<ChannelState> {
  return channelByArn(ctx, input.requiredString('ResourceARN', RESOURCE_ARN));
}

/** TagResource: adds or replaces tags on a channel, at most 50 in all. */
export async function tagResource(ctx: SignalingContext, input: Input): Promise<object> {
  const added = tagList(input);
  const state = await tagged(ctx, input);
  const tags = { ...state.tags, ...added };
  if (Object.keys(tags).length > MAX_TAGS) throw new TagsPerResourceExceededLimitException(`A signaling channel can have at most ${MAX_TAGS} tags.`);
  await ctx.channels.put({ ...state, tags });
  return {};
}

/** UntagResource: removes the listed tag keys (absent ones are ignored). */
export async function untagResource(ctx: SignalingContext, input: Input): Promise<object> {
  const keys = input.requiredStringList('TagKeyList', { min: 1, max: MAX_TAGS, each: TAG_KEY });
  const state = await tagged(ctx, input);
  await ctx.channels.put({ ...state, tags: Object.fromEntries(Object.entries(state.tags).filter(([key]) => !keys.includes(key))) });
  return {};
}

/** ListTagsForResource: all of a channel's tags; at most 50, so always one page. */
export async function listTagsForResource(ctx: SignalingContext, input: Input): Promise<object> {
  input.string('NextToken', { min: 0, max: 512 });
  return { Tags: (await tagged(ctx, input)).tags };
}
