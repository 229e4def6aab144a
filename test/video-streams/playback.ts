// What the playback tests (HLS, DASH, GetClip, GetImages) share: a stream with the test camera's
// five one-second fragments put at a known producer time, and plain HTTP GETs of session URLs.

import type { KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { cameraFile, createVideoStream, putBytes } from './media.js';

/** Producer time of the first fragment the tests put. */
export const START_MS = 1_795_000_000_000;

/** Creates `name` and puts the camera file (five 1 s fragments) once per start time given. */
export async function streamWithCamera(video: KinesisVideoClient, url: string, name: string, startsMs: number[] = [START_MS]): Promise<void> {
  await createVideoStream(video, name);
  for (const producerStartTimestampMs of startsMs) await putBytes({ endpoint: url, streamName: name, producerStartTimestampMs }, await cameraFile());
}

/** A GET's status, headers and body. */
export interface Fetched {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  text: string;
}

/** GETs a URL (relative ones against `base`). */
export async function get(url: string, base?: string): Promise<Fetched> {
  const response = await fetch(new URL(url, base));
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, bytes, text: Buffer.from(bytes).toString('utf8') };
}

/** The URI lines of a playlist (neither tags nor blank). */
export function uriLines(playlist: string): string[] {
  return playlist.split('\n').filter((line) => line.length > 0 && !line.startsWith('#'));
}

/** The values of one tag in a playlist, e.g. tagValues(text, 'EXTINF'). */
export function tagValues(playlist: string, tag: string): string[] {
  return playlist
    .split('\n')
    .filter((line) => line.startsWith(`#${tag}:`) || line === `#${tag}`)
    .map((line) => line.slice(tag.length + 2));
}
