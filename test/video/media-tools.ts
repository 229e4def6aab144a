// Media fixtures made at test time by the real tools: H.264 in Matroska from gst-launch-1.0
// (the muxer kvssink-like producers use) and frame counts from ffprobe, so the video tests
// check Rivulet's bytes against what GStreamer writes and what FFmpeg reads.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a gst-launch H.264 recording should look like. */
export interface GstH264Options {
  frames: number;
  /** Frames per GOP (x264 key-int-max). */
  gop: number;
  /** matroskamux streamable=true: unknown-size Segment and Clusters, as live producers write. */
  streamable: boolean;
  /** Output caps after h264parse; `byte-stream` writes raw Annex-B instead of Matroska. */
  format?: 'mkv' | 'byte-stream';
}

const GST_SOURCE = (frames: number, gop: number): string[] => [
  'videotestsrc', `num-buffers=${frames}`, '!', 'video/x-raw,width=320,height=240,framerate=30/1,format=I420', '!',
  // One encoder thread: tests compare recordings of separate runs, and x264's threaded rate control
  // depends on timing (under load two runs differ).
  'x264enc', 'tune=zerolatency', 'bframes=0', 'threads=1', `key-int-max=${gop}`, '!', 'h264parse', '!',
];

/** A scratch directory removed by `cleanup()`. */
export async function scratchDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'rivulet-video-'));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Records 320x240 30 fps test video with gst-launch-1.0 into `dir` and returns the file's path. */
export async function gstH264(dir: string, name: string, options: GstH264Options): Promise<string> {
  const path = join(dir, name);
  const sink = ['filesink', `location=${path}`];
  const tail =
    options.format === 'byte-stream'
      ? ['video/x-h264,stream-format=byte-stream,alignment=au', '!', ...sink]
      : ['matroskamux', `streamable=${options.streamable}`, '!', ...sink];
  await run('gst-launch-1.0', ['-q', ...GST_SOURCE(options.frames, options.gop), ...tail]);
  return path;
}

/** The codec_data (AVCDecoderConfigurationRecord) h264parse puts in its avc caps, from gst-launch -v. */
export async function gstCodecData(frames: number, gop: number): Promise<Uint8Array> {
  const { stdout } = await run('gst-launch-1.0', ['-v', ...GST_SOURCE(frames, gop), 'video/x-h264,stream-format=avc', '!', 'fakesink']);
  const match = /codec_data=\(buffer\)([0-9a-f]+)/.exec(stdout);
  if (!match) throw new Error(`no codec_data in gst-launch -v output:\n${stdout}`);
  return Buffer.from(match[1]!, 'hex');
}

/** What ffprobe reports for the first video stream of a file, decoding every frame. */
export interface ProbedVideo {
  codec: string;
  width: number;
  height: number;
  frames: number;
  formatTags: Record<string, string>;
}

/** Probes a file (or bytes, written to `dir` first) with ffprobe -count_frames. */
export async function probeVideo(input: string | { dir: string; bytes: Uint8Array }): Promise<ProbedVideo> {
  let path = input as string;
  if (typeof input !== 'string') {
    path = join(input.dir, `probe-${Math.random().toString(36).slice(2)}.mkv`);
    await writeFile(path, input.bytes);
  }
  const { stdout } = await run('ffprobe', [
    '-v', 'error', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=codec_name,width,height,nb_read_frames:format_tags', '-of', 'json', path,
  ]);
  const probed = JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[]; format: { tags?: Record<string, string> } };
  const stream = probed.streams[0];
  if (!stream) throw new Error(`ffprobe found no video stream in ${path}`);
  return { codec: stream.codec_name, width: stream.width, height: stream.height, frames: Number(stream.nb_read_frames), formatTags: probed.format.tags ?? {} };
}

/** Reads a file's bytes. */
export async function bytesOf(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}
