// The console's WebRTC live view end to end: a real server with a signaling channel named like
// the video stream, the agent with a test camera that records into the stream and publishes it
// as the channel's master, and the console in headless chromium joining as a viewer, on an open
// server and on one with credentials (Basic sign-in; the console presigns the viewer's WebSocket
// URL). Without a master the view gives up after 10 s and the HLS player takes over.

import test, { registerCompletionHandler, type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSignalingChannelCommand, type KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { Agent } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import { silentLogger } from '../../lib/log.js';
import { startVideoServer, TEST_CREDENTIALS, videoClients } from '../helpers/video.js';
import { createVideoStream } from '../video-streams/media.js';
import { openConsole, startLiveCamera, type ConsolePage } from './browser.js';

// The agent's publisher makes an RTCVideoSource track, and a process that did crashes when it exits by itself (see toolchain.md).
registerCompletionHandler(() => process.exit(0));

const WIDTH = 320;
const HEIGHT = 240;

async function createChannel(video: KinesisVideoClient, name: string): Promise<void> {
  await video.send(new CreateSignalingChannelCommand({ ChannelName: name, ChannelType: 'SINGLE_MASTER' }));
}

/** The agent with a test camera recording into `stream` and publishing it live as the channel's master. */
async function startAgentMaster(t: ExecutionContext, url: string, stream: string): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-webrtc-agent-'));
  const config = parseAgentConfig(
    {
      deviceId: 'yard-cam',
      server: { url, accessKeyId: TEST_CREDENTIALS.accessKeyId, secretAccessKey: TEST_CREDENTIALS.secretAccessKey },
      dataDir,
      status: { port: 0 },
      cameras: [{ name: 'yard', source: { type: 'test', pattern: 'ball' }, stream, width: WIDTH, height: HEIGHT, fps: 15, fragmentSeconds: 1, webrtc: { channel: stream, width: WIDTH, height: HEIGHT, fps: 15 } }],
    },
    join(dataDir, 'agent.json'),
  );
  const agent = new Agent({ config, log: silentLogger });
  t.teardown(async () => {
    await agent.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  await agent.start();
}

/** A --credentials file with the test keys, removed when the test ends. */
async function credentialsFile(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-webrtc-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'credentials.json');
  await writeFile(file, JSON.stringify({ accessKeys: [TEST_CREDENTIALS] }));
  return file;
}

/** Streams a live camera into the stream until the test ends. */
async function liveCamera(t: ExecutionContext, url: string, stream: string): Promise<void> {
  const camera = await startLiveCamera(url, stream);
  t.teardown(() => camera.stop());
  await recorded(url, stream, false);
}

/** Waits for the stream's first fragment, so the page's HLS LIVE player has something to play. */
async function recorded(url: string, stream: string, signed: boolean): Promise<void> {
  const headers = signed ? { authorization: `Basic ${Buffer.from(`${TEST_CREDENTIALS.accessKeyId}:${TEST_CREDENTIALS.secretAccessKey}`).toString('base64')}` } : undefined;
  const deadline = Date.now() + 15_000;
  const hasFragment = async () => ((await (await fetch(`${url}/console/api/video-streams`, { headers })).json()) as { streams: { name: string; lastFragment: unknown }[] }).streams.some((listed) => listed.name === stream && listed.lastFragment);
  while (!(await hasFragment())) {
    if (Date.now() > deadline) throw new Error(`no fragment in ${stream} after 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function playback(page: ConsolePage['page']) {
  return page.locator('#player').evaluate((video: HTMLVideoElement) => ({ width: video.videoWidth, frames: video.getVideoPlaybackQuality().totalVideoFrames, time: video.currentTime, mode: video.dataset['mode'] }));
}

for (const signed of [false, true]) {
  test.serial(`the live view plays the camera over WebRTC, connected and with a latency estimate${signed ? ' (credentials: presigned WebSocket URL)' : ''}`, async (t) => {
    const { url } = await startVideoServer(t, signed ? { credentialsFile: await credentialsFile(t) } : {});
    const { video } = videoClients(url, 'http1.1', t);
    await createVideoStream(video, 'yard');
    await createChannel(video, 'yard');
    await startAgentMaster(t, url, 'yard');
    await recorded(url, 'yard', signed);

    const signIn = signed ? { username: TEST_CREDENTIALS.accessKeyId, password: TEST_CREDENTIALS.secretAccessKey } : undefined;
    const { page, errors, screenshot } = await openConsole(t, `${url}/#/video/yard`, undefined, signIn);
    await page.locator('#webrtc-live').click();
    await page.locator('#webrtc-state[data-state="connected"]').waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => (document.querySelector('#player') as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 10_000 });
    const first = await playback(page);
    await page.waitForTimeout(1500);
    const later = await playback(page);
    t.is(later.mode, 'WEBRTC', await page.locator('#webrtc-state').innerText());
    t.is(first.width, WIDTH);
    t.true(later.frames > first.frames + 10, `frames ${first.frames} → ${later.frames}`);
    t.true(later.time > first.time + 1, `currentTime ${first.time} → ${later.time}`);
    await page.locator('#webrtc-latency[data-ms]').waitFor({ timeout: 5000 });
    const latency = await page.locator('#webrtc-latency').innerText();
    t.regex(latency, /≈ \d+ ms behind \(estimate\)/);
    t.log(`WebRTC live view: ${latency}`);
    if (!signed) await screenshot('webrtc-live');
    t.deepEqual(errors, []);
  });
}

test.serial('without a master the live view falls back to HLS after 10 s', async (t) => {
  const { url } = await startVideoServer(t);
  const { video } = videoClients(url, 'http1.1', t);
  await createVideoStream(video, 'dock');
  await createChannel(video, 'dock');
  await liveCamera(t, url, 'dock');

  const { page, errors } = await openConsole(t, `${url}/#/video/dock`);
  await page.locator('#webrtc-live').click();
  await page.locator('#webrtc-state[data-state="connecting"]').waitFor();
  await page.locator('#webrtc-state[data-state="failed"]').waitFor({ timeout: 15_000 });
  t.regex(await page.locator('#webrtc-state').innerText(), /WebRTC failed \(no answer .* within 10 s\): playing HLS instead/);
  await page.waitForFunction(() => (document.querySelector('#player') as HTMLVideoElement).currentTime > 0.5, undefined, { timeout: 15_000 });
  const hls = await playback(page);
  t.is(hls.mode, 'LIVE');
  t.is(hls.width, 320);
  t.is(await page.locator('#mode').innerText(), 'LIVE');
  t.deepEqual(errors, []);
});
