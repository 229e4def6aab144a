// GetClip: a time range of a stream as one ordinary (progressive) MP4 file. Like AWS, the clip
// holds at most the first 200 fragments or 100 MB of the range; more is cut off, not refused.

import type http from 'node:http';
import type http2 from 'node:http2';
import { writeMp4File, type RemuxFragment } from '../../video/mp4/fmp4.js';
import type { MkvTrack } from '../../video/mkv/model.js';
import { InvalidArgumentException, NoDataRetentionException, ResourceNotFoundException } from '../protocol/errors.js';
import { Input } from '../protocol/input.js';
import type { VideoStreamsContext } from './context.js';
import { inOrder, missingMember } from './get-media.js';
import { remuxed } from './playback-media.js';
import { streamFor } from './streams.js';

const MAX_FRAGMENTS = 200;
const MAX_BYTES = 100 * 1024 * 1024;
// Fragments read from the store at a time: bounds what is held besides the clip itself.
const READ_BATCH = 8;

/** Serves POST /getClip: the MP4 of the selected range, content type video/mp4. */
export async function getClip(ctx: VideoStreamsContext, input: unknown, response: http.ServerResponse | http2.Http2ServerResponse): Promise<void> {
  const body = Input.of(input);
  const stream = await streamFor(ctx, body);
  const selector = body.object('ClipFragmentSelector') ?? missingMember('clipFragmentSelector');
  const type = selector.requiredEnumeration('FragmentSelectorType', ['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'] as const);
  const range = selector.object('TimestampRange') ?? missingMember('clipFragmentSelector.timestampRange');
  const startMs = range.timestamp('StartTimestamp') ?? missingMember('clipFragmentSelector.timestampRange.startTimestamp');
  const endMs = range.timestamp('EndTimestamp') ?? missingMember('clipFragmentSelector.timestampRange.endTimestamp');
  if (endMs <= startMs) throw new InvalidArgumentException('EndTimestamp must be later than StartTimestamp.');
  if (stream.dataRetentionInHours === 0) throw new NoDataRetentionException(`Stream ${stream.name} keeps no data (DataRetentionInHours is 0), so no clip can be made.`);

  const clock = type === 'PRODUCER_TIMESTAMP' ? 'producer' : 'server';
  const listed = await ctx.store.listFragments(stream.uid, { clock, startMs, endMs }, MAX_FRAGMENTS);
  if (listed.length === 0) throw noFragments();

  let track: MkvTrack | undefined;
  const fragments: RemuxFragment[] = [];
  let bytes = 0;
  reading: for (let i = 0; i < listed.length; i += READ_BATCH) {
    const wanted = listed.slice(i, i + READ_BATCH);
    for (const stored of inOrder(await ctx.store.readFragments(stream.uid, wanted.map((info) => info.number)), wanted)) {
      bytes += stored.cluster.length;
      if (bytes > MAX_BYTES && fragments.length > 0) break reading;
      const media = remuxed(stored);
      track ??= media.track;
      fragments.push(media.fragment);
    }
  }
  // The listed fragments were trimmed by retention meanwhile.
  if (!track) throw noFragments();
  const clip = writeMp4File(track, fragments);
  response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.length });
  response.end(clip);
}

function noFragments(): ResourceNotFoundException {
  return new ResourceNotFoundException('No fragments found in the stream for the clip request.', 404);
}
