// GetImages: still images of a stream at a fixed interval over a time range (at most 300 s),
// 25 a page. Each sample time takes the frame nearest to it in the fragment that covers it;
// a time no fragment covers gets Error NO_MEDIA, a frame that does not decode MEDIA_ERROR.

import { pageToken, readPageToken } from '../data-streams/page-token.js';
import { InvalidArgumentException, NoDataRetentionException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import { Blob, Timestamp } from '../protocol/wire-values.js';
import type { FragmentClock, FragmentInfo } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';
import { decodeFrames, FrameDecodeError, type ImageEncoding } from './image-decoder.js';
import { remuxed, storedFragment } from './playback-media.js';
import { streamFor } from './streams.js';

const MAX_RANGE_MS = 300_000;
const MIN_SAMPLING_MS = 200;
/** When SamplingInterval is left out. */
const DEFAULT_SAMPLING_MS = 3000;
const PAGE_SIZE = 25;
const DEFAULT_JPEG_QUALITY = 80;
/** AWS's longest fragment: a fragment covering time t started at most this long before it. */
const MAX_FRAGMENT_MS = 10_000;

interface Sample {
  atMs: number;
  image?: Uint8Array;
  error?: 'NO_MEDIA' | 'MEDIA_ERROR';
}

/** GetImages: a page of images at SamplingInterval steps from StartTimestamp to EndTimestamp. */
export async function getImages(ctx: VideoStreamsContext, input: Input): Promise<object> {
  const stream = await streamFor(ctx, input);
  const type = input.requiredEnumeration('ImageSelectorType', ['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'] as const);
  const startMs = input.timestamp('StartTimestamp') ?? required('StartTimestamp');
  const endMs = input.timestamp('EndTimestamp') ?? required('EndTimestamp');
  const format = input.requiredEnumeration('Format', ['JPEG', 'PNG'] as const);
  const intervalMs = input.integer('SamplingInterval', { min: MIN_SAMPLING_MS }) ?? DEFAULT_SAMPLING_MS;
  const quality = jpegQuality(input.stringMap('FormatConfig'));
  const width = input.integer('WidthPixels', { min: 1, max: 3840 });
  const height = input.integer('HeightPixels', { min: 1, max: 2160 });
  const pageSize = Math.min(input.integer('MaxResults', { min: 1 }) ?? PAGE_SIZE, PAGE_SIZE);
  const nextToken = input.string('NextToken', { min: 1, max: 4096 });
  if (endMs < startMs) throw new InvalidArgumentException('EndTimestamp must not be earlier than StartTimestamp.');
  if (endMs - startMs > MAX_RANGE_MS) throw new InvalidArgumentException('EndTimestamp must be at most 300 seconds after StartTimestamp.');
  if (stream.dataRetentionInHours === 0) throw new NoDataRetentionException(`Stream ${stream.name} keeps no data (DataRetentionInHours is 0), so it has no images.`);

  // A range shorter than the interval still gives the image at its start.
  const total = Math.floor((endMs - startMs) / intervalMs) + 1;
  const first = nextToken === undefined ? 0 : Number(readPageToken(nextToken, 'GetImages', ctx.now(), stream.uid));
  const count = Math.min(pageSize, total - first);
  const samples: Sample[] = Array.from({ length: Math.max(count, 0) }, (_, i) => ({ atMs: startMs + (first + i) * intervalMs }));
  const clock: FragmentClock = type === 'PRODUCER_TIMESTAMP' ? 'producer' : 'server';
  await fillImages(ctx, stream.uid, clock, samples, { format, quality, width, height });

  return {
    Images: samples.map((sample) => ({
      TimeStamp: new Timestamp(sample.atMs),
      ...(sample.error ? { Error: sample.error } : {}),
      ...(sample.image ? { ImageContent: new Blob(Buffer.from(sample.image).toString('base64')) } : {}),
    })),
    ...(first + count < total ? { NextToken: pageToken('GetImages', String(first + count), ctx.now(), stream.uid) } : {}),
  };
}

/** Finds each sample's fragment and frame, and decodes each fragment once for all its samples. */
async function fillImages(
  ctx: VideoStreamsContext,
  streamUid: string,
  clock: FragmentClock,
  samples: Sample[],
  size: Omit<ImageEncoding, 'width' | 'height'> & { width: number | undefined; height: number | undefined },
): Promise<void> {
  if (samples.length === 0) return;
  const range = { clock, startMs: samples[0]!.atMs - MAX_FRAGMENT_MS, endMs: samples[samples.length - 1]!.atMs };
  const fragments = await ctx.store.listFragments(streamUid, range, 1000);
  const byFragment = new Map<FragmentInfo, Sample[]>();
  for (const sample of samples) {
    // The newest fragment starting at or before the sample: a later put wins over an overlapped one.
    const covering = [...fragments].reverse().find((fragment) => stamp(fragment, clock) <= sample.atMs && sample.atMs < stamp(fragment, clock) + Math.max(fragment.durationMs, 1));
    if (!covering) sample.error = 'NO_MEDIA';
    else byFragment.set(covering, [...(byFragment.get(covering) ?? []), sample]);
  }
  for (const [info, wanted] of byFragment) {
    const stored = await storedFragment(ctx, streamUid, info.number);
    const { track, fragment } = remuxed(stored);
    // Decoders emit frames in presentation order: block timecodes (Matroska's PTS) sorted.
    const times = fragment.blocks.map((block) => stamp(info, clock) + block.timecode).sort((a, b) => a - b);
    const frameOf = (atMs: number) => times.reduce((best, time, index) => (Math.abs(time - atMs) < Math.abs(times[best]! - atMs) ? index : best), 0);
    const encoding = { format: size.format, quality: size.quality, ...pictureSize(size.width, size.height, track.width, track.height) };
    let images = new Map<number, Uint8Array>();
    try {
      images = await decodeFrames([stored.header, stored.cluster], wanted.map((sample) => frameOf(sample.atMs)), encoding);
    } catch (error) {
      if (!(error instanceof FrameDecodeError)) throw error;
      ctx.log.warn('GetImages could not decode a fragment', { fragment: info.number, error: error.message });
    }
    for (const sample of wanted) {
      const image = images.get(frameOf(sample.atMs));
      if (image) sample.image = image;
      else sample.error = 'MEDIA_ERROR';
    }
  }
}

function stamp(fragment: FragmentInfo, clock: FragmentClock): number {
  return clock === 'producer' ? fragment.producerTimestampMs : fragment.serverTimestampMs;
}

/** The output size: as asked, the other side from the picture's aspect ratio when one is given, else the picture's own. */
function pictureSize(width: number | undefined, height: number | undefined, sourceWidth = 0, sourceHeight = 0): { width: number; height: number } {
  if (sourceWidth === 0 || sourceHeight === 0) {
    if (width === undefined || height === undefined) throw new InvalidArgumentException('The stream does not state its picture size; give both WidthPixels and HeightPixels.');
    return { width, height };
  }
  if (width !== undefined && height !== undefined) return { width, height };
  if (width !== undefined) return { width, height: Math.max(1, Math.round((width * sourceHeight) / sourceWidth)) };
  if (height !== undefined) return { width: Math.max(1, Math.round((height * sourceWidth) / sourceHeight)), height };
  return { width: sourceWidth, height: sourceHeight };
}

function jpegQuality(config: Record<string, string> | undefined): number {
  const given = config?.['JPEGQuality'];
  if (given === undefined) return DEFAULT_JPEG_QUALITY;
  const quality = Number(given);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new InvalidArgumentException('FormatConfig.JPEGQuality must be an integer from 1 to 100.');
  return quality;
}

function required(member: string): never {
  throw new InvalidArgumentException(`${member} is required.`);
}
