// Which fragments a playback session lists right now, shared by HLS playlists and DASH manifests.
// ON_DEMAND: the oldest fragments of the range. LIVE: the newest fragments, each as soon as it
// is durable. LIVE_REPLAY: from the start time on, released at the pace the video was recorded
// (AWS adds "a fragment as the duration of the next fragment elapses").
//
// Each fragment also gets its media sequence number: its position among the session's fragments.
// Fragment numbers come from a store-wide counter (not consecutive within a stream), and HLS needs
// consecutive numbers that stay put across playlist reloads, so positions are counted once and
// remembered per session range; counting resumes from the last fragment counted.

import type { FragmentClock, FragmentInfo } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';
import type { PlaybackSession } from './playback-session.js';

/** A fragment as a playlist lists it. */
export interface WindowFragment extends FragmentInfo {
  /** Position among the session's fragments, from 0. */
  sequence: number;
  /** Whether the producer timeline jumps between the previous fragment and this one. */
  gapBefore: boolean;
}

/** The fragments listed now, and whether no more will come. */
export interface PlaybackWindow {
  fragments: WindowFragment[];
  ended: boolean;
}

/** AWS's longest fragment: a window of N fragments spans at most N of these. */
const MAX_FRAGMENT_MS = 10_000;
/** A jump in producer time beyond a fragment's own length plus this is a discontinuity. */
const GAP_TOLERANCE_MS = 500;
const PAGE = 1000;
const END_OF_TIME = Number.MAX_SAFE_INTEGER;

interface Counted {
  number: string;
  sequence: number;
}
/** Per server: per session range, the last fragment whose position was counted. */
const counted = new WeakMap<VideoStreamsContext, Map<string, Counted>>();
/** Session ranges remembered per server; the oldest is forgotten first (it is only counted again). */
const MAX_COUNTED_RANGES = 10_000;

/** The session's fragments to list now. */
export async function playbackWindow(ctx: VideoStreamsContext, session: PlaybackSession): Promise<PlaybackWindow> {
  let listed: FragmentInfo[];
  let ended = false;
  switch (session.mode) {
    case 'ON_DEMAND':
      listed = await ctx.store.listFragments(session.streamUid, sessionRange(session), session.maxFragments);
      ended = true;
      break;
    case 'LIVE':
      listed = await newestFragments(ctx, session, END_OF_TIME);
      break;
    case 'LIVE_REPLAY': {
      const range = sessionRange(session);
      const first = await ctx.store.listFragments(session.streamUid, range, session.maxFragments);
      if (first.length === 0) {
        listed = [];
        break;
      }
      const released = stamp(first[first.length - 1]!, session.clock) + (ctx.now() - session.issuedAtMs);
      listed = await newestFragments(ctx, session, Math.min(released, range.endMs));
      ended = session.endMs !== undefined && released >= session.endMs;
      break;
    }
  }
  return { fragments: await numbered(ctx, session, listed), ended };
}

/** Resolves once the session lists media sequence `sequence`, or after `timeoutMs` (LL-HLS blocking playlist reload). */
export async function waitForSequence(ctx: VideoStreamsContext, session: PlaybackSession, sequence: number, timeoutMs: number): Promise<PlaybackWindow> {
  const deadline = Date.now() + timeoutMs;
  // Bumped by every append; a wait starts only if nothing was appended since the last look.
  let appended = 0;
  let wake: (() => void) | undefined;
  const unwatch = ctx.store.watch(session.streamUid, () => {
    appended++;
    wake?.();
  });
  try {
    for (;;) {
      const seen = appended;
      const window = await playbackWindow(ctx, session);
      const last = window.fragments[window.fragments.length - 1];
      const left = deadline - Date.now();
      if (window.ended || (last && last.sequence >= sequence) || left <= 0 || ctx.closing.signal.aborted) return window;
      if (appended !== seen) continue;
      // LIVE_REPLAY releases fragments by time, not by appends: look again at least every 250 ms.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unwatch();
  }
}

/** Whether fragment `number` is one of the session's (a token plays its own range, not the whole stream). */
export async function inSession(ctx: VideoStreamsContext, session: PlaybackSession, number: string): Promise<boolean> {
  if (session.mode === 'LIVE') return session.anchorAfter === undefined || BigInt(number) > BigInt(session.anchorAfter);
  const [found] = await ctx.store.listFragments(session.streamUid, sessionRange(session), 1, (BigInt(number) - 1n).toString());
  return found?.number === number;
}

/** The session's time range on its clock (everything for LIVE). */
function sessionRange(session: Pick<PlaybackSession, 'clock' | 'startMs' | 'endMs'>): { clock: FragmentClock; startMs: number; endMs: number } {
  return { clock: session.clock, startMs: session.startMs ?? 0, endMs: session.endMs ?? END_OF_TIME };
}

function stamp(fragment: FragmentInfo, clock: FragmentClock): number {
  return clock === 'producer' ? fragment.producerTimestampMs : fragment.serverTimestampMs;
}

/** What choosing a live window needs of a session. */
export type WindowRange = Pick<PlaybackSession, 'streamUid' | 'clock' | 'startMs' | 'endMs' | 'maxFragments' | 'anchorAfter'>;

/** The newest maxFragments of the session's fragments stamped at or before `untilMs`. */
export async function newestFragments(ctx: VideoStreamsContext, session: WindowRange, untilMs: number): Promise<FragmentInfo[]> {
  const range = sessionRange(session);
  const last = await ctx.store.lastFragment(session.streamUid);
  if (!last) return [];
  // The window ends at the newest fragment, so that it reaches back over fragments that exist.
  const endMs = Math.min(range.endMs, untilMs, stamp(last, session.clock));
  const span = { clock: session.clock, startMs: Math.max(range.startMs, endMs - session.maxFragments * MAX_FRAGMENT_MS), endMs };
  const found = await ctx.store.listFragments(session.streamUid, span, Math.min(session.maxFragments * 20, 5000));
  const after = session.anchorAfter;
  const kept = after === undefined ? found : found.filter((fragment) => BigInt(fragment.number) > BigInt(after));
  return kept.slice(-session.maxFragments);
}

/** Gives the listed fragments their media sequence numbers and marks timeline jumps. */
async function numbered(ctx: VideoStreamsContext, session: PlaybackSession, listed: FragmentInfo[]): Promise<WindowFragment[]> {
  if (listed.length === 0) return [];
  const base = await positionOf(ctx, session, listed[0]!.number);
  return listed.map((fragment, index) => {
    const previous = listed[index - 1];
    const gapBefore = previous !== undefined && fragment.producerTimestampMs - previous.producerTimestampMs > previous.durationMs + GAP_TOLERANCE_MS;
    return { ...fragment, sequence: base + index, gapBefore };
  });
}

/** How many of the session's fragments come before fragment `number`. */
async function positionOf(ctx: VideoStreamsContext, session: PlaybackSession, number: string): Promise<number> {
  // ON_DEMAND lists from the start of its range.
  if (session.mode === 'ON_DEMAND') return 0;
  const key = `${session.streamUid}|${session.clock}|${session.startMs ?? ''}|${session.endMs ?? ''}|${session.anchorAfter ?? ''}`;
  const known = counted.get(ctx) ?? new Map<string, Counted>();
  counted.set(ctx, known);
  let from = known.get(key);
  if (from && BigInt(from.number) > BigInt(number)) from = undefined;
  if (from?.number === number) return from.sequence;

  const range = sessionRange(session);
  let after = from?.number ?? session.anchorAfter;
  let sequence = from ? from.sequence + 1 : 0;
  for (;;) {
    const page = session.mode === 'LIVE' ? await ctx.store.fragmentsAfter(session.streamUid, after, PAGE) : await ctx.store.listFragments(session.streamUid, range, PAGE, after);
    const at = page.findIndex((fragment) => fragment.number === number);
    if (at >= 0) {
      sequence += at;
      known.delete(key);
      known.set(key, { number, sequence });
      if (known.size > MAX_COUNTED_RANGES) known.delete(known.keys().next().value!);
      return sequence;
    }
    // Not in the session's fragments (trimmed meanwhile): count from where the pages ended.
    if (page.length < PAGE) return sequence + page.length;
    sequence += page.length;
    after = page[page.length - 1]!.number;
  }
}
