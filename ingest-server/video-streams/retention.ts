import type { VideoStreamState } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';

// A stream with DataRetentionInHours 0 keeps no archive (AWS: the stream does not persist data),
// but live readers (GetMedia) still read what arrives, so its fragments are kept for a minute
// and then go with the next retention pass.
const HOUR_MS = 3_600_000;
const NO_RETENTION_KEEP_MS = 60_000;

/** Fragments whose server timestamp is before this have passed the stream's retention. */
export function videoRetentionCutoff(state: VideoStreamState, now: number): number {
  return now - (state.dataRetentionInHours === 0 ? NO_RETENTION_KEEP_MS : state.dataRetentionInHours * HOUR_MS);
}

/** Deletes every stream's fragments that have passed its retention. */
export async function trimExpiredVideo(ctx: VideoStreamsContext): Promise<void> {
  for (const state of await ctx.store.listStreams()) await ctx.store.trim(state.uid, videoRetentionCutoff(state, ctx.now()));
}
