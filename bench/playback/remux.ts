// Remux speed for playback: a 20 s 720p 4 Mbit/s H.264 recording (gst-launch, as a camera would
// send it) as stored fragments (stream header + one Cluster per 2 s GOP), remuxed the way the
// HLS/DASH/GetClip endpoints do it — parse the fragment, write fMP4 or MPEG-TS — against
// mediabunny converting the same frames, as one MKV stream, to fragmented MP4 (its copy path, no
// transcoding). MB/s is input MKV bytes over wall time, best of a few runs on a warm JIT.
//
//   node dist/bench/playback/remux.js

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BufferSource, BufferTarget, Conversion, Input, MATROSKA, Mp4OutputFormat, Output } from 'mediabunny';
import { writeCluster, writeMkvHeader } from '../../video/mkv/writer.js';
import { writeFmp4Init, writeFmp4Segment } from '../../video/mp4/fmp4.js';
import { TsMuxer } from '../../video/mpegts/ts.js';
import { remuxFragmentOf, type RemuxSource } from '../../video/remux.js';
import { makeClip, type Clip } from '../lib/video-clip.js';

const SECONDS = 20;
const GOP_MS = 2000;
const RUNS = 10;
const MB = 1e6;

/** The clip as the fragment store holds it: one fragment (header + Cluster) per GOP. */
function storedFragments(clip: Clip): RemuxSource[] {
  const header = writeMkvHeader(clip.tracks);
  const startMs = Date.now();
  return clip.gops.map((blocks, i) => ({
    header,
    cluster: writeCluster(i * GOP_MS, blocks),
    producerTimestampMs: startMs + i * GOP_MS,
    durationMs: blocks.at(-1)!.timecode,
  }));
}

/** The same frames as one Matroska stream (header, then the Clusters), for mediabunny to read. */
function mkvStream(fragments: RemuxSource[]): Uint8Array {
  return Buffer.concat([fragments[0]!.header, ...fragments.map((fragment) => fragment.cluster)]);
}

/** Seconds of the fastest of RUNS runs (after one warm-up run); each run must produce output. */
async function bestSeconds(run: () => Promise<number> | number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i <= RUNS; i++) {
    const started = process.hrtime.bigint();
    const outputBytes = await run();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (outputBytes === 0) throw new Error('a remux produced no output');
    if (i > 0) best = Math.min(best, seconds);
  }
  return best;
}

function ownFmp4(fragments: RemuxSource[]): number {
  let bytes = 0;
  fragments.forEach((source, i) => {
    const { track, fragment } = remuxFragmentOf(source);
    // The HLS endpoint serves the init segment once per session; counting it per fragment keeps this honest for DASH/GetClip.
    bytes += writeFmp4Init(track).length + writeFmp4Segment(i + 1, fragment).length;
  });
  return bytes;
}

function ownTs(fragments: RemuxSource[]): number {
  let bytes = 0;
  let muxer: TsMuxer | undefined;
  for (const source of fragments) {
    const { track, fragment } = remuxFragmentOf(source);
    muxer ??= new TsMuxer(track);
    bytes += muxer.segment(fragment).length;
  }
  return bytes;
}

async function mediabunnyFmp4(clip: Uint8Array): Promise<number> {
  const input = new Input({ formats: [MATROSKA], source: new BufferSource(clip) });
  const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'fragmented' }), target: new BufferTarget() });
  const conversion = await Conversion.init({ input, output });
  if (!conversion.isValid) throw new Error('mediabunny cannot convert the clip');
  await conversion.execute();
  return output.target.buffer?.byteLength ?? 0;
}

/** Remux throughput in MB/s of input MKV: our fMP4 and MPEG-TS writers and mediabunny's fMP4. */
export async function benchRemux(): Promise<{ ownFmp4MBps: number; ownTsMBps: number; mediabunnyFmp4MBps: number; inputBytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-bench-remux-'));
  try {
    const fragments = storedFragments(await makeClip(dir, { seconds: SECONDS, fps: 30, bitrateKbps: 4000, gopMs: GOP_MS, width: 1280, height: 720 }));
    const clip = mkvStream(fragments);
    const inputBytes = clip.length;
    const rate = (seconds: number): number => inputBytes / MB / seconds;
    return {
      ownFmp4MBps: rate(await bestSeconds(() => ownFmp4(fragments))),
      ownTsMBps: rate(await bestSeconds(() => ownTs(fragments))),
      mediabunnyFmp4MBps: rate(await bestSeconds(() => mediabunnyFmp4(clip))),
      inputBytes,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await benchRemux();
  console.log(`remux of a ${(result.inputBytes / MB).toFixed(1)} MB 720p 4 Mbit/s MKV (MB/s of input, best of ${RUNS}):`);
  console.log(`  rivulet fMP4     ${result.ownFmp4MBps.toFixed(0)}`);
  console.log(`  rivulet MPEG-TS  ${result.ownTsMBps.toFixed(0)}`);
  console.log(`  mediabunny fMP4  ${result.mediabunnyFmp4MBps.toFixed(0)}`);
}
