// Cameras in the agent config (defaults, and mistakes named by their field), camera discovery's
// parsers over the tools' output, and `rivulet agent doctor`'s report on this machine.

import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAgentConfig } from '../../agent/config.js';
import { captureSourceFor } from '../../agent/video/camera-source.js';
import { bestFormat, parseDeviceMonitor, parseV4l2CardName, parseV4l2Formats } from '../../hardware/camera/discovery.js';
import { AGENT_BIN_PATH } from '../helpers/server-process.js';
import { tempDir } from './helpers.js';

const BASE = { deviceId: 'rig-1', server: { url: 'http://127.0.0.1:4567' }, dataDir: '/var/lib/rivulet' };

test('a camera gets defaults; an agent with cameras needs no serial sources', (t) => {
  const config = parseAgentConfig({ ...BASE, cameras: [{ name: 'door', source: { type: 'v4l2' }, stream: 'door-cam' }] }, '/x.json');
  t.deepEqual(config.sources, []);
  t.deepEqual(config.cameras, [
    {
      name: 'door',
      source: { type: 'v4l2', device: '/dev/video0', format: 'auto' },
      stream: 'door-cam',
      fragmentSeconds: 2,
      encoder: 'auto',
      spool: { maxBytes: 1024 * 1024 * 1024, maxAgeMs: 7 * 24 * 3600 * 1000, onFull: 'drop-oldest' },
      tags: {},
      attachGps: false,
    },
  ]);
  t.deepEqual(config.videoUpload, { order: 'live-first' });
});

const MISTAKES: [string, Record<string, unknown>, string][] = [
  ['no source type', { cameras: [{ name: 'a', source: {}, stream: 's' }] }, 'cameras[0].source.type is required (one of "v4l2", "libcamera", "rtsp", "test")'],
  ['rtsp without url', { cameras: [{ name: 'a', source: { type: 'rtsp' }, stream: 's' }] }, 'cameras[0].source.url is required'],
  ['a field of another source type', { cameras: [{ name: 'a', source: { type: 'test', url: 'rtsp://x' }, stream: 's' }] }, 'cameras[0].source.url is not a known field for type "test" (expected one of type, pattern)'],
  ['fragment too long', { cameras: [{ name: 'a', source: { type: 'test' }, stream: 's', fragmentSeconds: 11 }] }, 'cameras[0].fragmentSeconds must be an integer from 1 to 10, got 11'],
  ['unknown encoder', { cameras: [{ name: 'a', source: { type: 'test' }, stream: 's', encoder: 'nvenc' }] }, 'cameras[0].encoder must be one of "auto", "passthrough", "v4l2h264enc", "x264enc", got "nvenc"'],
  ['re-encoding RTSP', { cameras: [{ name: 'a', source: { type: 'rtsp', url: 'rtsp://cam/1' }, stream: 's', encoder: 'x264enc' }] }, 'cameras[0].encoder must be "auto" or "passthrough" for an rtsp source (its H.264 is passed through)'],
  ['spool policy', { cameras: [{ name: 'a', source: { type: 'test' }, stream: 's', spool: { onFull: 'block' } }] }, 'cameras[0].spool.onFull must be one of "drop-oldest", "reject-new", got "block"'],
  ['tag value', { cameras: [{ name: 'a', source: { type: 'test' }, stream: 's', tags: { site: 3 } }] }, 'cameras[0].tags.site must be a string'],
  ['same name twice', { cameras: [{ name: 'a', source: { type: 'test' }, stream: 's' }, { name: 'a', source: { type: 'test' }, stream: 't' }] }, 'cameras[1].name "a" is used by cameras[0]; give each camera its own name'],
  ['gps without a gps source', { cameras: [{ name: 'a', source: { type: 'test' }, stream: 's', attachGps: true }] }, 'cameras[0].attachGps needs a source of type "gps"'],
  ['upload order', { upload: { order: 'newest' }, cameras: [{ name: 'a', source: { type: 'test' }, stream: 's' }] }, 'upload.order must be one of "live-first", "oldest-first", got "newest"'],
  ['neither sources nor cameras', { cameras: [] }, 'sources must be a non-empty array'],
];
for (const [title, change, message] of MISTAKES) {
  test(`camera config mistake: ${title}`, (t) => {
    t.throws(() => parseAgentConfig({ ...BASE, ...change }, '/x.json'), { message: `agent config /x.json: ${message}` });
  });
}

// What v4l2-ctl prints for a UVC webcam offering MJPEG, raw YUYV and H.264.
const V4L2_FORMATS = `ioctl: VIDIOC_ENUM_FMT
	Type: Video Capture

	[0]: 'MJPG' (Motion-JPEG, compressed)
		Size: Discrete 1920x1080
			Interval: Discrete 0.033s (30.000 fps)
			Interval: Discrete 0.067s (15.000 fps)
		Size: Discrete 640x480
			Interval: Discrete 0.033s (30.000 fps)
	[1]: 'YUYV' (YUYV 4:2:2)
		Size: Discrete 640x480
			Interval: Discrete 0.033s (30.000 fps)
	[2]: 'H264' (H.264, compressed)
		Size: Discrete 1920x1080
			Interval: Discrete 0.033s (30.000 fps)
`;

test('v4l2-ctl output: formats, sizes and rates; H.264 is preferred, then MJPEG, then raw', (t) => {
  const formats = parseV4l2Formats(V4L2_FORMATS);
  t.deepEqual(formats, [
    { fourcc: 'MJPG', description: 'Motion-JPEG, compressed', kind: 'mjpeg', sizes: [{ width: 1920, height: 1080, fps: [30, 15] }, { width: 640, height: 480, fps: [30] }] },
    { fourcc: 'YUYV', description: 'YUYV 4:2:2', kind: 'raw', sizes: [{ width: 640, height: 480, fps: [30] }] },
    { fourcc: 'H264', description: 'H.264, compressed', kind: 'h264', sizes: [{ width: 1920, height: 1080, fps: [30] }] },
  ]);
  const device = { path: '/dev/video0', name: 'cam', formats };
  t.is(bestFormat(device), 'h264');
  t.is(bestFormat({ ...device, formats: formats.slice(0, 2) }), 'mjpeg');
  t.is(bestFormat({ ...device, formats: formats.slice(1, 2) }), 'raw');
  t.deepEqual(captureSourceFor({ type: 'v4l2', device: '/dev/video0', format: 'auto' }, [device]), { type: 'v4l2', device: '/dev/video0', format: 'h264' });
  t.deepEqual(captureSourceFor({ type: 'v4l2', device: '/dev/video4', format: 'auto' }, [device]), { type: 'v4l2', device: '/dev/video4', format: 'raw' });
  t.is(parseV4l2CardName('Driver Info:\n\tDriver name      : uvcvideo\n\tCard type        : HD Pro Webcam C920\n'), 'HD Pro Webcam C920');
});

test('gst-device-monitor output: device path, name and media types', (t) => {
  const text = `Device found:

	name  : USB Camera
	class : Video/Source
	caps  : video/x-raw, format=(string)YUY2, width=(int)640, height=(int)480, framerate=(fraction)30/1;
	        image/jpeg, width=(int)1280, height=(int)720, framerate=(fraction)30/1;
	properties:
		device.path = /dev/video2
`;
  t.deepEqual(parseDeviceMonitor(text), [
    {
      path: '/dev/video2',
      name: 'USB Camera',
      formats: [
        { fourcc: 'video/x-raw', description: 'video/x-raw', kind: 'raw', sizes: [{ width: 640, height: 480, fps: [30] }] },
        { fourcc: 'image/jpeg', description: 'image/jpeg', kind: 'mjpeg', sizes: [{ width: 1280, height: 720, fps: [30] }] },
      ],
    },
  ]);
});

test('rivulet-agent doctor reports GStreamer, the encoders found, and the pipeline each configured camera would run', async (t) => {
  const dir = await tempDir(t);
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify({ ...BASE, cameras: [{ name: 'demo', source: { type: 'test' }, stream: 'demo-cam', fps: 10 }, { name: 'pi', source: { type: 'libcamera' }, stream: 'pi-cam', encoder: 'v4l2h264enc' }] }));
  // The command as a device runs it: the compiled rivulet-agent, through its #! line.
  const { stdout: report } = await promisify(execFile)(AGENT_BIN_PATH, ['doctor', '--config', configFile]);
  t.regex(report, /^GStreamer: \d+\.\d+\.\d+$/m);
  t.regex(report, /^H\.264 encoders: v4l2h264enc (yes|no), x264enc yes$/m);
  t.regex(report, /^sources: v4l2src yes, libcamerasrc (yes|no), rtspsrc yes, videotestsrc yes$/m);
  t.regex(report, /^V4L2 cameras \(v4l2-ctl\): /m);
  t.regex(report, /^ {2}demo → demo-cam: videotestsrc is-live=true ! video\/x-raw,framerate=10\/1 ! videoconvert ! video\/x-raw,format=I420 ! x264enc tune=zerolatency bframes=0 key-int-max=20 speed-preset=ultrafast ! h264parse ! /m);
  t.regex(report, /^ {2}pi → pi-cam: (cannot capture: encoder v4l2h264enc is not installed \(found: x264enc\)|libcamerasrc ! )/m);
});
