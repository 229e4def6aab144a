// A device's camera as a signaling master with its own keys (the public Kinesis Video WebRTC
// SDK's SignalingClient), cut off at revoke time; and the console's device list (headless
// chromium) showing what heartbeats report, the config rollout and the revoked key.

import test from 'ava';
import { once } from 'node:events';
import { CreateSignalingChannelCommand, GetSignalingChannelEndpointCommand } from '@aws-sdk/client-kinesis-video';
import { Role, SignalingClient, SigV4RequestSigner, type RequestSigner } from 'amazon-kinesis-video-streams-webrtc';
import { WebSocket } from 'ws';
import { openConsole } from '../console/browser.js';
import { eventually } from '../mqtt/helpers.js';
import { within } from '../helpers/server-process.js';
import { ADMIN, addDevice, devicesCli, heartbeat, kinesisVideo, rivuletRequest, startFleetServer, type FleetServer, type Keys } from './helpers.js';

// Node 20 has no global WebSocket; the SDK looks for one.
Object.assign(globalThis, { WebSocket });

let server: FleetServer;

test.before(async () => {
  server = await startFleetServer();
});

test.after.always(async () => {
  await server?.process.kill();
});

/** The SDK's signer insists on wss://; the signature covers host, path and query, not the scheme. */
function presigner(keys: Keys): RequestSigner {
  const sigV4 = new SigV4RequestSigner('us-east-1', { ...keys });
  return { getSignedURL: async (endpoint, query, date) => (await sigV4.getSignedURL(endpoint.replace(/^ws:/, 'wss:'), query, date)).replace(/^wss:/, 'ws:') };
}

test('a device is master of its own channel only, and revoking it closes its signaling connection', async (t) => {
  const admin = kinesisVideo(server, ADMIN);
  t.teardown(() => admin.destroy());
  const channelArn = async (name: string) => (await admin.send(new CreateSignalingChannelCommand({ ChannelName: name }))).ChannelARN!;
  const door = await channelArn('door-1');
  const gate = await channelArn('gate-1');
  const keys = await addDevice(server, 'cam-1', ['--channel', 'door-1']);

  const device = kinesisVideo(server, keys);
  t.teardown(() => device.destroy());
  const endpoint = async (arn: string) =>
    (await device.send(new GetSignalingChannelEndpointCommand({ ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'MASTER' } }))).ResourceEndpointList![0]!.ResourceEndpoint!;
  const doorEndpoint = await endpoint(door);
  await t.throwsAsync(endpoint(gate), { name: 'AccessDeniedException' });

  const open = (arn: string, clientId?: string) => {
    const client = new SignalingClient({
      channelARN: arn,
      channelEndpoint: doorEndpoint,
      region: 'us-east-1',
      role: clientId === undefined ? Role.MASTER : Role.VIEWER,
      ...(clientId !== undefined ? { clientId } : {}),
      requestSigner: presigner(keys),
      systemClockOffset: 0,
    });
    t.teardown(() => client.close());
    client.on('error', () => {});
    client.open();
    return client;
  };
  // Refused before the upgrade (403): the client never opens.
  for (const refused of [open(gate), open(door, 'viewer-1')]) {
    let opened = false;
    refused.on('open', () => (opened = true));
    const failure = await new Promise<Error>((resolve) => refused.on('error', resolve));
    t.regex(failure.message ?? String(failure), /403/);
    t.false(opened);
  }

  const master = open(door);
  await once(master, 'open');
  const closed = once(master, 'close');
  const run = await devicesCli(server, ['revoke', 'cam-1']);
  t.is(run.code, 0, run.stderr);
  await t.notThrowsAsync(within(closed, 15_000, 'the revoked master is still connected'));
});

test("the console's device list shows version, uptime, backlog, health, disk, memory, GPS, config state and revocation", async (t) => {
  const keys = await addDevice(server, 'van-7', []);
  const status = {
    deviceId: 'van-7',
    agentVersion: '9.8.7',
    uptimeMs: 3 * 3600_000 + 5 * 60_000,
    buffer: { backlogRecords: 17, backlogBytes: 2048, maxBytes: 1 << 20, fileBytes: 4096 },
    sources: [{ name: 'meter', type: 'dsmr', stream: 'van-7-data', transport: 'open', healthy: false }],
    cameras: [],
    host: { memory: { rssBytes: 40 << 20, totalBytes: 1 << 30, freeBytes: 512 << 20 }, disk: { path: '/var/lib/rivulet', totalBytes: 8 * 2 ** 30, freeBytes: 3 * 2 ** 30 }, loadAverage: [0.1, 0.1, 0.1] },
    gps: { lat: 52.3702, lon: 4.8952, fixQuality: 1, at: Date.now() },
    config: { version: null, appliedAt: null },
  };
  t.is((await heartbeat(server, keys, status)).status, 204);
  t.like(await rivuletRequest(server, ADMIN, 'PUT', '/admin/v1/devices/van-7/config', { deviceId: 'van-7' }), { status: 200 });
  const run = await devicesCli(server, ['revoke', 'van-7']);
  t.is(run.code, 0, run.stderr);

  const { page, errors, screenshot } = await openConsole(t, server.url, undefined, { username: ADMIN.accessKeyId, password: ADMIN.secretAccessKey });
  const row = page.locator('#devices tr', { hasText: 'van-7' });
  await row.waitFor();
  const text = await row.innerText();
  await screenshot('devices-fleet');
  for (const shown of ['REVOKED', '9.8.7', '3 h 5 min', '17 records', 'UNHEALTHY', '3.0 GiB', 'RSS 40.0 MiB', '52.37020, 4.89520', 'v1 pending']) t.true(text.includes(shown), `${shown} in ${text}`);
  t.true(await eventually(async () => errors.length === 0, 100), errors.join('\n'));
});
