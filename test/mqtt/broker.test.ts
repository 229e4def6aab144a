// The server's MQTT broker against the real `mqtt` client (MQTT 3.1.1): routed publishes become
// records read back with the AWS SDK, PUBACK waits for durability, unrouted topics stay plain
// pub/sub, refusals leave the message with the client, and credentials guard CONNECT.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateStreamCommand } from '@aws-sdk/client-kinesis';
import mqtt, { type ErrorWithReasonCode } from 'mqtt';
import { startServer } from '../../ingest-server/server.js';
import { MqttConfigError } from '../../ingest-server/mqtt/routes.js';
import type { DataStreamStore } from '../../ingest-server/storage/data-stream-store.js';
import { SqliteDataStreamStore } from '../../ingest-server/storage/sqlite/data-stream-store.js';
import { TEST_KEYS, byPartitionKey, eventually, recordsOf, startMqttHarness } from './helpers.js';

test('QoS 1 publishes on routed topics are stored in order per partition key, keyed from the topic', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t);
  const client = await connect();
  const meters = Array.from({ length: 8 }, (_, i) => `m-${i}`);
  const published: Promise<unknown>[] = [];
  // Interleaved and pipelined: the client does not wait for a PUBACK before its next PUBLISH.
  for (let n = 0; n < 50; n++) {
    for (const meter of meters) published.push(client.publishAsync(`meters/${meter}/reading`, `${meter} #${n}`, { qos: 1 }));
  }
  const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  published.push(client.publishAsync('gps/7/fix', allBytes, { qos: 1 }));
  published.push(client.publishAsync('gps/7/fix/extra', 'second', { qos: 1 }));
  await Promise.all(published);

  const stored = byPartitionKey(await recordsOf(kinesis, 'meters'));
  t.deepEqual([...stored.keys()].sort(), meters);
  for (const meter of meters) t.deepEqual(stored.get(meter), Array.from({ length: 50 }, (_, n) => `${meter} #${n}`), meter);

  const gps = await recordsOf(kinesis, 'gps');
  t.deepEqual(gps.map((record) => record.PartitionKey), ['rig-7', 'rig-7']);
  t.deepEqual(Buffer.from(gps[0]!.Data!), allBytes, 'payload bytes are stored exactly');
  t.is(Buffer.from(gps[1]!.Data!).toString(), 'second');
});

test('PUBACK arrives only after the store reports the record durable', async (t) => {
  // The store's append resolves 300 ms after its commit: an early PUBACK would beat that.
  const events: string[] = [];
  const APPEND_DELAY_MS = 300;
  const { server } = await startMqttHarness(t, {
    server: {
      store: slowAppends(new SqliteDataStreamStore(join(await tempParent(t), 'data')), APPEND_DELAY_MS, (count) => events.push(`durable ${count}`)),
    },
  });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => client.endAsync(true));
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    await client.publishAsync('meters/m-1/reading', `r${i}`, { qos: 1 });
    events.push(`puback r${i}`);
    t.true(Date.now() - started >= APPEND_DELAY_MS - 5, `PUBACK ${i} came after ${Date.now() - started} ms`);
  }
  t.deepEqual(events, ['durable 1', 'puback r0', 'durable 1', 'puback r1', 'durable 1', 'puback r2']);
});

test('when the publish callback fires, GetRecords already returns the record', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t, { streams: { meters: 1, gps: 1 } });
  const client = await connect();
  for (let i = 0; i < 10; i++) {
    await new Promise<void>((resolve, reject) => {
      client.publish('meters/m-3/reading', `reading ${i}`, { qos: 1 }, (error) => {
        if (error) return reject(error);
        // Straight from the PUBACK, no waiting.
        recordsOf(kinesis, 'meters').then((records) => {
          t.is(records.length, i + 1);
          t.is(Buffer.from(records[i]!.Data!).toString(), `reading ${i}`);
          resolve();
        }, reject);
      });
    });
  }
});

test('QoS 0 publishes are stored too (best effort)', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t);
  const client = await connect();
  for (let i = 0; i < 30; i++) await client.publishAsync('meters/q0/reading', `q0 ${i}`, { qos: 0 });
  t.true(await eventually(async () => (await recordsOf(kinesis, 'meters')).length === 30));
  t.deepEqual(byPartitionKey(await recordsOf(kinesis, 'meters')).get('q0'), Array.from({ length: 30 }, (_, i) => `q0 ${i}`));
});

test('QoS 2 publishes are stored once, PUBREC after the commit', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t);
  const client = await connect();
  await Promise.all(Array.from({ length: 10 }, (_, i) => client.publishAsync('meters/q2/reading', `q2 ${i}`, { qos: 2 })));
  t.deepEqual(byPartitionKey(await recordsOf(kinesis, 'meters')).get('q2'), Array.from({ length: 10 }, (_, i) => `q2 ${i}`));
});

test('with --tls-cert the broker speaks MQTT over TLS', async (t) => {
  const dir = await tempParent(t);
  const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ]);
  const ca = await readFile(certFile);
  const { server, kinesis } = await startMqttHarness(t, { server: { tls: { certFile, keyFile } }, ca });
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0, ca }, false);
  t.teardown(() => client.endAsync(true));
  await client.publishAsync('meters/tls/reading', 'sealed', { qos: 1 });
  t.deepEqual(byPartitionKey(await recordsOf(kinesis, 'meters')).get('tls'), ['sealed']);
  // A plain-TCP client gets no CONNACK.
  await t.throwsAsync(mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 1000 }, false));
});

test('unrouted topics are plain pub/sub and not stored; routed ones reach subscribers as well', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t);
  const subscriber = await connect();
  await subscriber.subscribeAsync(['chat/#', 'meters/#'], { qos: 1 });
  const received: string[] = [];
  subscriber.on('message', (topic, payload) => received.push(`${topic}: ${payload.toString()}`));
  const publisher = await connect();
  await publisher.publishAsync('chat/room-1', 'hello', { qos: 1 });
  await publisher.publishAsync('meters/m-5/reading', '42.1', { qos: 1 });
  t.true(await eventually(async () => received.length === 2));
  t.deepEqual(received.sort(), ['chat/room-1: hello', 'meters/m-5/reading: 42.1']);
  const meters = await recordsOf(kinesis, 'meters');
  t.deepEqual(meters.map((record) => record.PartitionKey), ['m-5']);
  t.is((await recordsOf(kinesis, 'gps')).length, 0);
});

test('a routed publish that cannot be stored gets no PUBACK: the client is disconnected and resends it until it is stored', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t);
  const client = await connect({ reconnectPeriod: 100, clientId: 'refused-client' });
  let closes = 0;
  client.on('close', () => closes++);
  let acked = false;
  const publish = client.publishAsync('missing/dev-1', 'kept by the client', { qos: 1 }).then(() => (acked = true));
  t.true(await eventually(async () => closes >= 2), 'refused and disconnected, again after reconnecting');
  t.false(acked, 'no PUBACK while the stream does not exist');

  await kinesis.send(new CreateStreamCommand({ StreamName: 'not-created', ShardCount: 1 }));
  await publish;
  const records = await recordsOf(kinesis, 'not-created');
  t.deepEqual(
    records.map((record) => [record.PartitionKey, Buffer.from(record.Data!).toString()]),
    [['missing/dev-1', 'kept by the client']],
  );
});

test('a route with producer templates stores each (producer id, sequence) once: a resend after a lost PUBACK, even on another connection, is not stored again', async (t) => {
  const route = { topic: 'rivulet/+/meters/+/+/+', stream: 'meters', partitionKey: '{4}', producer: { id: '{2}/{5}', sequence: '{6}' } };
  const { connect, kinesis } = await startMqttHarness(t, { routes: [route, { topic: 'meters/+/reading', stream: 'meters', partitionKey: '{2}' }] });
  const first = await connect();
  const second = await connect();
  await first.publishAsync('rivulet/rig-1/meters/m-1/e1/1', 'one', { qos: 1 });
  await first.publishAsync('rivulet/rig-1/meters/m-1/e1/2', 'two', { qos: 1 });
  // What a client resends after reconnecting (same topic, so same producer and sequence), while
  // the first connection may still be storing its own copy.
  await Promise.all([
    second.publishAsync('rivulet/rig-1/meters/m-1/e1/2', 'two', { qos: 1, dup: true }),
    first.publishAsync('rivulet/rig-1/meters/m-1/e1/3', 'three', { qos: 1 }),
    second.publishAsync('rivulet/rig-1/meters/m-1/e1/3', 'three', { qos: 1, dup: true }),
  ]);
  // Another epoch is another producer; routes without producer do not dedup.
  await second.publishAsync('rivulet/rig-1/meters/m-1/e2/1', 'new epoch', { qos: 1 });
  await second.publishAsync('meters/m-2/reading', 'plain', { qos: 1 });
  await second.publishAsync('meters/m-2/reading', 'plain', { qos: 1 });
  const stored = byPartitionKey(await recordsOf(kinesis, 'meters'));
  t.deepEqual(stored.get('m-1'), ['one', 'two', 'three', 'new epoch']);
  t.deepEqual(stored.get('m-2'), ['plain', 'plain']);
});

test("a QoS 1 publish in the agents' rivulet/ tree that no route stores is refused, not acknowledged (it would leave the agent's buffer)", async (t) => {
  const { connect } = await startMqttHarness(t);
  const client = await connect();
  let closed = false;
  client.on('close', () => (closed = true));
  let acked = false;
  void client.publishAsync('rivulet/rig-1/no-route/k/e1/1', 'kept', { qos: 1 }).then(() => (acked = true), () => {});
  t.true(await eventually(async () => closed), 'disconnected');
  t.false(acked);
  // QoS 0 there, and QoS 1 elsewhere, stay plain pub/sub.
  const other = await connect();
  await other.publishAsync('rivulet/rig-1/no-route/k/e1/2', 'fire and forget', { qos: 0 });
  await other.publishAsync('chat/room', 'hello', { qos: 1 });
  t.true(other.connected);
});

test('a refused QoS 0 publish is dropped without disconnecting the client', async (t) => {
  const { connect, kinesis } = await startMqttHarness(t);
  const client = await connect();
  let closed = false;
  client.on('close', () => (closed = true));
  await client.publishAsync('missing/dev-2', 'lost', { qos: 0 });
  await client.publishAsync('meters/m-1/reading', 'after', { qos: 1 });
  t.false(closed);
  t.deepEqual(byPartitionKey(await recordsOf(kinesis, 'meters')).get('m-1'), ['after']);
});

test('with credentials, CONNECT needs username = access key id and password = secret access key', async (t) => {
  const { connect, kinesis, mqttUrl } = await startMqttHarness(t, { authenticated: true });
  const client = await connect({ username: TEST_KEYS.accessKeyId, password: TEST_KEYS.secretAccessKey });
  await client.publishAsync('meters/m-1/reading', 'signed in', { qos: 1 });
  t.is((await recordsOf(kinesis, 'meters')).length, 1);

  const refusal = async (options: mqtt.IClientOptions): Promise<number | undefined> => {
    const error = await t.throwsAsync<ErrorWithReasonCode>(mqtt.connectAsync(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, ...options }, false));
    return error?.code;
  };
  t.is(await refusal({ username: TEST_KEYS.accessKeyId, password: 'wrong-secret' }), 4, 'wrong secret: bad user name or password');
  t.is(await refusal({ username: TEST_KEYS.accessKeyId, password: TEST_KEYS.secretAccessKey + 'x' }), 4, 'longer secret');
  t.is(await refusal({ username: 'AKIDUNKNOWN', password: TEST_KEYS.secretAccessKey }), 4, 'unknown access key id');
  t.is(await refusal({}), 5, 'no credentials: not authorized');
});

test('the broker refuses to start without its routes, and a bad routes file names the field', async (t) => {
  const dir = await tempParent(t);
  await t.throwsAsync(startServer({ dataDir: join(dir, 'a'), port: 0, mqttPort: 0 }), { message: /--mqtt-port and --mqtt-config go together/ });
  const config = join(dir, 'mqtt.json');
  await writeFile(config, JSON.stringify({ routes: [{ topic: 'a/+', stream: 's', partitionKey: '{5}' }] }));
  await t.throwsAsync(startServer({ dataDir: join(dir, 'b'), port: 0, mqttPort: 0, mqttConfigFile: config }), {
    instanceOf: MqttConfigError,
    message: `mqtt config ${config}: routes[0].partitionKey uses {5}, but topic filter "a/+" has only 2 levels`,
  });
});

test('a taken MQTT port fails the start and leaves nothing listening', async (t) => {
  const dir = await tempParent(t);
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const config = join(dir, 'mqtt.json');
  await writeFile(config, JSON.stringify({ routes: [{ topic: 'a/#', stream: 's' }] }));
  const mqttPort = (taken.address() as net.AddressInfo).port;
  await t.throwsAsync(startServer({ dataDir: join(dir, 'data'), port: 0, mqttPort, mqttConfigFile: config }), { code: 'EADDRINUSE' });
  // The same data dir opens again: the first attempt closed its store.
  const server = await startServer({ dataDir: join(dir, 'data'), port: 0 });
  await server.close();
  t.pass();
});

test('close() ends MQTT connections at once, also ones that never sent CONNECT', async (t) => {
  const { server, connect } = await startMqttHarness(t);
  await connect();
  const silent = net.connect(server.mqttPort!, '127.0.0.1');
  await new Promise((resolve) => silent.once('connect', resolve));
  const gone = new Promise((resolve) => silent.once('close', resolve));
  const started = Date.now();
  await server.close();
  await gone;
  t.true(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
});

/** A store whose append() resolves `delayMs` after the wrapped one did; `onDurable` gets the entry count at commit. */
function slowAppends(store: DataStreamStore, delayMs: number, onDurable: (count: number) => void): DataStreamStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'append') {
        return async (entries: Parameters<DataStreamStore['append']>[0]) => {
          const results = await target.append(entries);
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          onDurable(entries.length);
          return results;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function tempParent(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-mqtt-extra-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
