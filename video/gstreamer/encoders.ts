// What GStreamer on this device can do, asked of gst-inspect-1.0 (a child process, so the agent
// need not load GStreamer into its own memory just to look).

import { execFile } from 'node:child_process';
import { ENCODERS, type EncoderName } from './pipeline.js';

/** Elements a capture may need besides the encoders, by source type. */
export const SOURCE_ELEMENTS = ['v4l2src', 'libcamerasrc', 'rtspsrc', 'videotestsrc'] as const;

/** True when the GStreamer element `name` is installed. */
export function hasElement(name: string): Promise<boolean> {
  return new Promise((resolve) => execFile('gst-inspect-1.0', ['--exists', name], { timeout: 10_000 }, (error) => resolve(error === null)));
}

/** The H.264 encoders installed, best first. */
export async function availableEncoders(): Promise<EncoderName[]> {
  const present = await Promise.all(ENCODERS.map((name) => hasElement(name)));
  return ENCODERS.filter((_, index) => present[index]);
}

/** "1.22.0", or null when GStreamer's tools are not installed. */
export function gstreamerVersion(): Promise<string | null> {
  return new Promise((resolve) =>
    execFile('gst-inspect-1.0', ['--version'], { timeout: 10_000 }, (error, stdout) => resolve(error ? null : (/GStreamer (\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null))),
  );
}
