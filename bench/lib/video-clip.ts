// The H.264 clip the video benchmarks send: recorded once by gst-launch (videotestsrc snow, x264
// CBR, no B-frames, one GOP per fragment) and split into GOPs, each ready to be one Cluster.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MkvBlock, MkvTrack } from '../../video/mkv/model.js';
import { MkvStreamReader } from '../../video/mkv/stream-reader.js';

/** How the clip is recorded. */
export interface ClipOptions {
  seconds: number;
  fps: number;
  bitrateKbps: number;
  /** One GOP (and so one fragment) this long. */
  gopMs: number;
  width: number;
  height: number;
}

/** A recorded clip: its tracks and its GOPs, block timecodes relative to each GOP's first frame. */
export interface Clip {
  tracks: MkvTrack[];
  gops: MkvBlock[][];
  bytesPerSecond: number;
}

/** Records the clip into `dir` with gst-launch-1.0 and splits it into GOPs. */
export async function makeClip(dir: string, options: ClipOptions): Promise<Clip> {
  const { seconds, fps, bitrateKbps, gopMs, width, height } = options;
  const file = join(dir, 'clip.mkv');
  // Snow keeps the encoder at its bitrate (a still test pattern would compress to almost nothing).
  await promisify(execFile)('gst-launch-1.0', [
    '-q', 'videotestsrc', 'pattern=snow', `num-buffers=${seconds * fps}`, '!',
    `video/x-raw,width=${width},height=${height},framerate=${fps}/1,format=I420`, '!',
    'x264enc', `bitrate=${bitrateKbps}`, 'pass=cbr', 'tune=zerolatency', 'bframes=0', `key-int-max=${Math.round((fps * gopMs) / 1000)}`, 'speed-preset=ultrafast', '!',
    'h264parse', '!', 'matroskamux', '!', 'filesink', `location=${file}`,
  ]);
  const reader = new MkvStreamReader();
  const events = [...reader.push(await readFile(file)), ...reader.end()];
  let tracks: MkvTrack[] = [];
  const gops: MkvBlock[][] = [];
  for (const event of events) {
    if (event.type === 'header') tracks = event.header.tracks;
    if (event.type !== 'cluster') continue;
    // matroskamux may cut clusters inside a GOP: regroup the frames so each fragment starts with a keyframe.
    for (const block of event.cluster.blocks) {
      const frame = { ...block, timecode: event.cluster.timecode + block.timecode };
      if (block.keyframe || gops.length === 0) gops.push([]);
      gops.at(-1)!.push(frame);
    }
  }
  for (const gop of gops) {
    const start = gop[0]!.timecode;
    for (const block of gop) block.timecode -= start;
  }
  const bytes = gops.flat().reduce((sum, block) => sum + block.data.length, 0);
  return { tracks, gops, bytesPerSecond: bytes / seconds };
}
