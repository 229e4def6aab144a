// Cuts a stream of timestamped frames into Kinesis Video fragments: each fragment starts with a
// keyframe (a GOP) and lasts at least fragmentMs, so that a consumer can start decoding at any
// fragment. Block timecodes are milliseconds relative to the fragment start, matching Matroska's
// 1 ms TimecodeScale that Kinesis Video uses.
//
// When no keyframe arrives within maxFragmentMs the fragment is closed and the following frames
// are dropped until the next keyframe. Cutting there instead would start a fragment with a frame
// that cannot be decoded without the previous fragment — players would show garbage, and GetMedia
// from that fragment would be useless — and a longer fragment is refused by Kinesis (error 4002).

import type { MkvBlock } from './mkv/model.js';

/** One encoded frame, as a capture pipeline delivers it. */
export interface FragmenterFrame {
  /** Absolute presentation time, e.g. epoch ms. */
  timestampMs: number;
  keyframe: boolean;
  track: number;
  data: Uint8Array;
}

/** A GOP ready to become one Cluster: writeCluster(timestampMs, blocks). */
export interface Fragment {
  timestampMs: number;
  durationMs: number;
  /** Block timecodes are ms relative to timestampMs; the first block is a keyframe. */
  blocks: MkvBlock[];
}

/** Options of the Fragmenter. */
export interface FragmenterOptions {
  /** Minimum fragment length: cut at the first keyframe once this much has passed. */
  fragmentMs: number;
  /** Longest fragment allowed (Kinesis Video refuses more than 10 s); default 10000. */
  maxFragmentMs?: number;
}

/** Block timecodes are signed 16 bits, so no frame may lie further than this from its fragment start. */
const MAX_BLOCK_OFFSET_MS = 32767;

/** Groups frames into keyframe-led fragments (see the file comment for the rules). */
export class Fragmenter {
  /** Frames dropped because no keyframe led them: before the first one, and after a fragment reached maxFragmentMs. */
  droppedBeforeKeyframe = 0;
  private readonly fragmentMs: number;
  private readonly maxFragmentMs: number;
  private current: Fragment | undefined;

  constructor(options: FragmenterOptions) {
    const { fragmentMs, maxFragmentMs = 10_000 } = options;
    if (!Number.isFinite(maxFragmentMs) || maxFragmentMs <= 0 || maxFragmentMs > MAX_BLOCK_OFFSET_MS) {
      throw new RangeError(`maxFragmentMs must be in (0, ${MAX_BLOCK_OFFSET_MS}], got ${maxFragmentMs}`);
    }
    if (!Number.isFinite(fragmentMs) || fragmentMs <= 0 || fragmentMs > maxFragmentMs) {
      throw new RangeError(`fragmentMs must be in (0, maxFragmentMs = ${maxFragmentMs}], got ${fragmentMs}`);
    }
    this.fragmentMs = fragmentMs;
    this.maxFragmentMs = maxFragmentMs;
  }

  /** Adds a frame; returns the fragments it completes (zero or one). */
  push(frame: FragmenterFrame): Fragment[] {
    if (!Number.isFinite(frame.timestampMs)) throw new RangeError(`frame.timestampMs must be a finite number, got ${frame.timestampMs}`);
    const current = this.current;
    if (!current) {
      if (frame.keyframe) this.start(frame);
      else this.droppedBeforeKeyframe++;
      return [];
    }
    const elapsed = frame.timestampMs - current.timestampMs;
    if (frame.keyframe && elapsed >= this.fragmentMs) {
      this.start(frame);
      return [close(current, Math.min(elapsed, this.maxFragmentMs))];
    }
    if (elapsed >= this.maxFragmentMs) {
      this.current = undefined;
      this.droppedBeforeKeyframe++;
      return [close(current, this.maxFragmentMs)];
    }
    if (elapsed < -MAX_BLOCK_OFFSET_MS) throw new RangeError(`frame at ${frame.timestampMs} ms lies too far before its fragment start ${current.timestampMs} ms`);
    current.blocks.push(block(frame, Math.round(elapsed)));
    return [];
  }

  /** Closes the fragment in progress, e.g. at the end of a capture. */
  flush(): Fragment[] {
    const current = this.current;
    if (!current) return [];
    this.current = undefined;
    return [close(current, Math.min(estimatedSpan(current.blocks), this.maxFragmentMs))];
  }

  private start(frame: FragmenterFrame): void {
    this.current = { timestampMs: frame.timestampMs, durationMs: 0, blocks: [block(frame, 0)] };
  }
}

function block(frame: FragmenterFrame, timecode: number): MkvBlock {
  return { track: frame.track, timecode, keyframe: frame.keyframe, data: frame.data };
}

function close(fragment: Fragment, durationMs: number): Fragment {
  fragment.durationMs = durationMs;
  return fragment;
}

/** Span of the blocks plus one average frame gap, when the next frame's time is not known. */
function estimatedSpan(blocks: readonly MkvBlock[]): number {
  const last = blocks[blocks.length - 1]!.timecode;
  return blocks.length > 1 ? Math.round(last + last / (blocks.length - 1)) : 0;
}
