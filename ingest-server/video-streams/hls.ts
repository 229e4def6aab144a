// HLS playback: GetHLSStreamingSessionURL starts a session, and the GETs under /hls/v1/ serve its
// playlists and media, authorised by the SessionToken alone (as on AWS, a player fetches them
// with no signature). Live playlists list a fragment as soon as it is durable, and honour LL-HLS
// blocking reloads (_HLS_msn) so a player hears of the next fragment the moment it lands.
// Every segment carries EXT-X-PROGRAM-DATE-TIME (AWS adds it only for DisplayFragmentTimestamp
// ALWAYS), so players and benchmarks can tell how far behind the camera they are.

import { InvalidArgumentException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import type { VideoStreamsContext } from './context.js';
import type { RequestOrigin } from './data-endpoint.js';
import { writeMasterPlaylist, writeMediaPlaylist, type PlaylistSegment } from './hls-playlists.js';
import { initFragment, mediaFragment, nonEmptyWindow, sessionOf, variantOf, type PlaybackGet } from './playback-media.js';
import { startSession } from './playback-start.js';
import { waitForSequence, type WindowFragment } from './playback-window.js';

export const HLS_PREFIX = '/hls/v1/';
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** LL-HLS: a blocking reload is held for at most this many target durations. */
const BLOCKING_RELOAD_TARGETS = 3;

/** GetHLSStreamingSessionURL: a master playlist URL on the host the client reached. */
export async function getHLSStreamingSessionURL(ctx: VideoStreamsContext, input: Input, request: RequestOrigin): Promise<object> {
  const container = input.enumeration('ContainerFormat', ['FRAGMENTED_MP4', 'MPEG_TS'] as const);
  const discontinuity = input.enumeration('DiscontinuityMode', ['ALWAYS', 'NEVER', 'ON_DISCONTINUITY'] as const);
  const token = await startSession(ctx, input, {
    protocol: 'hls',
    selector: 'HLSFragmentSelector',
    maxFragments: 'MaxMediaPlaylistFragmentResults',
    ...(container ? { container } : {}),
    ...(discontinuity ? { discontinuity } : {}),
  });
  return { HLSStreamingSessionURL: `${request.origin}${HLS_PREFIX}getHLSMasterPlaylist.m3u8?SessionToken=${token}` };
}

/** The HLS GET routes, by file name under /hls/v1/. */
export const HLS_ROUTES: Record<string, PlaybackGet> = {
  'getHLSMasterPlaylist.m3u8': masterPlaylist,
  'getHLSMediaPlaylist.m3u8': mediaPlaylist,
  'getMP4InitFragment.mp4': (ctx, query) => initFragment(ctx, sessionOf(ctx, query, 'hls')),
  'getMP4MediaFragment.mp4': (ctx, query) => mediaFragment(ctx, sessionOf(ctx, query, 'hls'), query, 'fmp4-segment'),
  'getTSFragment.ts': (ctx, query) => mediaFragment(ctx, sessionOf(ctx, query, 'hls'), query, 'ts-segment'),
};

async function masterPlaylist(ctx: VideoStreamsContext, query: URLSearchParams) {
  const session = sessionOf(ctx, query, 'hls');
  const { fragments } = await nonEmptyWindow(ctx, session);
  const text = writeMasterPlaylist({
    ...(await variantOf(ctx, session.streamUid, fragments)),
    mediaUri: `getHLSMediaPlaylist.m3u8?SessionToken=${query.get('SessionToken')}&TrackNumber=1`,
  });
  return { contentType: PLAYLIST_TYPE, body: text };
}

async function mediaPlaylist(ctx: VideoStreamsContext, query: URLSearchParams) {
  const session = sessionOf(ctx, query, 'hls');
  let window = await nonEmptyWindow(ctx, session);
  const wanted = query.get('_HLS_msn');
  if (wanted !== null) {
    if (!/^[0-9]{1,15}$/.test(wanted)) throw new InvalidArgumentException('_HLS_msn must be a media sequence number.');
    const longest = Math.max(...window.fragments.map((fragment) => fragment.durationMs));
    window = await waitForSequence(ctx, session, Number(wanted), BLOCKING_RELOAD_TARGETS * Math.max(1000, Math.ceil(longest / 1000) * 1000));
  }
  const token = query.get('SessionToken');
  const fmp4 = session.container === 'FRAGMENTED_MP4';
  const segmentUri = (fragment: WindowFragment) =>
    `${fmp4 ? 'getMP4MediaFragment.mp4' : 'getTSFragment.ts'}?SessionToken=${token}&FragmentNumber=${fragment.number}&TrackNumber=1`;
  const segments: PlaylistSegment[] = window.fragments.map((fragment, index) => ({
    uri: segmentUri(fragment),
    durationMs: fragment.durationMs,
    programDateTimeMs: session.programDateTimeClock === 'server' ? fragment.serverTimestampMs : fragment.producerTimestampMs,
    discontinuity: index > 0 && (session.discontinuity === 'ALWAYS' || (session.discontinuity === 'ON_DISCONTINUITY' && fragment.gapBefore)),
  }));
  const text = writeMediaPlaylist({
    version: fmp4 ? 7 : 3,
    // A session whose fragments were all trimmed while a reload waited lists none.
    mediaSequence: window.fragments[0]?.sequence ?? 0,
    ...(fmp4 ? { mapUri: `getMP4InitFragment.mp4?SessionToken=${token}&TrackNumber=1` } : {}),
    segments,
    ended: window.ended,
    vod: session.mode === 'ON_DEMAND',
    blockingReload: !window.ended,
  });
  return { contentType: PLAYLIST_TYPE, body: text };
}
