// The MQTT uploader against a real in-process server and its broker, with the routes the README
// documents for the agent's topic scheme: records arrive exactly once and in order per key, also
// across a broker restart in the middle of a drain and a PUBACK lost after the record was stored
// (resent, deduplicated by the producer id and sequence in the topic); CONNECT credentials; and the
// Agent itself with server.transport "mqtt".

import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { Agent, type AgentRecord } from '../../agent/agent.js';
import { RecordBuffer } from '../../agent/buffer/index.js';
import { parseAgentConfig } from '../../agent/config.js';
import { MqttUploader, mqttRouteFor, mqttTopicFor } from '../../agent/mqtt-uploader.js';
import { LineSimulator } from '../../hardware/line/simulator.js';
import { openPtyPair } from '../../hardware/serial/pty.js';
import { startServer, type RunningServer, type ServerOptions } from '../../ingest-server/server.js';
import type { DataStreamStore } from '../../ingest-server/storage/data-stream-store.js';
import { SqliteDataStreamStore } from '../../ingest-server/storage/sqlite/data-stream-store.js';
import { appender, assertExactlyOnceInOrder, client, createStream, openBuffer, readStream, tempDir, waitFor } from './helpers.js';

// The keys the tests' Kinesis client signs with (test/helpers/kinesis.ts), here also the device's.
const KEYS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

interface Harness {
  dir: string;
  dataDir: string;
  mqttConfigFile: string;
  credentialsFile?: string;
  running: RunningServer;
  mqttUrl: string;
}

/** A server whose broker routes the agent's topics for "meters" and "gps", with both streams. */
async function harness(t: ExecutionContext, options: { authenticated?: boolean; server?: Partial<ServerOptions> } = {}): Promise<Harness> {
  const dir = await tempDir(t);
  const mqttConfigFile = join(dir, 'mqtt.json');
  await writeFile(mqttConfigFile, JSON.stringify({ routes: [mqttRouteFor('meters'), mqttRouteFor('gps')] }));
  let credentialsFile: string | undefined;
  if (options.authenticated) {
    credentialsFile = join(dir, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ accessKeys: [KEYS] }));
  }
  const dataDir = join(dir, 'server');
  const running = await start(t, { dataDir, mqttConfigFile, ...(credentialsFile ? { credentialsFile } : {}), ...options.server });
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 2);
  await createStream(kinesis, 'gps', 1);
  return { dir, dataDir, mqttConfigFile, ...(credentialsFile ? { credentialsFile } : {}), running, mqttUrl: `mqtt://127.0.0.1:${running.mqttPort}` };
}

async function start(t: ExecutionContext, options: Partial<ServerOptions> & { dataDir: string }): Promise<RunningServer> {
  const running = await startServer({ port: 0, mqttPort: 0, ...options });
  t.teardown(() => running.close().catch(() => {}));
  return running;
}



function uploader(t: ExecutionContext, buffer: RecordBuffer, url: string, extra: Partial<ConstructorParameters<typeof MqttUploader>[0]> = {}): MqttUploader {
  const up = new MqttUploader({ buffer, url, deviceId: 'rig-1', intervalMs: 20, baseBackoffMs: 20, maxBackoffMs: 200, requestTimeoutMs: 5000, ...extra });
  t.teardown(() => up.stop());
  return up;
}

async function drained(buffer: RecordBuffer, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => (await buffer.stats()).backlogRecords === 0, timeoutMs, 'the buffer to drain');
}

/** Checks both streams: every id once, in order per key, each key in its stream. */
async function assertStored(t: ExecutionContext, url: string, ids: number[]): Promise<void> {
  const kinesis = client(t, url);
  const meters = await readStream<{ id: number }>(kinesis, 'meters');
  const gps = await readStream<{ id: number }>(kinesis, 'gps');
  t.true(meters.every((record) => record.partitionKey === 'k0' || record.partitionKey === 'k1'));
  t.true(gps.every((record) => record.partitionKey === 'k2' || record.partitionKey === 'k3'));
  assertExactlyOnceInOrder(t, [...meters, ...gps], ids);
}

test('the topic carries stream, partition key and producer; the documented route maps it back', (t) => {
  t.is(mqttTopicFor('rig-1', '0f3a', { stream: 'meters', partitionKey: 'm-7', sequence: 42 }), 'rivulet/rig-1/meters/m-7/0f3a/42');
  t.deepEqual(mqttRouteFor('meters'), { topic: 'rivulet/+/meters/+/+/+', stream: 'meters', partitionKey: '{4}', producer: { id: '{2}/{5}', sequence: '{6}' } });
  t.throws(() => new MqttUploader({ buffer: { producerEpoch: 'e', peek: async () => [], remove: async () => {} }, url: 'http://x', deviceId: 'd' }), { message: /mqtt: or mqtts:/ });
});

test('drains N records over MQTT: every record exactly once, in order per key, buffer empty', async (t) => {
  const { dir, running, mqttUrl } = await harness(t);
  const buffer = await openBuffer(t, dir);
  const append = appender(buffer);
  const up = uploader(t, buffer, mqttUrl, { batchRecords: 100 });
  const ids = await append(2000);
  up.start();
  await drained(buffer);
  await assertStored(t, running.url, ids);
  t.like(up.stats, { uploadedRecords: 2000, failedRequests: 0, consecutiveFailures: 0 });
  t.is(up.stats.uploadedBySource['a'], 1000);
  t.is(up.producerId, `rig-1/${buffer.producerEpoch}`, 'the same ProducerId as over HTTP');
});

test('server stopped mid-drain and back on the same ports: backlog kept, then every record exactly once, in order per key', async (t) => {
  const h = await harness(t);
  const buffer = await openBuffer(t, h.dir);
  const append = appender(buffer);
  const up = uploader(t, buffer, h.mqttUrl, { batchRecords: 50 });
  const ids = await append(3000);
  up.start();
  await waitFor(() => up.stats.uploadedRecords >= 300, 10_000, 'some records uploaded');
  // Closes the broker with PUBLISHes in flight: what is already on its way is stored, its PUBACKs are lost.
  await h.running.close();
  const uploadedBeforeRestart = up.stats.uploadedRecords;
  t.true(uploadedBeforeRestart < 3000, 'stopped mid-drain');
  ids.push(...(await append(200)));
  await waitFor(() => up.stats.consecutiveFailures >= 2, 5000, 'reconnect attempts failing');
  t.true((await buffer.stats()).backlogRecords > 200);

  const port = new URL(h.running.url).port;
  const restarted = await start(t, { dataDir: h.dataDir, mqttConfigFile: h.mqttConfigFile, port: Number(port), mqttPort: h.running.mqttPort! });
  await drained(buffer);
  await assertStored(t, restarted.url, ids);
  t.is(up.stats.consecutiveFailures, 0);
});

test('a PUBACK lost after the record was stored: the resend on a new connection is stored once', async (t) => {
  // The store holds the first append of agent records until the test has cut the connection, so
  // the records are committed but their PUBACKs cannot reach the agent.
  let hold: ((entries: number) => Promise<void>) | undefined;
  const appendedSequences: number[] = [];
  const dir = await tempDir(t);
  const store = hookAppends(new SqliteDataStreamStore(join(dir, 'store')), async (entries) => {
    appendedSequences.push(...entries.flatMap((entry) => (entry.producer ? [entry.producer.sequence] : [])));
    const current = hold;
    hold = undefined;
    await current?.(entries.length);
  });
  const h = await harness(t, { server: { store } });
  const proxy = await tcpProxy(t, h.running.mqttPort!);
  const buffer = await openBuffer(t, h.dir);
  const append = appender(buffer);
  const ids = await append(20);
  let cut = false;
  hold = async () => {
    proxy.cutAll();
    cut = true;
    // The broker's PUBACK for these goes to a closed socket.
    await new Promise((resolve) => setTimeout(resolve, 50));
  };
  const up = uploader(t, buffer, `mqtt://127.0.0.1:${proxy.port}`, { batchRecords: 20 });
  up.start();
  await drained(buffer);
  t.true(cut);
  t.true(proxy.connections >= 2, 'reconnected');
  const resent = appendedSequences.filter((sequence, index) => appendedSequences.indexOf(sequence) !== index);
  t.true(resent.length > 0, 'records reached the store twice');
  await assertStored(t, h.running.url, ids);
  t.true(up.stats.failedRequests >= 1);
});

test('with server credentials: the right keys upload, wrong keys are refused and the records stay buffered', async (t) => {
  const h = await harness(t, { authenticated: true });
  const good = await openBuffer(t, join(h.dir));
  const ids = await appender(good)(100);
  const up = uploader(t, good, h.mqttUrl, { credentials: KEYS });
  up.start();
  await drained(good);
  await assertStored(t, h.running.url, ids);

  const otherDir = await tempDir(t);
  const bad = await openBuffer(t, otherDir);
  await appender(bad)(10);
  const refused = uploader(t, bad, h.mqttUrl, { credentials: { ...KEYS, secretAccessKey: 'wrong' } });
  refused.start();
  await waitFor(() => refused.stats.consecutiveFailures >= 2, 5000, 'refused connections');
  t.regex(refused.stats.lastError?.message ?? '', /cannot connect|Bad username or password|Not authorized/i);
  t.is((await bad.stats()).backlogRecords, 10);
  t.is(refused.stats.uploadedRecords, 0);
});

test('Agent with server.transport "mqtt": line sensor readings reach the stream through the broker', async (t) => {
  const h = await harness(t);
  const pty = await openPtyPair({ devicePath: join(h.dir, 'line'), simulatorPath: join(h.dir, 'line.sim') });
  t.teardown(() => pty.close());
  const sim = new LineSimulator({ path: pty.simulatorPath, rateHz: 50 });
  await sim.start();
  t.teardown(() => sim.stop());
  const config = parseAgentConfig(
    {
      deviceId: 'rig-9',
      server: { url: h.running.url, transport: 'mqtt', mqttUrl: h.mqttUrl },
      dataDir: join(h.dir, 'agent'),
      status: { port: 0 },
      upload: { intervalMs: 50 },
      sources: [{ type: 'line', port: pty.devicePath, stream: 'meters', partitionKey: 'rig-9.climate' }],
    },
    join(h.dir, 'agent.json'),
  );
  const agent = new Agent({ config });
  await agent.start();
  let stopped = false;
  t.teardown(() => (stopped ? undefined : agent.stop()));
  await waitFor(async () => ((await agent.status()).upload?.uploadedRecords ?? 0) >= 20, 10_000, 'readings uploaded');
  const status = await agent.status();
  t.is(status.server, h.mqttUrl);
  await agent.stop();
  stopped = true;
  const uploaded = status.upload!.uploadedRecords;
  const stored = await readStream<AgentRecord>(client(t, h.running.url), 'meters');
  t.true(stored.length >= uploaded);
  t.true(stored.every((record) => record.partitionKey === 'rig-9.climate' && record.value.deviceId === 'rig-9' && record.value.source === 'line'));
  // The simulator numbers its lines; timestamps of lines that arrive in one burst can share a millisecond.
  const lineNumbers = stored.map((record) => record.value.values['seq']);
  t.deepEqual(lineNumbers, [...lineNumbers].sort((a, b) => Number(a) - Number(b)), 'in reading order');
  t.is(new Set(lineNumbers).size, lineNumbers.length, 'no duplicates');
});

/** The store, with `before` awaited before each append that carries producer entries. */
function hookAppends(store: DataStreamStore, before: (entries: Parameters<DataStreamStore['append']>[0]) => Promise<void>): DataStreamStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'append') {
        return async (entries: Parameters<DataStreamStore['append']>[0]) => {
          if (entries.some((entry) => entry.producer)) await before(entries);
          return target.append(entries);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A TCP proxy to the broker whose connections the test can cut. */
async function tcpProxy(t: ExecutionContext, targetPort: number): Promise<{ port: number; connections: number; cutAll(): void }> {
  const sockets = new Set<net.Socket>();
  const state = { port: 0, connections: 0, cutAll: () => sockets.forEach((socket) => socket.destroy()) };
  const server = net.createServer((downstream) => {
    state.connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  t.teardown(() => {
    state.cutAll();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}
