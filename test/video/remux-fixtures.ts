// Stored-fragment lookalikes for the remux tests: GStreamer's H.264 recording cut into one Cluster
// per GOP under a header written by our Matroska writer, with producer timestamps in epoch ms, as
// the fragment store hands them to the playback API.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MkvStreamReader, writeCluster, writeMkvHeader, type MkvBlock, type MkvTrack, type RemuxSource } from '../../video/index.js';
import { bytesOf, gstH264 } from './media-tools.js';

const run = promisify(execFile);

/** Producer timestamp of the recording's first frame (ms): epoch time, as producers stamp fragments. */
export const PRODUCER_START_MS = 1_795_347_940_485;

/** A recording as stored fragments. */
export interface StoredRecording {
  track: MkvTrack;
  fragments: RemuxSource[];
}

/** Records `frames` frames (320x240, 30 fps) with gst-launch and cuts them into one fragment per GOP. */
export async function recordFragments(dir: string, frames: number, gop: number): Promise<StoredRecording> {
  const reader = new MkvStreamReader();
  const events = [...reader.push(await bytesOf(await gstH264(dir, 'recording.mkv', { frames, gop, streamable: true }))), ...reader.end()];
  let track: MkvTrack | undefined;
  const gops: MkvBlock[][] = [];
  for (const event of events) {
    if (event.type === 'header') track = event.header.tracks[0];
    if (event.type !== 'cluster') continue;
    // matroskamux cuts clusters on time, not on keyframes: regroup so each fragment is one GOP.
    for (const block of event.cluster.blocks) {
      if (block.keyframe || gops.length === 0) gops.push([]);
      gops.at(-1)!.push({ ...block, timecode: event.cluster.timecode + block.timecode });
    }
  }
  if (!track) throw new Error('gst-launch wrote no Matroska header');
  const header = writeMkvHeader([track]);
  const fragments = gops.map((blocks) => {
    const start = blocks[0]!.timecode;
    return {
      header,
      cluster: writeCluster(start, blocks.map((block) => ({ ...block, timecode: block.timecode - start }))),
      producerTimestampMs: PRODUCER_START_MS + start,
      // What the store records when the producer writes no BlockDuration: last block minus first.
      durationMs: blocks.at(-1)!.timecode - start,
    };
  });
  return { track, fragments };
}

/** One packet as ffprobe -show_packets reports it. */
export interface ProbedPacket {
  ptsTime: number;
  dtsTime: number;
  durationTime: number;
  keyframe: boolean;
}

/** Writes bytes to `dir/name` and returns the path. */
export async function writeScratch(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** The video packets of a file, in file order, from ffprobe -show_packets. */
export async function probePackets(path: string): Promise<ProbedPacket[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,dts_time,duration_time,flags', '-of', 'json', path]);
  const { packets } = JSON.parse(stdout) as { packets: { pts_time: string; dts_time: string; duration_time?: string; flags: string }[] };
  return packets.map((packet) => ({
    ptsTime: Number(packet.pts_time),
    dtsTime: Number(packet.dts_time),
    durationTime: Number(packet.duration_time ?? NaN),
    keyframe: packet.flags.startsWith('K'),
  }));
}

/** A file's container duration and start time (seconds) and its stream's profile and level, from ffprobe. */
export async function probeFormat(path: string): Promise<{ durationS: number; startS: number; formatName: string; profile: string; level: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'format=duration,start_time,format_name:stream=profile,level', '-of', 'json', path]);
  const probed = JSON.parse(stdout) as { format: { duration: string; start_time: string; format_name: string }; streams: { profile: string; level: number }[] };
  return { durationS: Number(probed.format.duration), startS: Number(probed.format.start_time), formatName: probed.format.format_name, profile: probed.streams[0]!.profile, level: probed.streams[0]!.level };
}

/** What `ffmpeg -v error` prints while decoding the whole file: empty when it plays cleanly. */
export async function decodeErrors(path: string): Promise<string> {
  const { stdout, stderr } = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', path, '-f', 'null', '-']);
  return `${stdout}${stderr}`;
}
