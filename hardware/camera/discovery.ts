// Which cameras this device has: V4L2 capture devices (/dev/video*) with the formats they offer,
// asked of `v4l2-ctl` when installed, else of `gst-device-monitor-1.0 Video/Source`; and whether
// libcamera (the Raspberry Pi camera stack) is usable from GStreamer. The parsers are pure
// functions over the tools' text, so they are tested without a camera.

import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { hasElement } from '../../video/gstreamer/encoders.js';

/** One pixel format a device offers. */
export interface CameraFormat {
  /** V4L2 fourcc (H264, MJPG, YUYV, …) or, from the device monitor, the GStreamer media type. */
  fourcc: string;
  description: string;
  /** How the agent asks for it. */
  kind: 'h264' | 'mjpeg' | 'raw';
  sizes: { width: number; height: number; fps: number[] }[];
}

/** A V4L2 capture device. */
export interface VideoDevice {
  path: string;
  name: string;
  formats: CameraFormat[];
}

/** Everything discovery found. */
export interface CameraDiscovery {
  /** Which tool listed the devices; null when neither is installed. */
  tool: 'v4l2-ctl' | 'gst-device-monitor-1.0' | null;
  devices: VideoDevice[];
  /** libcamerasrc is installed. */
  libcamera: boolean;
}

const KIND_BY_FOURCC: Record<string, CameraFormat['kind']> = { H264: 'h264', MJPG: 'mjpeg', JPEG: 'mjpeg' };

/** The formats in `v4l2-ctl --list-formats-ext` output. */
export function parseV4l2Formats(text: string): CameraFormat[] {
  const formats: CameraFormat[] = [];
  let size: CameraFormat['sizes'][number] | undefined;
  for (const line of text.split('\n')) {
    const format = /^\s*\[\d+\]: '(\w{1,4})\s*' \((.*)\)\s*$/.exec(line);
    if (format) {
      formats.push({ fourcc: format[1]!, description: format[2]!, kind: KIND_BY_FOURCC[format[1]!] ?? 'raw', sizes: [] });
      size = undefined;
      continue;
    }
    const dimensions = /^\s*Size: \w+ (\d+)x(\d+)/.exec(line);
    if (dimensions && formats.length > 0) {
      size = { width: Number(dimensions[1]), height: Number(dimensions[2]), fps: [] };
      formats.at(-1)!.sizes.push(size);
      continue;
    }
    const interval = /^\s*Interval: .*\(([\d.]+) fps\)/.exec(line);
    if (interval && size) size.fps.push(Number(interval[1]));
  }
  return formats;
}

/** The card name in `v4l2-ctl --info` output. */
export function parseV4l2CardName(text: string): string | undefined {
  return /^\s*Card type\s*:\s*(.+?)\s*$/m.exec(text)?.[1];
}

/** The video sources in `gst-device-monitor-1.0 Video/Source` output. */
export function parseDeviceMonitor(text: string): VideoDevice[] {
  const devices: VideoDevice[] = [];
  for (const block of text.split(/\n(?=Device found:)/)) {
    const path = /device\.path = (\S+)/.exec(block)?.[1] ?? /api\.v4l2\.path = (\S+)/.exec(block)?.[1];
    if (!path) continue;
    const name = /^\s*name\s*:\s*(.+?)\s*$/m.exec(block)?.[1] ?? path;
    const kinds = new Map<string, CameraFormat>();
    for (const caps of block.matchAll(/^\s*(?:caps\s*:\s*)?(video\/x-h264|image\/jpeg|video\/x-raw)\b(.*)$/gm)) {
      const media = caps[1]!;
      const format = kinds.get(media) ?? { fourcc: media, description: media, kind: media === 'video/x-h264' ? 'h264' : media === 'image/jpeg' ? 'mjpeg' : 'raw', sizes: [] };
      kinds.set(media, format);
      const width = /width=\(int\)(\d+)/.exec(caps[2]!);
      const height = /height=\(int\)(\d+)/.exec(caps[2]!);
      const fps = /framerate=\(fraction\)(\d+)\/(\d+)/.exec(caps[2]!);
      if (width && height) format.sizes.push({ width: Number(width[1]), height: Number(height[1]), fps: fps ? [Number(fps[1]) / Number(fps[2])] : [] });
    }
    devices.push({ path, name, formats: [...kinds.values()] });
  }
  return devices;
}

/** What to ask a device for: its own H.264 when it has it, else MJPEG, else raw. */
export function bestFormat(device: VideoDevice): CameraFormat['kind'] {
  const kinds = new Set(device.formats.map((format) => format.kind));
  return kinds.has('h264') ? 'h264' : kinds.has('mjpeg') ? 'mjpeg' : 'raw';
}

/** Lists this device's cameras. */
export async function discoverCameras(): Promise<CameraDiscovery> {
  const libcamera = await hasElement('libcamerasrc');
  const paths = (await readdir('/dev').catch(() => [] as string[]))
    .filter((name) => /^video\d+$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((name) => `/dev/${name}`);
  if (await run('v4l2-ctl', ['--version'])) {
    const devices: VideoDevice[] = [];
    for (const path of paths) {
      const formats = parseV4l2Formats((await run('v4l2-ctl', ['-d', path, '--list-formats-ext'])) ?? '');
      // Metadata and output nodes list no capture formats.
      if (formats.length === 0) continue;
      devices.push({ path, name: parseV4l2CardName((await run('v4l2-ctl', ['-d', path, '--info'])) ?? '') ?? path, formats });
    }
    return { tool: 'v4l2-ctl', devices, libcamera };
  }
  const monitor = await run('gst-device-monitor-1.0', ['Video/Source']);
  if (monitor !== undefined) return { tool: 'gst-device-monitor-1.0', devices: parseDeviceMonitor(monitor), libcamera };
  return { tool: null, devices: [], libcamera };
}

/** A tool's stdout, or undefined when it is missing or failed. */
function run(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => execFile(command, args, { timeout: 10_000 }, (error, stdout) => resolve(error ? undefined : stdout)));
}
