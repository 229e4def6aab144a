// Turns frames of a stored fragment into still images with GStreamer: the fragment's Matroska
// (its header, then its Cluster) goes into gst-launch-1.0 on stdin, every frame is decoded,
// scaled and encoded, and the frames asked for are read back. A process per fragment keeps a
// broken fragment or a crashing decoder away from the server, and GStreamer gives frames in
// presentation order without our having to time-stamp appsink buffers.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How images are encoded. */
export interface ImageEncoding {
  format: 'JPEG' | 'PNG';
  /** JPEG quality, 1–100. */
  quality: number;
  width: number;
  height: number;
}

/** A frame could not be decoded into an image (a GetImages MEDIA_ERROR). */
export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError';
}

/** The frames at `indices` (presentation order, from 0) of one fragment's Matroska, as encoded images. */
export async function decodeFrames(matroska: Uint8Array[], indices: number[], encoding: ImageEncoding): Promise<Map<number, Uint8Array>> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-images-'));
  try {
    const encoder = encoding.format === 'JPEG' ? `jpegenc quality=${encoding.quality}` : 'pngenc snapshot=false';
    const pipeline = [
      'fdsrc fd=0', 'matroskademux', 'h264parse', 'avdec_h264', 'videoscale add-borders=false',
      `video/x-raw,width=${encoding.width},height=${encoding.height}`, 'videoconvert', encoder,
      `multifilesink location=${join(dir, '%d')}`,
    ].join(' ! ');
    await run(pipeline.split(' '), matroska);
    const images = new Map<number, Uint8Array>();
    for (const index of indices) {
      try {
        images.set(index, new Uint8Array(await readFile(join(dir, String(index)))));
      } catch {
        // Fewer frames came out than the fragment holds: that frame's image is a MEDIA_ERROR.
      }
    }
    return images;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(args: string[], input: Uint8Array[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('gst-launch-1.0', ['-q', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', (error) => reject(new FrameDecodeError(`gst-launch-1.0 did not start: ${error.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new FrameDecodeError(`gst-launch-1.0 exited with ${code}: ${stderr.trim().slice(0, 500)}`))));
    // A decoder that fails early closes stdin; the exit code says what happened.
    child.stdin.on('error', () => undefined);
    for (const part of input) child.stdin.write(part);
    child.stdin.end();
  });
}
