// The web console end to end: a real server, records put with the Kinesis SDK, video put through
// the agent's PutMedia client, heartbeats as an agent sends them, and the pages checked in
// headless chromium. Every test fails on any browser console error or page error.

import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { signRequest } from '../../lib/sigv4.js';
import { startServer, type RunningServer, type ServerOptions } from '../../ingest-server/server.js';
import { kinesisClient } from '../helpers/kinesis.js';
import { TEST_CREDENTIALS, videoClients } from '../helpers/video.js';
import { probeVideo, scratchDir } from '../video/media-tools.js';
import { cameraFile, createVideoStream, putBytes } from '../video-streams/media.js';
import { openConsole, startLiveCamera } from './browser.js';

async function startConsoleServer(t: ExecutionContext, options: Partial<ServerOptions> = {}): Promise<{ server: RunningServer; dataDir: string }> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'rivulet-console-test-')));
  const server = await startServer({ ...options, dataDir, port: 0 });
  t.teardown(async () => {
    await server.close();
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
  });
  return { server, dataDir };
}

/** An agent status document as agent/status.ts shapes it, trimmed to what the console shows. */
function agentStatus(deviceId: string) {
  return {
    deviceId,
    producerId: 'producer-1',
    server: 'http://127.0.0.1',
    startedAt: Date.now() - 60_000,
    buffer: { backlogRecords: 42, backlogBytes: 4096, maxBytes: 1 << 20, fileBytes: 8192 },
    upload: { lastError: { at: Date.now(), message: 'ECONNREFUSED: server unreachable' } },
    sources: [{ name: 'meter', type: 'dsmr', stream: 'telemetry', transport: 'open' }],
    cameras: [{ name: 'front', stream: 'cam', lastError: null }],
  };
}

function postHeartbeat(url: string, body: unknown, sign?: { service: string }): Promise<Response> {
  const payload = Buffer.from(JSON.stringify(body));
  const target = new URL('/agent/v1/heartbeat', url);
  const headers = sign
    ? signRequest({ method: 'POST', path: target.pathname, headers: { host: target.host, 'content-type': 'application/json' }, body: payload, ...TEST_CREDENTIALS, region: 'us-east-1', service: sign.service })
    : { 'content-type': 'application/json' };
  return fetch(target, { method: 'POST', headers, body: payload });
}

/** Agent-shaped records: a DSMR meter's readings and GPS fixes along a short drive. */
function agentRecords(count: number) {
  const start = Date.now() - count * 1000;
  return Array.from({ length: count }, (_, i) => {
    const timestamp = new Date(start + i * 1000).toISOString();
    const gps = { lat: 52.37 + i * 0.0005, lon: 4.89 + i * 0.0007, altitudeM: 2, speedKmh: 30 + i, courseDeg: 45, at: timestamp };
    return i % 2 === 0
      ? { deviceId: 'van-7', source: 'meter', type: 'dsmr', timestamp, values: { powerDeliveredKw: 1.5 + (i % 5) * 0.25, energyDeliveredTariff1Kwh: 1000 + i * 0.01 }, gps }
      : { deviceId: 'van-7', source: 'gps', type: 'gps', timestamp, values: { valid: true, lat: gps.lat, lon: gps.lon, speedKmh: gps.speedKmh } };
  });
}

test('the overview lists streams and devices, and the data view tails records with charts and a map', async (t) => {
  const { server } = await startConsoleServer(t);
  const kinesis = kinesisClient(server.url, 'http1.1');
  t.teardown(() => kinesis.destroy());
  await kinesis.send(new CreateStreamCommand({ StreamName: 'telemetry', ShardCount: 2 }));
  const records = agentRecords(20);
  await kinesis.send(new PutRecordsCommand({ StreamName: 'telemetry', Records: records.map((record, i) => ({ PartitionKey: `key-${i % 3}`, Data: Buffer.from(JSON.stringify(record)) })) }));
  const { video } = videoClients(server.url, 'http1.1', t);
  await createVideoStream(video, 'cam');
  await putBytes({ endpoint: server.url, streamName: 'cam' }, await cameraFile());
  t.is((await postHeartbeat(server.url, agentStatus('van-7'))).status, 204);

  const { page, errors, screenshot } = await openConsole(t, server.url);
  await page.locator('#data-streams td a', { hasText: 'telemetry' }).waitFor();
  await page.locator('#video-streams td a', { hasText: 'cam' }).waitFor();
  const deviceRow = page.locator('#devices tr', { hasText: 'van-7' });
  await deviceRow.waitFor();
  t.regex(await deviceRow.innerText(), /42 records, 4\.0 KiB/);
  t.regex(await deviceRow.innerText(), /meter \(dsmr, open\)/);
  t.regex(await deviceRow.innerText(), /ECONNREFUSED/);
  t.regex(await page.locator('#data-streams tr', { hasText: 'telemetry' }).innerText(), /\t2\tACTIVE\t2\b/);
  await screenshot('overview');

  await page.locator('#data-streams a', { hasText: 'telemetry' }).click();
  await page.locator('#records tbody tr').nth(19).waitFor();
  // Records put while the page is open show up through the one-second poll.
  const late = { deviceId: 'van-7', source: 'meter', type: 'dsmr', timestamp: new Date().toISOString(), values: { powerDeliveredKw: 9.75, energyDeliveredTariff1Kwh: 1001 } };
  await kinesis.send(new PutRecordsCommand({ StreamName: 'telemetry', Records: [{ PartitionKey: 'late', Data: Buffer.from(JSON.stringify(late)) }] }));
  await page.locator('#records tbody tr', { hasText: '9.75' }).waitFor({ timeout: 5000 });
  t.is(await page.locator('#records tbody tr').count(), 21);
  t.is(await page.locator('svg.chart[data-series="values.powerDeliveredKw"]').getAttribute('data-points'), '11');
  t.is(await page.locator('svg.chart[data-series="gps.speedKmh"]').getAttribute('data-points'), '10');
  t.is(await page.locator('.map').getAttribute('data-fixes'), '20');
  t.is(await page.locator('.map polyline.route').count(), 1);
  await screenshot('data-stream');

  // A phone-sized window gets the same overview without errors.
  const phone = await openConsole(t, server.url, { width: 390, height: 844 });
  await phone.page.locator('#devices tr', { hasText: 'van-7' }).waitFor();
  await phone.screenshot('overview-phone');
  t.deepEqual([...errors, ...phone.errors], []);
});

test('heartbeats are SigV4-checked with credentials, kept across a restart, and the console asks for Basic auth', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-console-test-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const credentialsFile = join(dataDir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [TEST_CREDENTIALS] }));
  const first = await startServer({ dataDir, port: 0, credentialsFile });

  const unsigned = await postHeartbeat(first.url, agentStatus('gate-1'));
  t.is(unsigned.status, 403);
  t.is((await unsigned.json()).__type, 'MissingAuthenticationTokenException');
  const wrongService = await postHeartbeat(first.url, agentStatus('gate-1'), { service: 'kinesis' });
  t.is(wrongService.status, 400);
  t.is((await wrongService.json()).__type, 'InvalidSignatureException');
  t.is((await postHeartbeat(first.url, { producerId: 'no device id' }, { service: 'rivulet' })).status, 400);
  t.is((await postHeartbeat(first.url, agentStatus('gate-1'), { service: 'rivulet' })).status, 204);

  const page = await fetch(new URL('/', first.url));
  t.is(page.status, 401);
  t.regex(page.headers.get('www-authenticate') ?? '', /^Basic /);
  const basic = `Basic ${Buffer.from(`${TEST_CREDENTIALS.accessKeyId}:${TEST_CREDENTIALS.secretAccessKey}`).toString('base64')}`;
  const wrong = `Basic ${Buffer.from(`${TEST_CREDENTIALS.accessKeyId}:not-the-secret`).toString('base64')}`;
  t.is((await fetch(new URL('/console/api/devices', first.url), { headers: { authorization: wrong } })).status, 401);
  await first.close();

  const second = await startConsoleServer(t, { dataDir, credentialsFile });
  const devices = (await (await fetch(new URL('/console/api/devices', second.server.url), { headers: { authorization: basic } })).json()) as { devices: { deviceId: string; status: { buffer: { backlogRecords: number } } }[] };
  t.deepEqual(devices.devices.map((device) => [device.deviceId, device.status.buffer.backlogRecords]), [['gate-1', 42]]);

  // Playback calls go through the console, which the Basic sign-in authorizes.
  const { video } = videoClients(second.server.url, 'http1.1', t);
  await createVideoStream(video, 'gate-cam');
  await putBytes({ endpoint: second.server.url, streamName: 'gate-cam', credentials: TEST_CREDENTIALS }, await cameraFile());

  const { page: browserPage, errors } = await openConsole(t, second.server.url, undefined, { username: TEST_CREDENTIALS.accessKeyId, password: TEST_CREDENTIALS.secretAccessKey });
  await browserPage.locator('#devices tr', { hasText: 'gate-1' }).waitFor();
  await browserPage.locator('#video-streams a', { hasText: 'gate-cam' }).click();
  await browserPage.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#player')?.videoWidth ?? 0) > 0, undefined, { timeout: 15_000 });
  t.deepEqual(errors, []);
});

test('the player plays live, and a click on the timeline replays the past', async (t) => {
  const { server } = await startConsoleServer(t);
  const { video } = videoClients(server.url, 'http1.1', t);
  await createVideoStream(video, 'yard');
  const camera = await startLiveCamera(server.url, 'yard');
  t.teardown(() => camera.stop());
  // Some recorded past to go back to.
  await new Promise((resolve) => setTimeout(resolve, 6000));

  const { page, errors, screenshot } = await openConsole(t, `${server.url}/#/video/yard`);
  const player = page.locator('#player');
  await page.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#player')?.videoWidth ?? 0) > 0, undefined, { timeout: 15_000 });
  const liveStart = await player.evaluate((element: HTMLVideoElement) => element.currentTime);
  await page.waitForTimeout(3000);
  const live = await player.evaluate((element: HTMLVideoElement) => ({ currentTime: element.currentTime, width: element.videoWidth, frames: element.getVideoPlaybackQuality().totalVideoFrames, playingMs: Number(element.dataset['playingMs']) }));
  t.true(live.currentTime - liveStart > 2, `currentTime advanced ${live.currentTime - liveStart} s`);
  t.is(live.width, 320);
  t.true(live.frames > 0);
  t.true(Date.now() - live.playingMs < 5000, `live playback is ${Date.now() - live.playingMs} ms behind`);
  t.log(`live playback ${Date.now() - live.playingMs} ms behind the producer clock`);
  await screenshot('video-live');

  // Click near the left end of the timeline: a few seconds after the first fragment.
  const bar = page.locator('svg.timeline-bar');
  await page.waitForFunction(() => Number(document.querySelector('svg.timeline-bar')?.getAttribute('data-fragments')) >= 6);
  const box = (await bar.boundingBox())!;
  const startMs = Number(await bar.getAttribute('data-start-ms'));
  const endMs = Number(await bar.getAttribute('data-end-ms'));
  const clickX = box.width * 0.1;
  const clickedMs = startMs + (clickX / box.width) * (endMs - startMs);
  await bar.click({ position: { x: clickX, y: box.height / 2 } });
  await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#player')?.dataset['mode'] === 'ON_DEMAND');
  await page.waitForFunction((target) => Math.abs(Number(document.querySelector<HTMLVideoElement>('#player')?.dataset['playingMs']) - target) < 2500, clickedMs, { timeout: 10_000 });
  const replayAt = await player.evaluate((element: HTMLVideoElement) => element.currentTime);
  await page.waitForTimeout(1500);
  t.true((await player.evaluate((element: HTMLVideoElement) => element.currentTime)) > replayAt, 'replay plays on');
  await page.locator('#thumbnails img').first().waitFor();
  await screenshot('video-replay');

  // The clip of the selected range downloads as an MP4 that FFmpeg decodes.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-clip').click()]);
  const scratch = await scratchDir();
  t.teardown(scratch.cleanup);
  const clipPath = join(scratch.path, download.suggestedFilename());
  await download.saveAs(clipPath);
  t.regex(clipPath, /yard-.*\.mp4$/);
  const clip = await probeVideo(clipPath);
  t.is(clip.codec, 'h264');
  t.is(clip.width, 320);
  t.true(clip.frames >= 30, `${clip.frames} frames in the clip`);
  t.deepEqual(errors, []);
});
