// What the media data-plane tests share: an H.264 Matroska file made by GStreamer at test time,
// putting bytes through the agent's PutMedia client, and reading media responses back with our
// own Matroska reader.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateStreamCommand, type KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { openPutMedia, type PutMediaOptions } from '../../agent/video/put-media-client.js';
import type { Ack } from '../../ingest-server/video-streams/acks.js';
import type { MkvCluster, MkvEvent, SimpleTag } from '../../video/mkv/model.js';
import { MkvStreamReader } from '../../video/mkv/stream-reader.js';

const run = promisify(execFile);

/** Frames in the test file: five one-second GOPs at 30 fps, so five fragments. */
export const FRAMES = 150;
export const FRAGMENTS = 5;

let camera: Promise<Uint8Array> | undefined;

/** A 320×240 H.264 stream as matroskamux writes it for live use (unknown sizes, RELATIVE timecodes); made once per test file. */
export function cameraFile(): Promise<Uint8Array> {
  camera ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rivulet-media-'));
    const file = join(dir, 'camera.mkv');
    try {
      await run('gst-launch-1.0', [
        '-q',
        'videotestsrc', `num-buffers=${FRAMES}`, '!',
        'video/x-raw,width=320,height=240,framerate=30/1,format=I420', '!',
        'x264enc', 'tune=zerolatency', 'bframes=0', 'key-int-max=30', '!',
        'h264parse', '!',
        'matroskamux', 'streamable=true', '!',
        'filesink', `location=${file}`,
      ]);
      return new Uint8Array(await readFile(file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return camera;
}

/** Every event of a complete Matroska byte stream. */
export function mkvEvents(bytes: Uint8Array): MkvEvent[] {
  const reader = new MkvStreamReader();
  return [...reader.push(bytes), ...reader.end()];
}

/** The Clusters of a complete Matroska byte stream. */
export function clustersOf(bytes: Uint8Array): MkvCluster[] {
  return mkvEvents(bytes).flatMap((event) => (event.type === 'cluster' ? [event.cluster] : []));
}

/** The value of a tag among a Tags event's tags. */
export function tagValue(tags: SimpleTag[], name: string): string | undefined {
  const value = tags.find((tag) => tag.name === name)?.value;
  return typeof value === 'string' ? value : undefined;
}

/** Creates a Kinesis Video stream through the SDK. */
export async function createVideoStream(video: KinesisVideoClient, name: string): Promise<void> {
  await video.send(new CreateStreamCommand({ StreamName: name, DataRetentionInHours: 24 }));
}

/** Puts the bytes in one PutMedia session, `chunkBytes` at a time, and returns every ack the server sent until it ended the response. */
export async function putBytes(options: PutMediaOptions, bytes: Uint8Array, chunkBytes = 64 * 1024): Promise<Ack[]> {
  const session = await openPutMedia(options);
  const acks: Ack[] = [];
  const reading = (async () => {
    for await (const ack of session) acks.push(ack);
  })();
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) await session.write(bytes.subarray(offset, offset + chunkBytes));
  await session.end();
  await reading;
  return acks;
}

/** Reads a streaming SDK payload until `enough` says so (GetMedia never ends by itself), then stops; the bytes read. */
export async function readUntil(payload: unknown, enough: (events: MkvEvent[]) => boolean): Promise<{ bytes: Uint8Array; events: MkvEvent[] }> {
  const reader = new MkvStreamReader();
  const events: MkvEvent[] = [];
  const chunks: Uint8Array[] = [];
  for await (const chunk of payload as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    events.push(...reader.push(chunk));
    if (enough(events)) break;
  }
  return { bytes: Buffer.concat(chunks), events };
}
