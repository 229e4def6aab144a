// The pure parts of the agent's WebRTC live view: the split capture pipeline, the camera's
// webrtc config, the timestamp barcode (also through a real x264 encode and decode), I420
// halving, and presigned signaling URLs as the server's verifier checks them.

import test, { registerCompletionHandler } from 'ava';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCapturePipeline } from '../../video/gstreamer/pipeline.js';
import { parseAgentConfig } from '../../agent/config.js';
import { burnTimestamp, readTimestamp } from '../../agent/webrtc/timestamp-code.js';
import { halveI420, i420Size } from '../../agent/webrtc/i420.js';
import { presignUrl } from '../../lib/sigv4.js';
import { verifySigV4 } from '../../ingest-server/auth/sigv4.js';

// GStreamer's threads can outlive the test; end the process rather than wait for them.
registerCompletionHandler(() => process.exit(0));

test('a camera with a live view splits after its source: the recording branch as before, and a leaky raw I420 branch', (t) => {
  t.is(
    buildCapturePipeline({ source: { type: 'test' }, encoder: 'x264enc', width: 640, height: 360, fps: 30, fragmentSeconds: 2, raw: { width: 320, height: 180 } }),
    'videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! tee name=split ! queue ! videoconvert ! video/x-raw,format=I420 ! ' +
      'x264enc tune=zerolatency bframes=0 key-int-max=60 speed-preset=ultrafast ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! ' +
      'matroskamux streamable=true max-cluster-duration=1 ! appsink name=sink sync=false split. ! ' +
      'queue leaky=downstream max-size-buffers=1 ! videoscale ! videoconvert ! video/x-raw,format=I420,width=320,height=180 ! appsink name=raw drop=true max-buffers=2 sync=false',
  );
});

test('an H.264 camera with a live view decodes its raw branch before the leaky queue', (t) => {
  t.is(
    buildCapturePipeline({ source: { type: 'rtsp', url: 'rtsp://cam/stream' }, encoder: 'passthrough', fragmentSeconds: 2, raw: { width: 640, height: 360 } }),
    'rtspsrc location="rtsp://cam/stream" protocols=tcp latency=200 ! rtph264depay ! tee name=split ! queue ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! ' +
      'matroskamux streamable=true max-cluster-duration=1 ! appsink name=sink sync=true split. ! ' +
      'queue ! h264parse ! avdec_h264 ! queue leaky=downstream max-size-buffers=1 ! videoscale ! videoconvert ! video/x-raw,format=I420,width=640,height=360 ! appsink name=raw drop=true max-buffers=2 sync=false',
  );
});

test('without a live view the pipeline has no tee', (t) => {
  t.notRegex(buildCapturePipeline({ source: { type: 'test' }, encoder: 'x264enc', fragmentSeconds: 2 }), / tee |name=raw/);
});

const camera = (webrtc: unknown, source: Record<string, unknown> = { type: 'test' }) =>
  parseAgentConfig({ deviceId: 'd', server: { url: 'http://127.0.0.1:1' }, dataDir: '/tmp/x', cameras: [{ name: 'yard', source, stream: 's', fps: 25, webrtc }] }, '/etc/agent.json').cameras[0]!;

test('the webrtc config has defaults and names the field it refuses', (t) => {
  t.deepEqual(camera({ channel: 'yard-live' }).webrtc, { channel: 'yard-live', maxViewers: 4, width: 640, height: 360, fps: 25, burnTimestamp: false });
  t.like(camera({ channel: 'c', maxViewers: 2, width: 320, height: 240, fps: 10, burnTimestamp: true }).webrtc, { maxViewers: 2, width: 320, height: 240, fps: 10, burnTimestamp: true });
  const refused = (webrtc: unknown, source?: Record<string, unknown>) => t.throws(() => camera(webrtc, source))!.message;
  t.is(refused({}), 'agent config /etc/agent.json: cameras[0].webrtc.channel is required');
  t.is(refused({ channel: 'c', width: 324 }), 'agent config /etc/agent.json: cameras[0].webrtc.width must be a multiple of 8, got 324');
  t.is(refused({ channel: 'c', height: 181 }), 'agent config /etc/agent.json: cameras[0].webrtc.height must be even, got 181');
  t.is(refused({ channel: 'c', maxViewers: 0 }), 'agent config /etc/agent.json: cameras[0].webrtc.maxViewers must be an integer from 1 to 32, got 0');
  t.is(refused({ channel: 'c', burnTimestamp: true }, { type: 'rtsp', url: 'rtsp://cam/' }), 'agent config /etc/agent.json: cameras[0].webrtc.burnTimestamp applies only to a camera of source type "test"');
  t.regex(refused({ channel: 'c', bitrate: 1 }), /cameras\[0\]\.webrtc\.bitrate is not a known field/);
});

function grey(width: number, height: number): Uint8Array {
  return new Uint8Array(i420Size(width, height)).fill(128);
}

test('the timestamp barcode reads back, also from a frame scaled to half size', (t) => {
  for (const ms of [0, 1, 1_764_000_000_123, 2 ** 48 - 1]) {
    const frame = grey(640, 360);
    burnTimestamp(frame, 640, ms);
    t.is(readTimestamp(frame, 640), ms);
    const half = halveI420(frame, 640, 360);
    t.is(half.width, 320);
    t.is(half.height, 180);
    t.is(half.data.length, i420Size(320, 180));
    t.is(readTimestamp(half.data, 320), ms);
  }
});

test('the timestamp barcode survives a real H.264 encode and decode', async (t) => {
  type Pipeline = { play(): void; stop(): void; findChild(name: string): { pull(callback: (buffer: Buffer | null) => void): void } };
  const gst = createRequire(import.meta.url)('gstreamer-superficial') as { Pipeline: new (description: string) => Pipeline };
  const width = 320;
  const height = 240;
  const ms = 1_764_000_000_123;
  // The barcode over a moving test picture, encoded at a low bit rate, decoded again.
  const frames: Buffer[] = [];
  await pull(new gst.Pipeline(`videotestsrc pattern=ball num-buffers=10 ! video/x-raw,format=I420,width=${width},height=${height},framerate=30/1 ! appsink name=raw sync=false`), frames);
  for (const frame of frames) burnTimestamp(frame, width, ms);
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-barcode-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'raw.yuv'), Buffer.concat(frames));
  const roundTrip = new gst.Pipeline(
    `filesrc location=${join(dir, 'raw.yuv')} ! rawvideoparse format=i420 width=${width} height=${height} framerate=30/1 ! ` +
      `x264enc tune=zerolatency bitrate=150 speed-preset=ultrafast ! avdec_h264 ! video/x-raw,format=I420 ! appsink name=raw sync=false`,
  );
  const decoded: Buffer[] = [];
  await pull(roundTrip, decoded);
  t.is(decoded.length, 10);
  for (const frame of decoded) t.is(readTimestamp(frame, width), ms);
});

function pull(pipeline: { play(): void; stop(): void; findChild(name: string): { pull(callback: (buffer: Buffer | null) => void): void } }, into: Buffer[]): Promise<void> {
  const sink = pipeline.findChild('raw');
  pipeline.play();
  return new Promise((resolve) => {
    const next = (buffer: Buffer | null) => {
      if (buffer === null) {
        pipeline.stop();
        resolve();
        return;
      }
      into.push(Buffer.from(buffer));
      sink.pull(next);
    };
    sink.pull(next);
  });
}

test('a presigned signaling URL is one the server accepts, and only for the keys that signed it', (t) => {
  const now = Date.parse('2026-11-23T18:00:00Z');
  const url = presignUrl({ url: 'ws://127.0.0.1:4567/signaling?X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-east-1%3A0%3Achannel%2Fyard%2F1', accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret', region: 'us-east-1', service: 'kinesisvideo', now });
  const parsed = new URL(url);
  t.is(parsed.searchParams.get('X-Amz-ChannelARN'), 'arn:aws:kinesisvideo:us-east-1:0:channel/yard/1');
  t.is(parsed.searchParams.get('X-Amz-Credential'), 'AKIDTEST/20261123/us-east-1/kinesisvideo/aws4_request');
  const request = { method: 'GET', path: parsed.pathname + parsed.search, headers: { host: '127.0.0.1:4567' }, body: Buffer.alloc(0) };
  t.like(verifySigV4(request, (id) => (id === 'AKIDTEST' ? 'test-secret' : undefined), now + 1000), { accessKeyId: 'AKIDTEST', service: 'kinesisvideo' });
  t.throws(() => verifySigV4(request, () => 'another-secret', now + 1000), { name: 'InvalidSignatureException' });
});
