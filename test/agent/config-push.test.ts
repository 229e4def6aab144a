// Pushing a config to a device, end to end: a server with credentials (in-process), the device's
// identity and its pushes made with `rivulet devices add|push-config|list`, the agent run as a
// device runs it (`rivulet-agent --config FILE`, signing with its own key from
// server.credentialsFile), line and GPS simulators on real socat ptys.
//   - a config that does not validate, and one whose port does not exist (not healthy → rolled
//     back), are refused with the reason, the old config keeps uploading, and neither is retried;
//   - a good config applies and uploads what was buffered while the uploads could not get through
//     (none lost, none twice), and is still in force after the agent process restarts;
//   - over MQTT the offer comes from the retained config topic, without any heartbeat; each new
//     connection gets it again, and neither the version in force nor a refused one is re-applied.

import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { AgentRecord } from '../../agent/agent.js';
import { RecordBuffer } from '../../agent/buffer/index.js';
import { mqttRouteFor } from '../../agent/mqtt-uploader.js';
import type { AgentStatus } from '../../agent/status.js';
import { LineSimulator } from '../../hardware/line/simulator.js';
import { NmeaSimulator } from '../../hardware/nmea/simulator.js';
import { openPtyPair } from '../../hardware/serial/pty.js';
import { startServer, type RunningServer } from '../../ingest-server/server.js';
import { REPO_ROOT, runCli, spawnCli, within } from '../helpers/server-process.js';
import { client, createStream, readStream, tempDir, waitFor } from './helpers.js';

const READY = /^Rivulet agent \S+ running: .*, (local config|pushed config v\d+), status on (http:\/\/\S+)$/m;
// The key the tests' Kinesis client signs with (test/helpers/kinesis.ts), here the server's admin key.
const ADMIN_KEY = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

interface Fleet {
  dir: string;
  running: RunningServer;
  /** The server's credentials file: the admin CLI signs with its key. */
  adminKeys: string;
}

/** A server with credentials, a stream "meters", and a device `name` allowed to write to it, its keys in <dir>/device-keys.json. */
async function fleet(t: ExecutionContext, name: string, { mqtt = false } = {}): Promise<Fleet> {
  const dir = await tempDir(t);
  const adminKeys = join(dir, 'server-keys.json');
  await writeFile(adminKeys, JSON.stringify({ accessKeys: [ADMIN_KEY] }));
  let mqttConfigFile: string | undefined;
  if (mqtt) {
    mqttConfigFile = join(dir, 'mqtt.json');
    await writeFile(mqttConfigFile, JSON.stringify({ routes: [mqttRouteFor('meters')] }));
  }
  const running = await startServer({ dataDir: join(dir, 'server'), port: 0, credentialsFile: adminKeys, ...(mqttConfigFile ? { mqttPort: 0, mqttConfigFile } : {}) });
  t.teardown(() => running.close().catch(() => {}));
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 1);
  const added = await admin({ dir, running, adminKeys }, ['add', name, '--stream', 'meters', '--out', join(dir, 'device-keys.json')]);
  t.regex(added, /device \S+ added/);
  return { dir, running, adminKeys };
}

/** `rivulet devices <args> --server … --credentials …`; its stdout. */
async function admin(fleet: Fleet, args: string[]): Promise<string> {
  const result = await runCli(['devices', ...args, '--server', fleet.running.url, '--credentials', fleet.adminKeys]);
  if (result.code !== 0) throw new Error(`rivulet devices ${args.join(' ')}: exit ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Pushes `document` with `rivulet devices push-config`; the version the server gave it. */
async function push(fleet: Fleet, name: string, document: Record<string, unknown>): Promise<number> {
  const file = join(fleet.dir, `push-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(document));
  const printed = await admin(fleet, ['push-config', name, '--config', file]);
  const match = /config version (\d+) pushed/.exec(printed);
  if (!match) throw new Error(`push-config printed ${printed}`);
  return Number(match[1]);
}

interface ListedDevice {
  name: string;
  lastHeartbeat?: { receivedAt: number };
  config?: { desiredVersion: number; reportedVersion: number | null; state: string; error?: string };
}

async function listed(fleet: Fleet, name: string): Promise<ListedDevice> {
  const { devices } = JSON.parse(await admin(fleet, ['list', '--json'])) as { devices: ListedDevice[] };
  return devices.find((device) => device.name === name)!;
}

/** A line sensor (or GPS) simulator on a fresh pty pair; `port` is where the agent opens it. */
async function simulated(t: ExecutionContext, dir: string, kind: 'line' | 'gps'): Promise<string> {
  const pty = await openPtyPair({ devicePath: join(dir, kind), simulatorPath: join(dir, `${kind}.sim`) });
  const simulator = kind === 'line' ? new LineSimulator({ path: pty.simulatorPath, rateHz: 20 }) : new NmeaSimulator({ path: pty.simulatorPath, rateHz: 5 });
  await simulator.start();
  t.teardown(async () => {
    await simulator.stop();
    await pty.close();
  });
  return pty.devicePath;
}

type AgentProcess = ReturnType<typeof spawnCli>;

/** Starts `rivulet-agent --config FILE` and waits for its ready line. */
async function startAgent(t: ExecutionContext, configFile: string, env: NodeJS.ProcessEnv = {}): Promise<AgentProcess & { ready: RegExpExecArray }> {
  const agent = spawnCli(['--config', configFile], { bin: 'rivulet-agent', env: { ...process.env, ...env } });
  t.teardown(() => {
    agent.child.kill('SIGKILL');
  });
  await within(waitFor(() => READY.test(agent.stdout()) || agent.child.exitCode !== null, 20_000, 'the agent ready line'), 21_000, 'agent start');
  const ready = READY.exec(agent.stdout());
  if (!ready) throw new Error(`the agent did not start: ${agent.stderr()}`);
  return { ...agent, ready };
}

/** The status endpoint of the Agent running now: each config's Agent logs its own when it starts (status.port 0). */
function statusUrl(agent: AgentProcess): string {
  const urls = [...agent.stderr().matchAll(/"msg":"agent started".*"status":"(http:\/\/[^"]+)"/g)];
  if (urls.length === 0) throw new Error(`no agent started yet: ${agent.stderr()}`);
  return urls.at(-1)![1]!;
}

/** The running agent's status; undefined between two configs. */
async function status(agent: AgentProcess): Promise<AgentStatus | undefined> {
  try {
    const response = await fetch(`${statusUrl(agent)}/status`);
    return response.ok ? ((await response.json()) as AgentStatus) : undefined;
  } catch {
    return undefined;
  }
}

async function waitForStatus(agent: AgentProcess, check: (status: AgentStatus) => boolean, timeoutMs: number, what: string): Promise<AgentStatus> {
  let last: AgentStatus | undefined;
  await waitFor(async () => {
    const current = await status(agent);
    if (current) last = current;
    return current !== undefined && check(current);
  }, timeoutMs, `${what} (last status config: ${JSON.stringify(last?.config)})`).catch((error: Error) => {
    throw new Error(`${error.message}\n--- agent stderr ---\n${agent.stderr().slice(-4000)}`);
  });
  return last!;
}

/** How many times the agent took up an offer of `version` (it logs each one it acts on). */
function offersTakenUp(agent: AgentProcess, version: number): number {
  return agent.stderr().split('\n').filter((line) => line.includes('"msg":"config offered"') && line.includes(`"version":${version}`)).length;
}

async function countIn(fleet: Fleet, t: ExecutionContext): Promise<number> {
  return (await readStream(client(t, fleet.running.url), 'meters')).length;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A line sensor on a pty and the local config of an agent reading it, written with relative paths as on a device (keys and dataDir next to the file). */
async function lineRig(t: ExecutionContext, setup: Fleet, name: string) {
  const linePort = await simulated(t, setup.dir, 'line');
  const local = {
    deviceId: name,
    server: { url: setup.running.url, credentialsFile: 'device-keys.json' },
    dataDir: 'agent',
    status: { port: 0 },
    heartbeat: { intervalMs: 300 },
    upload: { intervalMs: 100 },
    sources: [{ type: 'line', name: 'climate', port: linePort, stream: 'meters' }],
  };
  const configFile = join(setup.dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(local));
  return { local, configFile, linePort };
}

test('a bad config and one that does not come up healthy are refused with the field or the reason, never retried; the old config keeps uploading', async (t) => {
  const name = 'rig-push-bad';
  const setup = await fleet(t, name);
  const { local, configFile, linePort } = await lineRig(t, setup, name);
  const agent = await startAgent(t, configFile);
  t.is(agent.ready[1], 'local config');
  await waitFor(async () => (await countIn(setup, t)) >= 10, 20_000, 'records from the local config');

  // Does not validate: the field is named, nothing was restarted.
  const invalid = await push(setup, name, { ...local, sources: [{ type: 'line', name: 'climate', port: 7, stream: 'meters' }] });
  const afterInvalid = await waitForStatus(agent, (s) => s.config.rejected?.version === invalid, 20_000, `v${invalid} rejected`);
  t.is(afterInvalid.config.version, null);
  t.regex(afterInvalid.config.rejected!.error, /sources\[0\]\.port must be a string/);
  await waitFor(async () => (await listed(setup, name)).config?.state === 'rejected', 20_000, 'the server to hear of the rejection');
  t.regex((await listed(setup, name)).config!.error!, /sources\[0\]\.port must be a string/);
  const flowing = await countIn(setup, t);
  await waitFor(async () => (await countIn(setup, t)) >= flowing + 10, 20_000, 'records still flowing after the refusal');

  // Validates, but its port does not exist: not healthy within fleet.applyTimeoutMs → rolled back.
  const missing = join(setup.dir, 'no-such-port');
  const unhealthy = await push(setup, name, { ...local, fleet: { applyTimeoutMs: 2000 }, sources: [{ type: 'line', name: 'climate', port: missing, stream: 'meters' }] });
  const afterRollback = await waitForStatus(agent, (s) => s.config.rejected?.version === unhealthy && s.sources[0]?.healthy === true, 30_000, `v${unhealthy} rolled back`);
  t.is(afterRollback.config.version, null);
  t.regex(afterRollback.config.rejected!.error, new RegExp(`^not healthy within 2 s: source climate: port ${missing} not open \\(.+\\); rolled back to the local file ${configFile}$`));
  t.is(afterRollback.sources[0]!.port, linePort, 'the old config runs again');
  await waitFor(async () => (await listed(setup, name)).config?.state === 'rejected' && (await listed(setup, name)).config?.desiredVersion === unhealthy, 20_000, 'the server to hear of the rollback');
  const resumed = await countIn(setup, t);
  await waitFor(async () => (await countIn(setup, t)) >= resumed + 10, 20_000, 'records flowing again after the rollback');

  // Neither is tried again, however many heartbeats go by.
  const beats = new Set<number>();
  await waitFor(async () => {
    beats.add((await listed(setup, name)).lastHeartbeat!.receivedAt);
    return beats.size >= 4;
  }, 20_000, 'more heartbeats');
  t.is(offersTakenUp(agent, invalid), 1, agent.stderr());
  t.is(offersTakenUp(agent, unhealthy), 1, agent.stderr());

  const printed = await runCli(['agent', 'status', '--url', statusUrl(agent)]);
  t.is(printed.code, 0, printed.stderr);
  t.regex(printed.stdout, new RegExp(`config local file; v${unhealthy} rejected \\d+s ago: not healthy within 2 s`));
  t.regex(printed.stdout, /\nhost: agent RSS [\d.]+ MiB, memory free .* disk free .* load /);

  agent.child.kill('SIGTERM');
  t.deepEqual(await within(agent.exited, 15_000, 'the agent to stop'), { code: 0, signal: null }, agent.stderr());
});

test('under a systemd watchdog, a pushed config whose trial could outlast it is refused, naming the watchdog', async (t) => {
  const name = 'rig-push-watchdog';
  const setup = await fleet(t, name);
  const { local, configFile } = await lineRig(t, setup, name);
  // WatchdogSec=9 s, so a trial may take at most 6 s. Nobody listens on the notify socket: the pets go nowhere.
  const agent = await startAgent(t, configFile, { NOTIFY_SOCKET: join(setup.dir, 'no-listener.sock'), WATCHDOG_USEC: '9000000' });

  const tooLong = await push(setup, name, { ...local, fleet: { applyTimeoutMs: 8000 } });
  const refused = await waitForStatus(agent, (s) => s.config.rejected?.version === tooLong, 20_000, `v${tooLong} refused`);
  t.is(refused.config.version, null);
  t.regex(refused.config.rejected!.error, /^fleet\.applyTimeoutMs \(8000 ms\) must stay within two thirds of the service watchdog \(WatchdogSec 9 s\)/);

  const fits = await push(setup, name, { ...local, fleet: { applyTimeoutMs: 5000 } });
  t.is((await waitForStatus(agent, (s) => s.config.version === fits, 20_000, `v${fits} applied`)).config.rejected?.version, tooLong);
});

test('a good config applies: what was buffered while uploads failed is all uploaded once; it is still in force after a restart', async (t) => {
  const name = 'rig-push-good';
  const setup = await fleet(t, name);
  const linePort = await simulated(t, setup.dir, 'line');
  const gpsPort = await simulated(t, setup.dir, 'gps');
  const dataDir = join(setup.dir, 'agent');
  const climate = { type: 'line', name: 'climate', port: linePort, stream: 'meters' };
  // Records go to a broker that is not there (they stay buffered); heartbeats reach the server.
  const local = {
    deviceId: name,
    server: { url: setup.running.url, credentialsFile: 'device-keys.json', transport: 'mqtt', mqttUrl: `mqtt://127.0.0.1:${await closedPort()}` },
    dataDir,
    status: { port: 0 },
    heartbeat: { intervalMs: 300 },
    upload: { intervalMs: 100, maxBackoffMs: 500 },
    sources: [climate],
  };
  const configFile = join(setup.dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(local));
  const agent = await startAgent(t, configFile);
  await waitForStatus(agent, (s) => (s.buffer?.backlogRecords ?? 0) >= 40, 20_000, 'a backlog');
  t.is(await countIn(setup, t), 0, 'nothing got through');

  // Over HTTP, climate thinned to one reading per 200 ms, and a GPS source added; deviceId and dataDir left to the device.
  const pushed = {
    server: { url: setup.running.url, credentialsFile: 'device-keys.json' },
    status: { port: 0 },
    heartbeat: { intervalMs: 300 },
    upload: { intervalMs: 100 },
    fleet: { applyTimeoutMs: 15_000 },
    sources: [{ ...climate, sampling: { minIntervalMs: 200 } }, { type: 'gps', port: gpsPort, stream: 'meters' }],
  };
  const version = await push(setup, name, pushed);
  const applied = await waitForStatus(agent, (s) => s.config.version === version, 30_000, `v${version} applied`);
  t.deepEqual(applied.sources.map((source) => source.name), ['climate', 'gps']);
  t.true(applied.config.appliedAt! > 0);
  t.is(applied.config.rejected, undefined);
  t.is(applied.server, setup.running.url);
  await waitFor(async () => (await listed(setup, name)).config?.state === 'applied', 20_000, 'the server to hear of the apply');

  // The richer status, as the heartbeat carries it.
  const full = await waitForStatus(agent, (s) => s.gps !== null && (s.buffer?.backlogRecords ?? 1) === 0, 30_000, 'a GPS fix and the backlog drained');
  const packageVersion = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.is(full.agentVersion, packageVersion);
  t.true(full.uptimeMs - (Date.now() - full.startedAt) > 1000, 'uptime is the process’s, longer than the running config’s');
  t.true(full.host.memory.rssBytes > 10 * 1024 * 1024 && full.host.memory.totalBytes > full.host.memory.freeBytes);
  t.is(full.host.disk!.path, dataDir);
  t.true(full.host.disk!.freeBytes > 0 && full.host.disk!.totalBytes >= full.host.disk!.freeBytes);
  t.is(full.host.loadAverage.length, 3);
  t.is(typeof full.gps!.lat, 'number');
  t.true(full.gps!.fixQuality! > 0);
  t.true(full.sources.every((source) => source.healthy));
  const heard = await listed(setup, name);
  t.is((heard.lastHeartbeat as { status?: AgentStatus } | undefined)?.status?.config.version, version);

  const kinesis = client(t, setup.running.url);
  const sampledUnderPush = async () => (await readStream<AgentRecord>(kinesis, 'meters')).filter((record) => record.value.source === 'climate' && Date.parse(record.value.timestamp) > applied.config.appliedAt!);
  await waitFor(async () => (await sampledUnderPush()).length >= 5, 20_000, 'climate readings taken under the pushed config');
  agent.child.kill('SIGTERM');
  t.is((await within(agent.exited, 15_000, 'the agent to stop')).code, 0, agent.stderr());

  // None lost, none twice: the buffer's lifetime count of accepted readings is what the stream holds.
  const records = await readStream<AgentRecord>(kinesis, 'meters');
  const lines = records.filter((record) => record.value.source === 'climate');
  const seqs = lines.map((record) => record.value.values['seq'] as number);
  t.is(new Set(seqs).size, seqs.length, 'no reading stored twice');
  const buffer = await RecordBuffer.open({
    path: join(dataDir, 'buffer.db'),
    maxBytes: 256 * 1024 * 1024,
    sources: [
      { name: 'climate', stream: 'meters', priority: 0, onFull: 'drop-oldest' },
      { name: 'gps', stream: 'meters', priority: 0, onFull: 'drop-oldest' },
    ],
  });
  const stats = await buffer.stats();
  await buffer.close();
  const byName = new Map(stats.sources.map((source) => [source.name, source]));
  t.is(byName.get('climate')!.accepted, lines.length + byName.get('climate')!.backlogRecords, 'every buffered climate reading is in the stream');
  t.is(byName.get('climate')!.dropped + byName.get('climate')!.expired, 0);
  t.is(byName.get('gps')!.accepted, records.length - lines.length + byName.get('gps')!.backlogRecords);
  const thinned = lines.filter((record) => Date.parse(record.value.timestamp) > applied.config.appliedAt!).map((record) => Date.parse(record.value.timestamp));
  t.true(thinned.length > 2 && thinned.every((time, index) => index === 0 || time - thinned[index - 1]! >= 200), `the pushed sampling applies: ${JSON.stringify(thinned.map((time, index) => time - (thinned[index - 1] ?? time)))}`);

  // Restarted with the same local file: the pushed config is still the one in force.
  const again = await startAgent(t, configFile);
  t.is(again.ready[1], `pushed config v${version}`);
  const before = await countIn(setup, t);
  const restarted = await waitForStatus(again, (s) => s.config.version === version && (s.upload?.uploadedRecords ?? 0) >= 5, 20_000, 'uploads under the pushed config after a restart');
  t.deepEqual(restarted.sources.map((source) => source.name), ['climate', 'gps']);
  t.true((await countIn(setup, t)) > before);
  t.is(offersTakenUp(again, version), 0, 'the version in force is not applied again');
  again.child.kill('SIGTERM');
  t.is((await within(again.exited, 15_000, 'the agent to stop')).code, 0, again.stderr());
});

test('over MQTT the retained config topic delivers the offer, with heartbeats off; an applied or refused version is not applied again on reconnect', async (t) => {
  const name = 'rig-push-mqtt';
  const setup = await fleet(t, name, { mqtt: true });
  const linePort = await simulated(t, setup.dir, 'line');
  const local = {
    deviceId: name,
    server: { url: setup.running.url, credentialsFile: 'device-keys.json', transport: 'mqtt', mqttUrl: `mqtt://127.0.0.1:${setup.running.mqttPort}` },
    dataDir: 'agent',
    status: { port: 0 },
    heartbeat: { intervalMs: 0 },
    upload: { intervalMs: 100 },
    sources: [{ type: 'line', name: 'climate', port: linePort, stream: 'meters' }],
  };
  const configFile = join(setup.dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(local));
  const agent = await startAgent(t, configFile);
  await waitForStatus(agent, (s) => (s.upload?.uploadedRecords ?? 0) >= 5, 20_000, 'uploads over MQTT');

  const version = await push(setup, name, { ...local, sources: [{ ...local.sources[0], sampling: { minIntervalMs: 500 } }] });
  const applied = await waitForStatus(agent, (s) => s.config.version === version, 30_000, `v${version} applied from the config topic`);
  t.is(applied.config.rejected, undefined);
  // The new Agent's connection subscribes again and gets the same retained offer: not applied twice.
  await waitForStatus(agent, (s) => (s.upload?.uploadedRecords ?? 0) >= 3, 20_000, 'uploads under the pushed config');
  t.is(offersTakenUp(agent, version), 1, agent.stderr());

  // Rolled back: the previous config's new connection gets the refused offer again (retained); it is not retried.
  const unhealthy = await push(setup, name, { ...local, fleet: { applyTimeoutMs: 1500 }, sources: [{ ...local.sources[0], port: join(setup.dir, 'no-such-port') }] });
  await waitForStatus(agent, (s) => s.config.rejected?.version === unhealthy && s.config.version === version, 30_000, `v${unhealthy} rolled back`);
  await waitForStatus(agent, (s) => (s.upload?.uploadedRecords ?? 0) >= 5, 20_000, 'uploads on a new connection after the rollback');
  await waitForStatus(agent, (s) => (s.upload?.uploadedRecords ?? 0) >= 10, 20_000, 'more uploads');
  t.is(offersTakenUp(agent, unhealthy), 1, agent.stderr());
  agent.child.kill('SIGTERM');
  t.is((await within(agent.exited, 15_000, 'the agent to stop')).code, 0, agent.stderr());
});
