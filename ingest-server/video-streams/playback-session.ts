// A playback session (HLS or DASH) is its SessionToken: what to play, sealed with an HMAC under a
// secret the store keeps. The server holds no per-session state, so any node (or this one after
// a restart) serves any session, and a viewer cannot widen or retarget what it was given.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentException, ServiceError } from '../protocol/errors.js';
import type { FragmentClock } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';

export type PlaybackMode = 'LIVE' | 'LIVE_REPLAY' | 'ON_DEMAND';
export type ContainerFormat = 'FRAGMENTED_MP4' | 'MPEG_TS';
export type DiscontinuityMode = 'ALWAYS' | 'NEVER' | 'ON_DISCONTINUITY';

/** What a session plays, as sealed into its token. */
export interface PlaybackSession {
  protocol: 'hls' | 'dash';
  streamUid: string;
  mode: PlaybackMode;
  clock: FragmentClock;
  /** The selector's range (ms on `clock`); LIVE has none. */
  startMs?: number;
  endMs?: number;
  /** LIVE: media sequence numbers count the fragments after this one (absent: from the oldest kept). */
  anchorAfter?: string;
  container: ContainerFormat;
  discontinuity: DiscontinuityMode;
  /** The clock of EXT-X-PROGRAM-DATE-TIME: server only when DisplayFragmentTimestamp ALWAYS asks for a SERVER_TIMESTAMP session's times. */
  programDateTimeClock: FragmentClock;
  /** Fragments a playlist or manifest lists at most. */
  maxFragments: number;
  issuedAtMs: number;
  expiresAtMs: number;
}

const MAC_BYTES = 16;
const VERSION = 1;

/**
 * The error a viewer sees for a token that is expired, forged or garbled. AWS answers these GETs
 * with 403 and the NotAuthorizedException shape (the SDK models it as 401 for the POST operations).
 */
export class SessionTokenRejected extends ServiceError {
  constructor(message: string) {
    super(message, 403);
  }
  override get name(): string {
    return 'NotAuthorizedException';
  }
}

/** Seals a session into an opaque SessionToken. */
export function sealSession(session: PlaybackSession, secret: Buffer): string {
  const body = Buffer.from(JSON.stringify([VERSION, session]), 'utf8');
  // Plain base64url, no separator: players and ffmpeg look for a file extension after a dot.
  return Buffer.concat([body, mac(body, secret)]).toString('base64url');
}

/** Opens a SessionToken; SessionTokenRejected when forged, garbled or past its expiry. */
export function openSession(token: string | undefined, secret: Buffer, now: number): PlaybackSession {
  if (token === undefined || token.length === 0) throw new InvalidArgumentException('SessionToken is required.');
  const bytes = Buffer.from(token, 'base64url');
  const body = bytes.subarray(0, Math.max(bytes.length - MAC_BYTES, 0));
  if (bytes.length <= MAC_BYTES || !timingSafeEqual(bytes.subarray(body.length), mac(body, secret))) throw new SessionTokenRejected('The SessionToken is not valid.');
  // Sealed by this server, so well-formed.
  const [version, session] = JSON.parse(body.toString('utf8')) as [number, PlaybackSession];
  if (version !== VERSION) throw new SessionTokenRejected('The SessionToken is not valid.');
  if (now >= session.expiresAtMs) throw new SessionTokenRejected(`The SessionToken expired at ${new Date(session.expiresAtMs).toISOString()}.`);
  return session;
}

/** The key sessions are sealed with; the server always gives one (only jobs that play nothing lack it). */
export function playbackSecretOf(ctx: VideoStreamsContext): Buffer {
  if (!ctx.playbackSecret) throw new Error('this Kinesis Video context has no playbackSecret');
  return ctx.playbackSecret;
}

function mac(body: Buffer, secret: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest().subarray(0, MAC_BYTES);
}
