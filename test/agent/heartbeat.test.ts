// The agent's heartbeat as the server sees it: an in-process Agent (one serial source on a real
// pty) posting its status to an in-process server, whose console lists the devices it heard from
// (GET /console/api/devices). With server credentials the beats must carry a valid SigV4
// signature for service `rivulet`: a device with a wrong secret is never listed. The beat carries
// the fleet fields (version, uptime, host, source health, config), and the server's 200 answer with
// a config (set through its admin API) is handed to the agent's fleet side until the agent reports
// that version; heartbeatNow() beats without waiting an interval.

import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import type { ConfigReport } from '../../agent/fleet/protocol.js';
import type { AgentStatus } from '../../agent/status.js';
import { openPtyPair } from '../../hardware/serial/pty.js';
import { startServer, type RunningServer } from '../../ingest-server/server.js';
import { REPO_ROOT } from '../helpers/server-process.js';
import { tempDir, waitFor } from './helpers.js';

const KEY = { accessKeyId: 'AKIDEVICE7', secretAccessKey: 'device-secret' };

interface ListedDevice {
  deviceId: string;
  receivedAt: number;
  status: AgentStatus;
}

async function server(t: ExecutionContext, withCredentials: boolean): Promise<RunningServer> {
  const dir = await tempDir(t);
  let credentialsFile: string | undefined;
  if (withCredentials) {
    credentialsFile = join(dir, 'keys.json');
    await writeFile(credentialsFile, JSON.stringify({ accessKeys: [KEY] }));
  }
  const running = await startServer({ dataDir: join(dir, 'data'), port: 0, ...(credentialsFile ? { credentialsFile } : {}) });
  t.teardown(() => running.close());
  return running;
}

/** The console's device list, as a browser logged in with the key would see it. */
async function devices(url: string): Promise<ListedDevice[]> {
  const response = await fetch(`${url}/console/api/devices`, { headers: { authorization: `Basic ${Buffer.from(`${KEY.accessKeyId}:${KEY.secretAccessKey}`).toString('base64')}` } });
  if (!response.ok) throw new Error(`GET /console/api/devices: HTTP ${response.status}`);
  return ((await response.json()) as { devices: ListedDevice[] }).devices;
}

async function startAgent(t: ExecutionContext, deviceId: string, server: Record<string, unknown>, heartbeat: { intervalMs: number }, fleet?: AgentOptions['fleet']): Promise<Agent> {
  const dir = await tempDir(t);
  const pty = await openPtyPair({ devicePath: join(dir, 'p1'), simulatorPath: join(dir, 'p1.sim') });
  t.teardown(() => pty.close());
  const config = parseAgentConfig(
    { deviceId, server, dataDir: join(dir, 'agent'), status: { port: 0 }, heartbeat, sources: [{ type: 'dsmr', port: pty.devicePath, stream: 'meters' }] },
    join(dir, 'agent.json'),
  );
  const agent = new Agent({ config, ...(fleet ? { fleet } : {}) });
  t.teardown(() => agent.stop());
  await agent.start();
  return agent;
}

test('a signed agent is listed at start with its status, beats every intervalMs, and stops beating at stop(); a wrong secret is refused', async (t) => {
  const running = await server(t, true);
  const startedAt = Date.now();
  const agent = await startAgent(t, 'rig-7', { url: running.url, region: 'eu-west-1', ...KEY }, { intervalMs: 300 });
  await startAgent(t, 'rig-forged', { url: running.url, accessKeyId: KEY.accessKeyId, secretAccessKey: 'not-the-secret' }, { intervalMs: 300 });

  const seen = new Set<number>();
  await waitFor(async () => {
    const rig = (await devices(running.url)).find((device) => device.deviceId === 'rig-7');
    if (rig) seen.add(rig.receivedAt);
    return seen.size >= 3;
  }, 5000, 'three heartbeats of rig-7');
  t.true(Math.min(...seen) - startedAt < 2000, 'the first beat is sent at start, not after an interval');
  const listed = await devices(running.url);
  t.deepEqual(listed.map((device) => device.deviceId), ['rig-7'], 'the forged device is never listed');
  const status = listed[0]!.status;
  t.deepEqual(status.sources.map((source) => [source.name, source.stream]), [['dsmr', 'meters']]);
  t.truthy(status.rates, 'the beat carries what /status serves, rates included');
  t.is(status.producerId, agent.producerId!);

  await agent.stop();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const last = (await devices(running.url))[0]!.receivedAt;
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.is((await devices(running.url))[0]!.receivedAt, last, 'no beat after stop()');
});

test('heartbeat.intervalMs 0 turns heartbeats off; an agent without keys beats unsigned to a server without credentials', async (t) => {
  const running = await server(t, false);
  await startAgent(t, 'rig-silent', { url: running.url }, { intervalMs: 0 });
  await startAgent(t, 'rig-open', { url: running.url }, { intervalMs: 200 });
  await waitFor(async () => (await devices(running.url)).length > 0, 5000, 'a heartbeat');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.deepEqual((await devices(running.url)).map((device) => device.deviceId), ['rig-open']);
});

test('the beat carries version, uptime, host, source health and config; a config the server holds is handed on until the agent reports it', async (t) => {
  const running = await server(t, false);
  const offers: unknown[] = [];
  let report: ConfigReport = { version: null, appliedAt: null };
  await startAgent(t, 'rig-fleet', { url: running.url }, { intervalMs: 150 }, { report: () => report, onOffer: (offer) => offers.push(offer) });
  const beats = new Set<number>();
  await waitFor(async () => {
    const rig = (await devices(running.url)).find((device) => device.deviceId === 'rig-fleet');
    if (rig) beats.add(rig.receivedAt);
    return beats.size >= 3;
  }, 5000, 'three heartbeats');
  t.deepEqual(offers, [], 'no config held: 204, nothing handed on');

  const status = (await devices(running.url))[0]!.status;
  const packageVersion = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.is(status.agentVersion, packageVersion);
  t.true(status.uptimeMs > 0);
  t.true(status.host.memory.rssBytes > 0 && status.host.memory.totalBytes > 0);
  t.regex(status.host.disk!.path, /\/agent$/, 'the dataDir');
  t.true(status.host.disk!.totalBytes > 0);
  t.is(status.host.loadAverage.length, 3);
  t.is(status.gps, null, 'no GPS source');
  t.deepEqual(status.config, { version: null, appliedAt: null });
  t.is(status.sources[0]!.healthy, status.sources[0]!.transport === 'open');

  const document = { sources: [{ type: 'dsmr', port: '/dev/ttyUSB0', stream: 'meters' }] };
  const put = await fetch(`${running.url}/admin/v1/devices/rig-fleet/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) });
  t.is(put.status, 200, await put.clone().text());
  t.deepEqual(await put.json(), { name: 'rig-fleet', version: 1 });
  await waitFor(() => offers.length >= 2, 5000, 'the offer in two answers');
  t.deepEqual(offers[0], { version: 1, document });

  // Reported as running: the server stops offering it.
  report = { version: 1, appliedAt: Date.now() };
  const received = (await devices(running.url))[0]!.receivedAt;
  await waitFor(async () => (await devices(running.url))[0]!.receivedAt > received, 5000, 'a beat reporting v1');
  const handed = offers.length;
  beats.clear();
  await waitFor(async () => {
    beats.add((await devices(running.url))[0]!.receivedAt);
    return beats.size >= 3;
  }, 5000, 'three more heartbeats');
  t.is(offers.length, handed, 'v1 is not offered once the agent runs it');
});

test('heartbeatNow() beats at once instead of after the interval', async (t) => {
  const running = await server(t, false);
  const agent = await startAgent(t, 'rig-now', { url: running.url }, { intervalMs: 60_000 });
  await waitFor(async () => (await devices(running.url)).length > 0, 5000, 'the first beat');
  const first = (await devices(running.url))[0]!.receivedAt;
  agent.heartbeatNow();
  await waitFor(async () => (await devices(running.url))[0]!.receivedAt > first, 5000, 'a second beat long before the interval');
  t.pass();
});
