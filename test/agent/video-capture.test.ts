// Capture through GStreamer: the pipeline descriptions the agent builds for each kind of source
// (pure), a real videotestsrc → x264enc → matroskamux pipeline read back as frames, and a real
// RTSP camera (gst-rtsp-server) that goes away and comes back.

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { freePorts } from '../../bench/lib/processes.js';
import { buildCapturePipeline, chooseEncoder } from '../../video/gstreamer/pipeline.js';
import { GstCapture, type CapturedFrame } from '../../video/gstreamer/capture.js';
import { availableEncoders } from '../../video/gstreamer/encoders.js';
import { waitFor } from './helpers.js';

test('a V4L2 camera with native H.264 is passed through; MJPEG and raw are decoded and encoded', (t) => {
  const h264 = { type: 'v4l2', device: '/dev/video0', format: 'h264' } as const;
  t.is(chooseEncoder(h264, 'auto', ['v4l2h264enc', 'x264enc']), 'passthrough');
  t.is(
    buildCapturePipeline({ source: h264, encoder: 'passthrough', width: 1280, height: 720, fps: 30, fragmentSeconds: 2 }),
    'v4l2src device="/dev/video0" ! video/x-h264,width=1280,height=720,framerate=30/1 ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! matroskamux streamable=true max-cluster-duration=1 ! appsink name=sink sync=true',
  );
  const mjpeg = { type: 'v4l2', device: '/dev/video2', format: 'mjpeg' } as const;
  t.is(chooseEncoder(mjpeg, 'auto', ['v4l2h264enc', 'x264enc']), 'v4l2h264enc');
  t.is(
    buildCapturePipeline({ source: mjpeg, encoder: 'v4l2h264enc', fps: 25, fragmentSeconds: 2 }),
    'v4l2src device="/dev/video2" ! image/jpeg,framerate=25/1 ! jpegdec ! videoconvert ! v4l2h264enc extra-controls="controls,repeat_sequence_header=1,h264_i_frame_period=50" ! video/x-h264,level=(string)4 ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! matroskamux streamable=true max-cluster-duration=1 ! appsink name=sink sync=true',
  );
  t.is(chooseEncoder({ type: 'v4l2', device: '/dev/video0', format: 'raw' }, 'auto', ['x264enc']), 'x264enc');
  t.throws(() => chooseEncoder(mjpeg, 'auto', []), { message: /no H\.264 encoder found/ });
  t.throws(() => chooseEncoder(mjpeg, 'v4l2h264enc', ['x264enc']), { message: 'encoder v4l2h264enc is not installed (found: x264enc)' });
  t.throws(() => chooseEncoder(h264, 'x264enc', ['x264enc']), { message: /already delivers H\.264/ });
});

test('RTSP is depayloaded and passed through; the URL is quoted for gst-launch', (t) => {
  const source = { type: 'rtsp', url: 'rtsp://user:p"w@10.0.0.5:554/stream1' } as const;
  t.is(
    buildCapturePipeline({ source, encoder: chooseEncoder(source, 'auto', []), fragmentSeconds: 4 }),
    'rtspsrc location="rtsp://user:p\\"w@10.0.0.5:554/stream1" protocols=tcp latency=200 ! rtph264depay ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! matroskamux streamable=true max-cluster-duration=1 ! appsink name=sink sync=true',
  );
});

// GStreamer pipelines run one at a time: these tests share one process's libuv pool.
test.serial('videotestsrc → x264enc → matroskamux: every frame back with a keyframe first, one keyframe per fragment length, wall-clock timestamps', async (t) => {
  t.true((await availableEncoders()).includes('x264enc'), 'x264enc is installed (gstreamer1.0-plugins-ugly)');
  const description = buildCapturePipeline({ source: { type: 'test', numBuffers: 30 }, encoder: 'x264enc', width: 160, height: 120, fps: 30, fragmentSeconds: 0.5 });
  const capture = new GstCapture({ description: () => description, restart: false });
  const frames: CapturedFrame[] = [];
  let codecId = '';
  capture.onHeader((header) => (codecId = header.tracks[0]!.codecId));
  capture.onFrame((frame) => frames.push(frame));
  const startedAt = Date.now();
  capture.start();
  await capture.ended();
  await capture.stop();
  t.is(codecId, 'V_MPEG4/ISO/AVC');
  t.is(frames.length, 30);
  t.deepEqual(
    frames.flatMap((frame, index) => (frame.keyframe ? [index] : [])),
    [0, 15],
  );
  // 30 fps: 33–34 ms apart, starting at the wall clock of play().
  t.true(Math.abs(frames[0]!.timestampMs - startedAt) < 1000, `first frame at ${frames[0]!.timestampMs - startedAt} ms`);
  const span = frames[29]!.timestampMs - frames[0]!.timestampMs;
  t.true(span >= 966 && span <= 967, `29 frame intervals took ${span} ms`);
  t.true(frames.every((frame) => frame.track === 1 && frame.data.length > 0));
});

test.serial('a pipeline GStreamer cannot build fails with its reason and is retried with backoff', async (t) => {
  const capture = new GstCapture({ description: () => 'nosuchelement ! appsink name=sink', minBackoffMs: 50, maxBackoffMs: 100 });
  const states: string[] = [];
  capture.onState((state) => states.push(state));
  capture.start();
  await new Promise((resolve) => setTimeout(resolve, 400));
  await capture.stop();
  t.true(capture.counters.restarts >= 2, `restarts: ${capture.counters.restarts}`);
  t.regex(capture.counters.lastError!, /pipeline refused: .*nosuchelement/);
  t.is(states.at(-1), 'stopped');
  t.true(states.includes('waiting'));
});

test.serial('a camera that is not there: the capture is rebuilt with backoff, and says why', async (t) => {
  const description = buildCapturePipeline({ source: { type: 'v4l2', device: '/dev/video-unplugged', format: 'raw' }, encoder: 'x264enc', fragmentSeconds: 2 });
  const capture = new GstCapture({ description: () => description, minBackoffMs: 50 });
  capture.start();
  const deadline = Date.now() + 5000;
  while (capture.counters.restarts < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await capture.stop();
  t.true(capture.counters.restarts >= 2, `restarts: ${capture.counters.restarts}`);
  t.regex(capture.counters.lastError!, /could not start/);
});

test.serial('an RTSP camera that does not answer: the pipeline produces nothing, the watchdog rebuilds it and keeps GStreamer\'s error text', async (t) => {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `rtsp://127.0.0.1:${(server.address() as AddressInfo).port}/stream1`;
  const description = buildCapturePipeline({ source: { type: 'rtsp', url }, encoder: 'passthrough', fragmentSeconds: 2 });
  const capture = new GstCapture({ description: () => description, noDataTimeoutMs: 500, minBackoffMs: 50 });
  capture.start();
  const deadline = Date.now() + 8000;
  while (capture.counters.restarts < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await capture.stop();
  t.true(capture.counters.restarts >= 2, `restarts: ${capture.counters.restarts}`);
  t.regex(capture.counters.lastError!, /^rtspsrc\d+: /, capture.counters.lastError!);
  t.is(capture.counters.frames, 0);
});

/** An IP camera on this machine (test/helpers/rtsp-camera.py, gst-rtsp-server); resolves once it listens. */
async function startRtspCamera(t: ExecutionContext, port: number) {
  // Debian's python3, which has the GObject bindings (python3-gi), whatever python3 is first on PATH.
  const camera = spawn('/usr/bin/python3', [new URL('../helpers/rtsp-camera.py', import.meta.url).pathname, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => camera.kill('SIGKILL'));
  let output = '';
  camera.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await Promise.race([
    (async () => {
      while (!output.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 50));
    })(),
    once(camera, 'exit').then(([code]) => {
      throw new Error(`the RTSP camera exited (${String(code)}) before it listened`);
    }),
  ]);
  return camera;
}

test.serial('an RTSP camera that goes away is rebuilt until it is back, then its frames flow again (passed through, keyframe first)', async (t) => {
  const [port] = await freePorts(1);
  let camera = await startRtspCamera(t, port!);
  const url = `rtsp://127.0.0.1:${port}/stream1`;
  const description = buildCapturePipeline({ source: { type: 'rtsp', url }, encoder: 'passthrough', fragmentSeconds: 1 });
  const capture = new GstCapture({ description: () => description, noDataTimeoutMs: 1000, minBackoffMs: 100, maxBackoffMs: 500 });
  t.teardown(() => capture.stop());
  const frames: CapturedFrame[] = [];
  capture.onFrame((frame) => frames.push(frame));
  capture.start();
  await waitFor(() => frames.length >= 30, 20_000, '30 frames from the camera');
  t.true(frames[0]!.keyframe, 'the first frame handed out is a keyframe');

  camera.kill('SIGKILL');
  await once(camera, 'exit');
  const restartsAtLoss = capture.counters.restarts;
  await waitFor(() => capture.counters.restarts >= restartsAtLoss + 2, 20_000, 'the capture to be rebuilt twice while the camera is away');
  const framesWhileAway = frames.length;

  camera = await startRtspCamera(t, port!);
  await waitFor(() => frames.length >= framesWhileAway + 30, 30_000, '30 more frames after the camera came back');
  t.true(frames[framesWhileAway]!.keyframe, 'the first frame after the camera came back is a keyframe');
  t.regex(capture.counters.lastError ?? '', /rtspsrc|no data|Could not|EOS|end of stream/i);
});
