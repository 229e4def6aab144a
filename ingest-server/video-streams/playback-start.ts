// Starting a playback session: what GetHLSStreamingSessionURL and GetDASHStreamingSessionURL
// share. Validates the request as AWS does, checks there is something to play (and that it can
// be played), and seals the session into the token the returned URL carries.

import { InvalidArgumentException, NoDataRetentionException, ResourceNotFoundException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import type { FragmentInfo } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';
import { remuxed, storedFragment } from './playback-media.js';
import { playbackSecretOf, sealSession, type ContainerFormat, type DiscontinuityMode, type PlaybackSession } from './playback-session.js';
import { newestFragments } from './playback-window.js';
import { streamFor } from './streams.js';

const PLAYBACK_MODES = ['LIVE', 'LIVE_REPLAY', 'ON_DEMAND'] as const;
const SELECTOR_TYPES = ['PRODUCER_TIMESTAMP', 'SERVER_TIMESTAMP'] as const;
const EXPIRES = { min: 300, max: 43_200 };
const DEFAULT_EXPIRES_S = 300;
/** LIVE needs a fragment this recent. */
const LIVE_FRESHNESS_MS = 30_000;
/** ON_DEMAND plays at most a day. */
const MAX_ON_DEMAND_RANGE_MS = 24 * 3_600_000;

/** The members a session request names differently per protocol. */
export interface SessionMembers {
  protocol: 'hls' | 'dash';
  selector: string;
  maxFragments: string;
  container?: ContainerFormat;
  discontinuity?: DiscontinuityMode;
}

/** Validates a session request and returns its sealed token. */
export async function startSession(ctx: VideoStreamsContext, input: Input, members: SessionMembers): Promise<string> {
  const stream = await streamFor(ctx, input);
  const mode = input.enumeration('PlaybackMode', PLAYBACK_MODES) ?? 'LIVE';
  const selector = input.object(members.selector);
  const type = selector?.enumeration('FragmentSelectorType', SELECTOR_TYPES) ?? 'SERVER_TIMESTAMP';
  const range = selector?.object('TimestampRange');
  const startMs = range?.timestamp('StartTimestamp');
  const endMs = range?.timestamp('EndTimestamp');
  const displayTimestamp = input.enumeration('DisplayFragmentTimestamp', ['ALWAYS', 'NEVER'] as const) ?? 'NEVER';
  // DASH's DisplayFragmentNumber is checked like AWS checks it; manifests here never carry fragment numbers.
  input.enumeration('DisplayFragmentNumber', ['ALWAYS', 'NEVER'] as const);
  const expiresS = input.integer('Expires', EXPIRES) ?? DEFAULT_EXPIRES_S;
  const maxFragments = input.integer(members.maxFragments, { min: 1, max: 5000 }) ?? (mode === 'ON_DEMAND' ? 1000 : 5);

  if (mode === 'LIVE' && range) throw new InvalidArgumentException(`${members.selector}.TimestampRange must not be set when PlaybackMode is LIVE.`);
  if (mode !== 'LIVE' && startMs === undefined) throw new InvalidArgumentException(`${members.selector}.TimestampRange.StartTimestamp is required when PlaybackMode is ${mode}.`);
  if (mode === 'ON_DEMAND' && endMs === undefined) throw new InvalidArgumentException(`${members.selector}.TimestampRange.EndTimestamp is required when PlaybackMode is ON_DEMAND.`);
  if (startMs !== undefined && endMs !== undefined && endMs <= startMs) throw new InvalidArgumentException('EndTimestamp must be later than StartTimestamp.');
  if (mode === 'ON_DEMAND' && endMs! - startMs! > MAX_ON_DEMAND_RANGE_MS) throw new InvalidArgumentException('The TimestampRange of an ON_DEMAND session spans at most 24 hours.');
  if (stream.dataRetentionInHours === 0) throw new NoDataRetentionException(`Stream ${stream.name} keeps no data (DataRetentionInHours is 0), so it cannot be played back.`);

  const now = ctx.now();
  const clock = mode === 'LIVE' ? 'server' : type === 'PRODUCER_TIMESTAMP' ? 'producer' : 'server';
  let first: FragmentInfo | undefined;
  let anchorAfter: string | undefined;
  if (mode === 'LIVE') {
    const last = await ctx.store.lastFragment(stream.uid);
    if (last && now - last.serverTimestampMs <= LIVE_FRESHNESS_MS) {
      // Media sequence numbers count from the first fragment the session lists.
      [first] = await newestFragments(ctx, { streamUid: stream.uid, clock, maxFragments }, Number.MAX_SAFE_INTEGER);
      if (first) anchorAfter = (BigInt(first.number) - 1n).toString();
    }
  } else {
    [first] = await ctx.store.listFragments(stream.uid, { clock, startMs: startMs!, endMs: endMs ?? Number.MAX_SAFE_INTEGER }, 1);
  }
  if (!first) throw new ResourceNotFoundException('No fragments found in the stream for the streaming request.', 404);
  // Fails now, as AWS does, when the stream's media cannot be played (not H.264, no CodecPrivate).
  remuxed(await storedFragment(ctx, stream.uid, first.number));

  const session: PlaybackSession = {
    protocol: members.protocol,
    streamUid: stream.uid,
    mode,
    clock,
    ...(startMs !== undefined ? { startMs } : {}),
    ...(endMs !== undefined ? { endMs } : {}),
    ...(anchorAfter !== undefined ? { anchorAfter } : {}),
    container: members.container ?? 'FRAGMENTED_MP4',
    discontinuity: members.discontinuity ?? (type === 'PRODUCER_TIMESTAMP' ? 'NEVER' : 'ALWAYS'),
    programDateTimeClock: displayTimestamp === 'ALWAYS' && type === 'SERVER_TIMESTAMP' ? 'server' : 'producer',
    maxFragments,
    issuedAtMs: now,
    expiresAtMs: now + expiresS * 1000,
  };
  return sealSession(session, playbackSecretOf(ctx));
}
