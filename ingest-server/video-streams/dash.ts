// DASH playback: GetDASHStreamingSessionURL starts a session, and the GETs under /dash/v1/ serve
// its manifest and the same fMP4 media HLS serves, authorised by the SessionToken alone.

import type { Input } from '../protocol/input.js';
import type { VideoStreamsContext } from './context.js';
import { writeDashManifest } from './dash-manifest.js';
import type { RequestOrigin } from './data-endpoint.js';
import { initFragment, mediaFragment, nonEmptyWindow, sessionOf, variantOf, type PlaybackGet } from './playback-media.js';
import { startSession } from './playback-start.js';

export const DASH_PREFIX = '/dash/v1/';

/** GetDASHStreamingSessionURL: a manifest URL on the host the client reached. */
export async function getDASHStreamingSessionURL(ctx: VideoStreamsContext, input: Input, request: RequestOrigin): Promise<object> {
  const token = await startSession(ctx, input, { protocol: 'dash', selector: 'DASHFragmentSelector', maxFragments: 'MaxManifestFragmentResults' });
  return { DASHStreamingSessionURL: `${request.origin}${DASH_PREFIX}getDASHManifest.mpd?SessionToken=${token}` };
}

/** The DASH GET routes, by file name under /dash/v1/. */
export const DASH_ROUTES: Record<string, PlaybackGet> = {
  'getDASHManifest.mpd': manifest,
  'getMP4InitFragment.mp4': (ctx, query) => initFragment(ctx, sessionOf(ctx, query, 'dash')),
  'getMP4MediaFragment.mp4': (ctx, query) => mediaFragment(ctx, sessionOf(ctx, query, 'dash'), query, 'fmp4-segment'),
};

async function manifest(ctx: VideoStreamsContext, query: URLSearchParams) {
  const session = sessionOf(ctx, query, 'dash');
  const window = await nonEmptyWindow(ctx, session);
  const fragments = window.fragments;
  const token = query.get('SessionToken');
  const text = writeDashManifest({
    dynamic: !window.ended,
    publishedMs: ctx.now(),
    ...(await variantOf(ctx, session.streamUid, fragments)),
    initUri: `getMP4InitFragment.mp4?SessionToken=${token}&TrackNumber=1`,
    // Media time is the producer timestamp: the fMP4 segments' decode times say the same.
    segments: fragments.map((fragment) => ({
      uri: `getMP4MediaFragment.mp4?SessionToken=${token}&FragmentNumber=${fragment.number}&TrackNumber=1`,
      startMs: fragment.producerTimestampMs,
      durationMs: fragment.durationMs,
    })),
    updatePeriodMs: Math.max(1000, fragments[fragments.length - 1]!.durationMs),
  });
  return { contentType: 'application/dash+xml', body: text };
}
