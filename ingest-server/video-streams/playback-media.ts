// The media bytes playback serves (HLS and DASH alike), per fragment: the fMP4 init segment, fMP4 media segments and
// MPEG-TS segments, remuxed from the stored Matroska (video/remux.ts) and cached. The remuxer's
// typed errors become the archived-media wire errors here.

import { avcConfigOf } from '../../video/mp4/avc-track.js';
import { avcCodecString } from '../../video/mp4/codec-string.js';
import { writeFmp4Init, writeFmp4Segment, type RemuxFragment } from '../../video/mp4/fmp4.js';
import { InvalidCodecPrivateDataError, MissingCodecPrivateDataError, UnsupportedStreamMediaTypeError } from '../../video/mp4/errors.js';
import type { MkvTrack } from '../../video/mkv/model.js';
import { TsMuxer } from '../../video/mpegts/ts.js';
import { remuxFragmentOf } from '../../video/remux.js';
import {
  InvalidArgumentException,
  InvalidCodecPrivateDataException,
  MissingCodecPrivateDataException,
  ResourceNotFoundException,
  UnsupportedStreamMediaTypeException,
} from '../protocol/errors.js';
import type { FragmentInfo, StoredFragment } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';
import { openSession, playbackSecretOf, type PlaybackSession } from './playback-session.js';
import { inSession, playbackWindow, type PlaybackWindow } from './playback-window.js';
import { RemuxCache } from './remux-cache.js';

/** What playback serves of one fragment. */
export type PlaybackMedia = 'fmp4-init' | 'fmp4-segment' | 'ts-segment';

const caches = new WeakMap<VideoStreamsContext, RemuxCache>();

/** One fragment's media as `kind`, from the cache when another viewer asked already. */
export function fragmentMedia(ctx: VideoStreamsContext, streamUid: string, number: string, kind: PlaybackMedia): Promise<Uint8Array> {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new RemuxCache()));
  return cache.get(`${streamUid}/${number}/${kind}`, async () => {
    const { track, fragment } = remuxed(await storedFragment(ctx, streamUid, number));
    switch (kind) {
      case 'fmp4-init':
        return writeFmp4Init(track);
      case 'fmp4-segment':
        // The fragment number increases within a stream, as mfhd's sequence_number must.
        return writeFmp4Segment(Number(number), fragment);
      case 'ts-segment':
        return new TsMuxer(track).segment(fragment);
    }
  });
}

/** A stored fragment with its bytes; ResourceNotFoundException when the stream no longer holds it. */
export async function storedFragment(ctx: VideoStreamsContext, streamUid: string, number: string): Promise<StoredFragment> {
  const [fragment] = await ctx.store.readFragments(streamUid, [number]);
  if (!fragment) throw new ResourceNotFoundException(`Fragment ${number} was not found in the stream.`, 404);
  return fragment;
}

/** A stored fragment's video track and frames, or the wire error saying why it cannot be played. */
export function remuxed(stored: StoredFragment): { track: MkvTrack; fragment: RemuxFragment } {
  try {
    const media = remuxFragmentOf(stored);
    // The writers check the codec only as they write: checking first fails before any bytes go out.
    avcConfigOf(media.track);
    return media;
  } catch (error) {
    if (error instanceof UnsupportedStreamMediaTypeError) throw new UnsupportedStreamMediaTypeException(error.message);
    if (error instanceof MissingCodecPrivateDataError) throw new MissingCodecPrivateDataException(error.message);
    if (error instanceof InvalidCodecPrivateDataError) throw new InvalidCodecPrivateDataException(error.message);
    throw error;
  }
}

/** What a playback GET answers: a playlist, manifest or media segment. */
export interface PlaybackReply {
  contentType: string;
  body: string | Uint8Array;
  /** Media for a fragment number never changes; playlists and init segments follow the window. */
  immutable?: boolean;
}

/** A playback GET route: the query string in, the reply out. */
export type PlaybackGet = (ctx: VideoStreamsContext, query: URLSearchParams) => Promise<PlaybackReply>;

/** The session a playback GET's SessionToken carries; rejected when forged, expired or for the other protocol. */
export function sessionOf(ctx: VideoStreamsContext, query: URLSearchParams, protocol: PlaybackSession['protocol']): PlaybackSession {
  const session = openSession(query.get('SessionToken') ?? undefined, playbackSecretOf(ctx), ctx.now());
  if (session.protocol !== protocol) throw new InvalidArgumentException(`The SessionToken is not a ${protocol.toUpperCase()} session.`);
  return session;
}

/** The session's fragments now; ResourceNotFoundException when there are none to play. */
export async function nonEmptyWindow(ctx: VideoStreamsContext, session: PlaybackSession): Promise<PlaybackWindow> {
  const window = await playbackWindow(ctx, session);
  if (window.fragments.length === 0) throw new ResourceNotFoundException('No fragments found in the stream for the streaming request.', 404);
  return window;
}

/** The fMP4 init segment, from the track of the first fragment the session lists now. */
export async function initFragment(ctx: VideoStreamsContext, session: PlaybackSession): Promise<PlaybackReply> {
  const { fragments } = await nonEmptyWindow(ctx, session);
  return { contentType: 'video/mp4', body: await fragmentMedia(ctx, session.streamUid, fragments[0]!.number, 'fmp4-init') };
}

/** One fragment of the session's stream as an fMP4 or MPEG-TS segment. */
export async function mediaFragment(ctx: VideoStreamsContext, session: PlaybackSession, query: URLSearchParams, kind: PlaybackMedia): Promise<PlaybackReply> {
  const number = query.get('FragmentNumber');
  if (number === null || !/^[0-9]{1,128}$/.test(number)) {
    throw new InvalidArgumentException('FragmentNumber is required and must be a fragment number.');
  }
  if (!(await inSession(ctx, session, number))) throw new ResourceNotFoundException(`Fragment ${number} is not in this session's range.`, 404);
  return { contentType: kind === 'ts-segment' ? 'video/mp2t' : 'video/mp4', body: await fragmentMedia(ctx, session.streamUid, number, kind), immutable: true };
}

/** What a master playlist or manifest says of the video: codecs, peak bit rate, picture size. */
export interface VideoVariant {
  codecs: string;
  bandwidth: number;
  width?: number;
  height?: number;
}

/** The variant the listed fragments make up, read from the first one's track. */
export async function variantOf(ctx: VideoStreamsContext, streamUid: string, fragments: FragmentInfo[]): Promise<VideoVariant> {
  const { track } = remuxed(await storedFragment(ctx, streamUid, fragments[0]!.number));
  return {
    codecs: avcCodecString(track),
    bandwidth: Math.max(...fragments.map((fragment) => (fragment.sizeBytes * 8 * 1000) / Math.max(fragment.durationMs, 1))),
    ...(track.width !== undefined ? { width: track.width } : {}),
    ...(track.height !== undefined ? { height: track.height } : {}),
  };
}
