// Device keys and desired configs on `--store nats://…`: two `rivulet server` processes on one
// JetStream cluster share them, so a device added, a config pushed and a revoke made through
// server A hold on server B at once, for the AWS SDK, heartbeats and B's MQTT broker alike, and a
// heartbeat received by B is listed by A.

import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateStreamCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { within } from '../helpers/server-process.js';
import { eventually } from '../mqtt/helpers.js';
import { ADMIN, addDevice, connectMqtt, devicesCli, heartbeat, kinesis, startFleetServer } from './helpers.js';

test('a device added, a config pushed and a revoke made through one server hold on the other', async (t) => {
  const cluster = await startNatsCluster(t, 1);
  const store = ['--store', cluster.urls.join(','), '--replicas', '1'];
  const a = await startFleetServer(store);
  t.teardown(() => a.process.kill().then(() => {}));
  const b = await startFleetServer(store);
  t.teardown(() => b.process.kill().then(() => {}));
  t.teardown(() => {
    if (!t.passed) for (const [name, server] of [['A', a], ['B', b]] as const) console.error(`--- server ${name} stderr (tail) ---\n${server.process.stderr().slice(-3000)}`);
  });

  const admin = kinesis(a, ADMIN);
  t.teardown(() => admin.destroy());
  await admin.send(new CreateStreamCommand({ StreamName: 'van-1-data', ShardCount: 1 }));
  const keys = await addDevice(a, 'van-1', ['--stream', 'van-1-data']);

  const onB = kinesis(b, keys);
  t.teardown(() => onB.destroy());
  const put = () => onB.send(new PutRecordsCommand({ StreamName: 'van-1-data', Records: [{ Data: Buffer.from('x'), PartitionKey: 'k' }] }));
  t.true(await eventually(() => put().then(() => true, () => false), 10_000), 'B accepts the keys of a device added through A');
  await t.throwsAsync(onB.send(new PutRecordsCommand({ StreamName: 'other', Records: [{ Data: Buffer.from('x'), PartitionKey: 'k' }] })), { name: 'AccessDeniedException' });

  // A config pushed through A reaches the device's MQTT connection to B, and B's heartbeat answer.
  const client = await connectMqtt(b, keys);
  t.teardown(() => client.endAsync(true));
  const messages: string[] = [];
  client.on('message', (_topic, payload) => messages.push(payload.toString('utf8')));
  await client.subscribeAsync('rivulet/van-1/config', { qos: 1 });
  const configFile = join(a.dir, 'van-1.json');
  await writeFile(configFile, JSON.stringify({ deviceId: 'van-1', logLevel: 'debug' }));
  const pushed = await devicesCli(a, ['push-config', 'van-1', '--config', configFile]);
  t.is(pushed.code, 0, pushed.stderr);
  t.true(await eventually(async () => messages.length > 0, 10_000), 'the config arrives over B');
  t.deepEqual(JSON.parse(messages[0]!), { version: 1, document: { deviceId: 'van-1', logLevel: 'debug' } });
  t.like((await heartbeat(b, keys, { deviceId: 'van-1', config: { version: null, appliedAt: null } })).json, { config: { version: 1 } });
  // A lists the heartbeat B received, with the config it still has to deliver.
  type Listed = { devices: { name: string; lastHeartbeat?: { status: { deviceId: string } }; config?: { state: string } }[] };
  const listedOnA = async () => (JSON.parse((await devicesCli(a, ['list', '--json'])).stdout) as Listed).devices.find((device) => device.name === 'van-1');
  t.true(await eventually(async () => (await listedOnA())?.lastHeartbeat?.status.deviceId === 'van-1', 10_000), "A lists the device's heartbeat sent to B");
  t.is((await listedOnA())?.config?.state, 'pending');

  // Revoked through A: B closes the device's MQTT connection and refuses its keys.
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const revoked = await devicesCli(a, ['revoke', 'van-1']);
  t.is(revoked.code, 0, revoked.stderr);
  await t.notThrowsAsync(within(closed, 10_000, "B did not close the revoked device's MQTT connection"));
  await t.throwsAsync(put(), { name: 'UnrecognizedClientException' });
  const reconnect = await t.throwsAsync(connectMqtt(b, keys));
  t.is((reconnect as Error & { code?: number }).code, 4);
  t.regex((await devicesCli(b, ['list'])).stdout, /van-1\s+revoked/);
});
