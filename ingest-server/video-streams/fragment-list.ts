// The archived-media pair: ListFragments pages through a stream's fragments by producer or
// server time, and GetMediaForFragmentList sends chosen fragments back as Matroska, each
// wrapped like GetMedia's but with the tag spelling AWS uses for this call and no
// continuation (the caller already knows what it asked for).

import type http from 'node:http';
import type http2 from 'node:http2';
import { writeTags } from '../../video/mkv/writer.js';
import { pageToken, readPageToken } from '../data-streams/page-token.js';
import { Input } from '../protocol/input.js';
import { Timestamp } from '../protocol/wire-values.js';
import type { FragmentClock } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';
import { FRAGMENT_NUMBER_RULE } from './fragment-number.js';
import { MediaResponse, inOrder, missingMember } from './get-media.js';
import { fragmentTags } from './media-tags.js';
import { streamFor } from './streams.js';

const DEFAULT_MAX_RESULTS = 100;
const MAX_RESULTS = 1000;
// GetMediaForFragmentList reads this many fragments at a time: bounds memory for 1000 asked.
const READ_BATCH = 4;

/** ListFragments: fragments in append order, optionally within a producer or server time range, 1000 a page at most. */
export async function listFragments(ctx: VideoStreamsContext, input: unknown): Promise<unknown> {
  const body = Input.of(input);
  const stream = await streamFor(ctx, body);
  const maxResults = body.integer('MaxResults', { min: 1, max: MAX_RESULTS }) ?? DEFAULT_MAX_RESULTS;
  const range = timeRange(body.object('FragmentSelector'));
  const nextToken = body.string('NextToken', { min: 1, max: 4096 });
  const after = nextToken === undefined ? undefined : readPageToken(nextToken, 'ListFragments', ctx.now(), stream.uid);

  // One more than asked tells whether another page exists.
  const found = await ctx.store.listFragments(stream.uid, range, maxResults + 1, after);
  const page = found.slice(0, maxResults);
  return {
    Fragments: page.map((fragment) => ({
      FragmentNumber: fragment.number,
      FragmentSizeInBytes: fragment.sizeBytes,
      ProducerTimestamp: new Timestamp(fragment.producerTimestampMs),
      ServerTimestamp: new Timestamp(fragment.serverTimestampMs),
      FragmentLengthInMilliseconds: fragment.durationMs,
    })),
    ...(found.length > maxResults ? { NextToken: pageToken('ListFragments', page[page.length - 1]!.number, ctx.now(), stream.uid) } : {}),
  };
}

function timeRange(selector: Input | undefined): { clock: FragmentClock; startMs: number; endMs: number } {
  if (!selector) return { clock: 'server', startMs: 0, endMs: Number.MAX_SAFE_INTEGER };
  const type = selector.requiredEnumeration('FragmentSelectorType', ['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'] as const);
  const range = selector.object('TimestampRange') ?? missingMember('fragmentSelector.timestampRange');
  const startMs = range.timestamp('StartTimestamp') ?? missingMember('fragmentSelector.timestampRange.startTimestamp');
  const endMs = range.timestamp('EndTimestamp') ?? missingMember('fragmentSelector.timestampRange.endTimestamp');
  return { clock: type === 'PRODUCER_TIMESTAMP' ? 'producer' : 'server', startMs, endMs };
}

/** GetMediaForFragmentList: the listed fragments as one Matroska response, in the order listed; numbers the stream lacks are left out. */
export async function getMediaForFragmentList(ctx: VideoStreamsContext, input: unknown, response: http.ServerResponse | http2.Http2ServerResponse): Promise<void> {
  const body = Input.of(input);
  const stream = await streamFor(ctx, body);
  const numbers = body.requiredStringList('Fragments', { min: 1, max: MAX_RESULTS, each: FRAGMENT_NUMBER_RULE });

  response.writeHead(200, { 'content-type': 'video/webm' });
  const out = new MediaResponse(response);
  try {
    for (let i = 0; i < numbers.length && !out.isClosed; i += READ_BATCH) {
      const wanted = numbers.slice(i, i + READ_BATCH).map((number) => ({ number }));
      for (const fragment of inOrder(await ctx.store.readFragments(stream.uid, wanted.map((w) => w.number)), wanted)) {
        await out.write([fragment.header, writeTags(fragmentTags(fragment, 'fragment-list')), fragment.cluster, fragment.producerTags]);
      }
    }
  } finally {
    out.end();
  }
}
