// The agent's WebRTC live view end to end: an in-process Rivulet server (signaling channels and
// the signaling WebSocket, with credentials) and an in-process agent whose `test` camera has
// webrtc, watched by Node viewers (the public SignalingClient as VIEWER and an @roamhq/wrtc peer).

import test, { registerCompletionHandler, type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateSignalingChannelCommand, GetSignalingChannelEndpointCommand } from '@aws-sdk/client-kinesis-video';
import { Agent } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import type { AgentStatus } from '../../agent/status.js';
import type { CameraStatus } from '../../agent/video/cameras.js';
import { startServer, type RunningServer } from '../../ingest-server/server.js';
import { Logger } from '../../lib/log.js';
import { watch, type Viewer } from '../../bench/webrtc/viewer.js';
import { TEST_CREDENTIALS, videoClients } from '../helpers/video.js';
import { createVideoStream } from '../video-streams/media.js';
import { WebRtcPublisher } from '../../agent/webrtc/publisher.js';
import { MasterSignalingClient } from '../../agent/webrtc/signaling-client.js';
import { i420Size } from '../../agent/webrtc/i420.js';
import { tempDir } from './helpers.js';
import { freePort, waitFor } from './video-helpers.js';

// A process that created an RTCVideoSource track crashes when it exits by itself.
registerCompletionHandler(() => process.exit(0));

/** The test keys, copied: the SDK clients mark the shared object with fields of their own. */
const WIDTH = 320;
const HEIGHT = 240;

interface Rig {
  /** Stops the server, or starts it again on the same port and data. */
  stopServer: () => Promise<void>;
  startServer: () => Promise<void>;
  camera: () => Promise<CameraStatus>;
  lines: Record<string, unknown>[];
  /** A viewer on the channel; closed when the test ends. */
  viewer: (clientId: string) => Promise<Viewer>;
}

/** Server with credentials, a channel and a stream, and an agent publishing a test camera on it. */
async function rig(t: ExecutionContext, maxViewers: number): Promise<Rig> {
  const dir = await tempDir(t);
  const port = await freePort();
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [TEST_CREDENTIALS] }));
  const serverOptions = { dataDir: join(dir, 'server'), port, credentialsFile };
  let server: RunningServer | undefined = await startServer(serverOptions);
  t.teardown(() => server?.close());
  const { video } = videoClients(server.url, 'http1.1', t);
  await createVideoStream(video, 'yard-cam');
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'yard-live' }));
  const config = parseAgentConfig(
    {
      deviceId: 'cam-rig',
      server: { url: `http://127.0.0.1:${port}`, ...TEST_CREDENTIALS },
      dataDir: join(dir, 'agent'),
      status: { port: 0 },
      cameras: [{ name: 'yard', source: { type: 'test', pattern: 'ball' }, stream: 'yard-cam', width: 640, height: 480, fps: 15, webrtc: { channel: 'yard-live', width: WIDTH, height: HEIGHT, maxViewers } }],
    },
    join(dir, 'agent.json'),
  );
  const lines: Record<string, unknown>[] = [];
  const agent = new Agent({ config, log: new Logger('debug', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>)) });
  t.teardown(() => agent.stop());
  await agent.start();
  const viewer = async (clientId: string) => {
    const { ResourceEndpointList } = await videoClients(`http://127.0.0.1:${port}`, 'http1.1', t).video.send(
      new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'VIEWER' } }),
    );
    const watching = watch({ channelArn: ChannelARN!, endpoint: ResourceEndpointList![0]!.ResourceEndpoint!, clientId, credentials: { ...TEST_CREDENTIALS } });
    t.teardown(() => watching.close());
    return watching;
  };
  return {
    stopServer: async () => {
      await server?.close();
      server = undefined;
    },
    startServer: async () => {
      server = await startServer(serverOptions);
    },
    camera: async () => ((await agent.status()) as AgentStatus).cameras[0]!,
    lines,
    viewer,
  };
}

test.serial('a test camera with webrtc is watched live at the configured size, by at most maxViewers viewers at once', async (t) => {
  const { camera, viewer, lines } = await rig(t, 2);
  await waitFor('the master connected', async () => (await camera()).webrtc?.signaling === 'connected', 10_000);

  const first = await viewer('viewer-1');
  const second = await viewer('viewer-2');
  await waitFor('frames at both viewers', () => first.frames >= 15 && second.frames >= 15, 20_000);
  t.like(first.last, { width: WIDTH, height: HEIGHT });
  t.like(second.last, { width: WIDTH, height: HEIGHT });
  t.like((await camera()).webrtc, { channel: 'yard-live', signaling: 'connected', viewers: 2, maxViewers: 2, refusedViewers: 0 });

  // A third viewer is one too many: refused with a log line, and it sees nothing.
  const third = await viewer('viewer-3');
  await waitFor('the third viewer refused', async () => (await camera()).webrtc?.refusedViewers === 1, 10_000);
  t.true(lines.some((line) => line['msg'] === 'webrtc viewer refused: maxViewers are watching' && line['viewer'] === 'viewer-3'));
  const before = first.frames;
  await waitFor('the first viewer keeps receiving', () => first.frames >= before + 15, 10_000);
  t.is(third.frames, 0);

  // One leaves: the next viewer gets its place.
  first.close();
  // It closed without a word: the agent notices when its consent checks stop answering.
  await waitFor('the first viewer gone', async () => (await camera()).webrtc?.viewers === 1, 30_000);
  const fourth = await viewer('viewer-4');
  await waitFor('frames at the fourth viewer', () => fourth.frames >= 15, 20_000);
  t.like((await camera()).webrtc, { viewers: 2, refusedViewers: 1 });
});

test.serial('the master reconnects after the server restarts, and new viewers are served again', async (t) => {
  const { camera, viewer, stopServer, startServer: restartServer } = await rig(t, 4);
  await waitFor('the master connected', async () => (await camera()).webrtc?.signaling === 'connected', 10_000);
  const before = await viewer('before');
  await waitFor('frames before the restart', () => before.frames >= 10, 20_000);

  await stopServer();
  await waitFor('the master noticed', async () => (await camera()).webrtc?.signaling === 'disconnected', 10_000);
  await restartServer();
  await waitFor('the master reconnected', async () => (await camera()).webrtc?.signaling === 'connected', 20_000);

  const after = await viewer('after');
  await waitFor('frames after the restart', () => after.frames >= 10, 20_000);
  t.like(after.last, { width: WIDTH, height: HEIGHT });
});

test.serial('a publisher short of CPU sends half the size at half the rate', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer({ dataDir: join(dir, 'server'), port: 0 });
  t.teardown(() => server.close());
  const { video } = videoClients(server.url, 'http1.1', t);
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'busy' }));
  // Any CPU use at all counts as too much.
  const publisher = new WebRtcPublisher({
    config: { channel: 'busy', maxViewers: 1, width: WIDTH, height: HEIGHT, fps: 20, burnTimestamp: false },
    signaling: new MasterSignalingClient({ serverUrl: server.url, region: 'us-east-1', channel: 'busy' }),
    cpuLimit: 0,
    adaptEveryMs: 300,
  });
  publisher.start();
  t.teardown(() => publisher.stop());
  const frame = new Uint8Array(i420Size(WIDTH, HEIGHT)).fill(128);
  const feeding = setInterval(() => publisher.push({ timestampMs: Date.now(), width: WIDTH, height: HEIGHT, data: frame }), 50);
  t.teardown(() => clearInterval(feeding));
  await waitFor('the master connected', () => publisher.status().signaling === 'connected', 10_000);

  const { ResourceEndpointList } = await video.send(new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'VIEWER' } }));
  const viewer = watch({ channelArn: ChannelARN!, endpoint: ResourceEndpointList![0]!.ResourceEndpoint!, clientId: 'patient' });
  t.teardown(() => viewer.close());
  await waitFor('degraded', () => publisher.status().degraded, 10_000);
  await waitFor('half-size frames', () => viewer.last?.width === WIDTH / 2, 20_000);
  t.like(viewer.last, { width: WIDTH / 2, height: HEIGHT / 2 });
  // 20 frames/s offered, 10 sent.
  const sent = publisher.status().framesSent;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rate = (publisher.status().framesSent - sent) / 2;
  t.true(rate >= 7 && rate <= 11, `${rate} frames/s`);
});
