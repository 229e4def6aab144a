import type { Input } from '../protocol/input.js';
import type { VideoStreamsContext } from './context.js';
import { checkStreamTags, MAX_TAGS, replaceStream, streamFor } from './streams.js';

// Stream tags. Tagging does not change a stream's Version: that tracks what UpdateStream and
// UpdateDataRetention change.

const TAG_KEY = { min: 1, max: 128 };

/** TagStream: adds or replaces tags, at most 50 in all. */
export async function tagStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const added = input.stringMap('Tags') ?? {};
  const state = await streamFor(ctx, input);
  const tags = { ...state.tags, ...added };
  checkStreamTags(tags);
  await replaceStream(ctx, state, { ...state, tags });
  return {};
}

/** UntagStream: removes the listed tag keys (absent ones are ignored). */
export async function untagStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const keys = input.requiredStringList('TagKeyList', { min: 1, max: MAX_TAGS, each: TAG_KEY });
  const state = await streamFor(ctx, input);
  const tags = Object.fromEntries(Object.entries(state.tags).filter(([key]) => !keys.includes(key)));
  await replaceStream(ctx, state, { ...state, tags });
  return {};
}

/** All of a stream's tags: at most 50, so always one page. */
export async function listTagsForStream(ctx: VideoStreamsContext, input: Input): Promise<object> {
  input.string('NextToken', { min: 0, max: 512 });
  const state = await streamFor(ctx, input);
  return { Tags: state.tags };
}
