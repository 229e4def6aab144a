// Device identities end to end: `rivulet devices add|list|revoke|push-config` (the real CLI
// process) against a real `rivulet server --credentials … --mqtt-port …`, and the device's keys
// used by the real clients: the AWS SDK (Kinesis, Kinesis Video), the agent's PutMedia client and
// signed POST (heartbeats), and the `mqtt` package.

import test from 'ava';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateStreamCommand, DeleteStreamCommand, DescribeStreamSummaryCommand, ListStreamsCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { CreateStreamCommand as CreateVideoStreamCommand, DescribeStreamCommand as DescribeVideoStreamCommand, GetDataEndpointCommand } from '@aws-sdk/client-kinesis-video';
import type { MqttClient } from 'mqtt';
import { signedPost } from '../../agent/signed-post.js';
import { openPutMedia, PutMediaRequestError } from '../../agent/video/put-media-client.js';
import { within } from '../helpers/server-process.js';
import { eventually, recordsOf } from '../mqtt/helpers.js';
import { ADMIN, addDevice, connectMqtt, devicesCli, heartbeat, kinesis, kinesisVideo, rivuletRequest, startFleetServer, STREAMS, type FleetServer, type Keys } from './helpers.js';

let server: FleetServer;
const clients: MqttClient[] = [];

test.before(async () => {
  server = await startFleetServer();
  const admin = kinesis(server, ADMIN);
  const video = kinesisVideo(server, ADMIN);
  for (const stream of STREAMS) await admin.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  for (const stream of ['van-1-cam', 'van-2-cam']) await video.send(new CreateVideoStreamCommand({ StreamName: stream, DataRetentionInHours: 1 }));
  admin.destroy();
  video.destroy();
});

test.after.always(async () => {
  await Promise.all(clients.map((client) => client.endAsync(true)));
  await server?.process.kill();
});

async function mqttClient(keys: Keys): Promise<MqttClient> {
  const client = await connectMqtt(server, keys);
  clients.push(client);
  return client;
}

const record = (text: string) => ({ Data: Buffer.from(text), PartitionKey: 'k' });

test('a device added with the CLI puts records to its own stream and video, and is refused everything else', async (t) => {
  const keys = await addDevice(server, 'van-1', ['--stream', 'van-1-data', '--video-stream', 'van-1-cam']);
  t.regex(keys.accessKeyId, /^RIVD[A-Z2-7]{16}$/);
  t.is(keys.secretAccessKey.length, 40);
  t.deepEqual(Object.keys(keys).sort(), ['accessKeyId', 'secretAccessKey']);

  const device = kinesis(server, keys);
  t.teardown(() => device.destroy());
  const put = await device.send(new PutRecordsCommand({ StreamName: 'van-1-data', Records: [record('one'), record('two')] }));
  t.is(put.FailedRecordCount, 0);
  t.is((await device.send(new DescribeStreamSummaryCommand({ StreamName: 'van-1-data' }))).StreamDescriptionSummary?.StreamName, 'van-1-data');

  const denied = { name: 'AccessDeniedException' };
  const other = await t.throwsAsync(device.send(new PutRecordsCommand({ StreamName: 'van-2-data', Records: [record('x')] })), denied);
  t.is((other as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 400);
  t.regex(other!.message, /van-1.*kinesis:PutRecords.*van-2-data/);
  await t.throwsAsync(device.send(new PutRecordsCommand({ StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/van-2-data', Records: [record('x')] })), denied);
  // Exactly-once producer ids (which the SDK cannot send; the agent's uploader does) are the
  // device's own, `<name>/…`: another device's would have that device's records taken for duplicates.
  const produced = async (ProducerId: string) => {
    const body = Buffer.from(JSON.stringify({ StreamName: 'van-1-data', ProducerId, Records: [{ PartitionKey: 'k', Data: 'cA==', ProducerSequence: '1' }] }));
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Kinesis_20131202.PutRecords' };
    const answer = await signedPost({ url: new URL('/', server.url), headers, body, credentials: keys, region: 'us-east-1', service: 'kinesis', timeoutMs: 15_000 });
    return { status: answer.status, json: JSON.parse(answer.body) as { __type?: string; message?: string; FailedRecordCount?: number } };
  };
  t.like(await produced('van-1/epoch-a'), { status: 200, json: { FailedRecordCount: 0 } });
  const spoofed = await produced('van-2/epoch-a');
  t.like(spoofed, { status: 400, json: { __type: 'AccessDeniedException' } });
  t.regex(spoofed.json.message ?? '', /producer van-2\/epoch-a/);
  await t.throwsAsync(device.send(new CreateStreamCommand({ StreamName: 'van-1-new', ShardCount: 1 })), denied);
  await t.throwsAsync(device.send(new DeleteStreamCommand({ StreamName: 'van-1-data' })), denied);
  await t.throwsAsync(device.send(new ListStreamsCommand({})), denied);

  const video = kinesisVideo(server, keys);
  t.teardown(() => video.destroy());
  t.truthy((await video.send(new GetDataEndpointCommand({ StreamName: 'van-1-cam', APIName: 'PUT_MEDIA' }))).DataEndpoint);
  await t.throwsAsync(video.send(new DescribeVideoStreamCommand({ StreamName: 'van-2-cam' })), denied);

  const own = await openPutMedia({ endpoint: server.url, streamName: 'van-1-cam', credentials: keys });
  await own.end();
  const refused = await t.throwsAsync(openPutMedia({ endpoint: server.url, streamName: 'van-2-cam', credentials: keys }), { instanceOf: PutMediaRequestError });
  t.is(refused!.name, 'AccessDeniedException');
  t.is((refused as PutMediaRequestError).statusCode, 403);
});

test('revoke: the SDK client is refused on its next call, the MQTT client is disconnected and cannot reconnect, admin keys keep working', async (t) => {
  const keys = await addDevice(server, 'van-2', ['--stream', 'van-2-data']);
  const device = kinesis(server, keys);
  t.teardown(() => device.destroy());
  t.is((await device.send(new PutRecordsCommand({ StreamName: 'van-2-data', Records: [record('before')] }))).FailedRecordCount, 0);
  const client = await mqttClient(keys);
  await client.publishAsync('meters/van-2-data/m1', 'reading', { qos: 1 });
  let closed = false;
  client.on('close', () => (closed = true));

  const run = await devicesCli(server, ['revoke', 'van-2']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /device van-2 revoked at \d{4}-/);

  t.true(await eventually(async () => closed, 15_000), 'the MQTT client of the revoked device is disconnected');
  await t.throwsAsync(device.send(new PutRecordsCommand({ StreamName: 'van-2-data', Records: [record('after')] })), { name: 'UnrecognizedClientException' });
  const reconnect = await t.throwsAsync(connectMqtt(server, keys));
  t.is((reconnect as Error & { code?: number }).code, 4);

  const admin = kinesis(server, ADMIN);
  t.teardown(() => admin.destroy());
  t.is((await admin.send(new PutRecordsCommand({ StreamName: 'van-2-data', Records: [record('admin')] }))).FailedRecordCount, 0);

  const list = await devicesCli(server, ['list', '--json']);
  const listed = (JSON.parse(list.stdout) as { devices: { name: string; revokedAt?: number; secretAccessKey?: string }[] }).devices.find((each) => each.name === 'van-2');
  t.true(typeof listed?.revokedAt === 'number');
  t.is(listed?.secretAccessKey, undefined);
  t.regex((await devicesCli(server, ['list'])).stdout, /van-2\s+revoked/);
});

test('a device posts heartbeats only for itself; the admin list shows them', async (t) => {
  const keys = await addDevice(server, 'van-3', ['--stream', 'van-3-data']);
  const status = { deviceId: 'van-3', agentVersion: '1.2.3', uptimeMs: 5000, sources: [{ name: 'meter', healthy: true }], config: { version: null, appliedAt: null } };
  t.is((await heartbeat(server, keys, status)).status, 204);
  const spoofed = await heartbeat(server, keys, { ...status, deviceId: 'van-1' });
  t.is(spoofed.status, 403);
  t.is(spoofed.json?.['__type'], 'AccessDeniedException');

  const list = await devicesCli(server, ['list', '--json']);
  t.is(list.code, 0, list.stderr);
  const devices = (JSON.parse(list.stdout) as { devices: { name: string; lastHeartbeat?: { receivedAt: number; status: { agentVersion: string } } }[] }).devices;
  t.is(devices.find((each) => each.name === 'van-3')?.lastHeartbeat?.status.agentVersion, '1.2.3');
  // The spoofed one was not recorded for van-1.
  t.is(devices.find((each) => each.name === 'van-1')?.lastHeartbeat, undefined);
});

test('push-config: versions increase, the heartbeat answer carries the config until the device runs or rejects it, MQTT delivers it retained to that device only', async (t) => {
  const keys = await addDevice(server, 'van-4', ['--stream', 'van-4-data']);
  const other = await addDevice(server, 'van-5', ['--stream', 'van-5-data']);
  const configFile = join(server.dir, 'van-4-config.json');
  const push = async (document: object) => {
    await writeFile(configFile, JSON.stringify(document));
    const run = await devicesCli(server, ['push-config', 'van-4', '--config', configFile]);
    t.is(run.code, 0, run.stderr);
    return Number(/config version (\d+) pushed/.exec(run.stdout)?.[1]);
  };
  t.is(await push({ deviceId: 'van-4', logLevel: 'info' }), 1);
  t.is(await push({ deviceId: 'van-4', logLevel: 'debug' }), 2);

  const status = (config: object) => ({ deviceId: 'van-4', config });
  const pending = await heartbeat(server, keys, status({ version: null, appliedAt: null }));
  t.is(pending.status, 200);
  t.deepEqual(pending.json, { config: { version: 2, document: { deviceId: 'van-4', logLevel: 'debug' } } });
  t.is((await heartbeat(server, keys, status({ version: 1, appliedAt: 1 }))).status, 200);
  t.is((await heartbeat(server, keys, status({ version: 2, appliedAt: 2 }))).status, 204);
  t.is((await heartbeat(server, keys, status({ version: 1, appliedAt: 1, rejected: { version: 2, error: 'sources[0].port is required', at: 3 } }))).status, 204);

  const listed = async () => (JSON.parse((await devicesCli(server, ['list', '--json'])).stdout) as { devices: { name: string; config?: object }[] }).devices.find((each) => each.name === 'van-4')?.config;
  t.deepEqual(await listed(), { desiredVersion: 2, reportedVersion: 1, state: 'rejected', error: 'sources[0].port is required' });

  t.is(await push({ deviceId: 'van-4', logLevel: 'warn' }), 3);
  t.like((await heartbeat(server, keys, status({ version: 2, appliedAt: 2 }))).json, { config: { version: 3 } });
  t.like(await listed(), { desiredVersion: 3, reportedVersion: 2, state: 'pending' });

  // The device's own MQTT connection gets the latest config, retained, at subscribe time.
  const client = await mqttClient(keys);
  const received = new Promise<{ topic: string; payload: string; retain: boolean; qos: number }>((resolve) =>
    client.once('message', (topic, payload, packet) => resolve({ topic, payload: payload.toString('utf8'), retain: packet.retain, qos: packet.qos })),
  );
  const granted = await client.subscribeAsync('rivulet/van-4/config', { qos: 1 });
  t.is(granted[0]?.qos, 1);
  const message = await received;
  t.is(message.topic, 'rivulet/van-4/config');
  t.true(message.retain);
  t.is(message.qos, 1);
  t.deepEqual(JSON.parse(message.payload), { version: 3, document: { deviceId: 'van-4', logLevel: 'warn' } });

  // Another device may not read it, not even by wildcard.
  const stranger = await mqttClient(other);
  // mqtt.js rejects a subscription the SUBACK refuses (return code 128).
  const refused = async (topic: string) => ((await t.throwsAsync(stranger.subscribeAsync(topic, { qos: 1 }))) as Error & { packet?: { granted?: number[] } }).packet?.granted;
  t.deepEqual(await refused('rivulet/van-4/config'), [128]);
  t.deepEqual(await refused('rivulet/+/config'), [128]);
  t.deepEqual(await refused('#'), [128]);
  t.is((await stranger.subscribeAsync('rivulet/van-5/config', { qos: 1 }))[0]?.qos, 1);

  // Only the server writes config topics, not even an admin client: the retained offer stays the server's.
  const admin = await mqttClient(ADMIN);
  const adminClosed = new Promise<void>((resolve) => admin.once('close', () => resolve()));
  admin.publish('rivulet/van-4/config', JSON.stringify({ version: 9, document: { deviceId: 'van-4' } }), { qos: 0, retain: true });
  await adminClosed;
  const again = await mqttClient(keys);
  const offered = new Promise<string>((resolve) => again.once('message', (_topic, payload) => resolve(payload.toString('utf8'))));
  await again.subscribeAsync('rivulet/van-4/config', { qos: 1 });
  t.deepEqual(JSON.parse(await offered), { version: 3, document: { deviceId: 'van-4', logLevel: 'warn' } });
});

test('a device may publish over MQTT only to routed topics of its own streams, as its own producer', async (t) => {
  const keys = await addDevice(server, 'van-6', ['--stream', 'van-1-data']);
  const refusedAfterOk = async (topic: string) => {
    const client = await mqttClient(keys);
    await client.publishAsync('meters/van-1-data/m6', 'ok', { qos: 1 });
    await client.publishAsync('rivulet/van-6/van-1-data/k/epoch-6/1', 'ok as producer', { qos: 1 });
    let closed = false;
    client.on('close', () => (closed = true));
    client.on('error', () => {});
    // No PUBACK comes for a refused publish: the broker disconnects the client.
    void client.publishAsync(topic, 'not mine', { qos: 1 }).catch(() => {});
    return eventually(async () => closed, 15_000);
  };
  t.true(await refusedAfterOk('meters/van-3-data/m6'), 'another stream');
  t.true(await refusedAfterOk('rivulet/van-1/van-1-data/k/epoch-1/7'), "another device's producer id");
  t.true(await refusedAfterOk('unrouted/topic'), 'a topic no route stores');

  const admin = kinesis(server, ADMIN);
  t.teardown(() => admin.destroy());
  const texts = async (stream: string) => (await recordsOf(admin, stream)).map((each) => Buffer.from(each.Data!).toString('utf8'));
  t.false((await texts('van-3-data')).includes('not mine'));
  const own = await texts('van-1-data');
  t.true(own.includes('ok as producer'));
  t.false(own.includes('not mine'));
});

test('the admin API answers bad input with awsJson errors, and takes admin keys only', async (t) => {
  const devices = '/admin/v1/devices';
  const badJson = await rivuletRequest(server, ADMIN, 'POST', devices, '{"name":');
  t.like(badJson, { status: 400, json: { __type: 'SerializationException' } });
  const noName = await rivuletRequest(server, ADMIN, 'POST', devices, { streams: ['a'] });
  t.is(noName.status, 400);
  t.is(noName.json?.['__type'], 'ValidationException');
  t.regex(String(noName.json?.['message']), /name/);
  const badName = await rivuletRequest(server, ADMIN, 'POST', devices, { name: 'van/1' });
  t.like(badName, { status: 400, json: { __type: 'ValidationException' } });
  const typo = await rivuletRequest(server, ADMIN, 'POST', devices, { name: 'van-9', stream: ['a'] });
  t.like(typo, { status: 400, json: { __type: 'ValidationException' } });
  t.regex(String(typo.json?.['message']), /stream/);

  t.is((await rivuletRequest(server, ADMIN, 'POST', devices, { name: 'van-9' })).status, 201);
  t.like(await rivuletRequest(server, ADMIN, 'POST', devices, { name: 'van-9' }), { status: 409, json: { __type: 'ResourceInUseException' } });
  t.like(await rivuletRequest(server, ADMIN, 'DELETE', `${devices}/nobody`), { status: 404, json: { __type: 'ResourceNotFoundException' } });
  t.like(await rivuletRequest(server, ADMIN, 'PUT', `${devices}/nobody/config`, { deviceId: 'nobody' }), { status: 404, json: { __type: 'ResourceNotFoundException' } });
  t.like(await rivuletRequest(server, ADMIN, 'GET', `${devices}/van-9/config`), { status: 404, json: { __type: 'ResourceNotFoundException' } });
  t.like(await rivuletRequest(server, ADMIN, 'PUT', `${devices}/van-9/config`, '[1,2]'), { status: 400, json: { __type: 'SerializationException' } });
  t.like(await rivuletRequest(server, ADMIN, 'PUT', `${devices}/van-9/config`, { deviceId: 'van-8' }), { status: 400, json: { __type: 'ValidationException' } });
  t.like(await rivuletRequest(server, ADMIN, 'PUT', `${devices}/van-9/config`, { deviceId: 'van-9' }), { status: 200, json: { name: 'van-9', version: 1 } });
  t.like(await rivuletRequest(server, ADMIN, 'GET', `${devices}/van-9/config`), { status: 200, json: { version: 1, document: { deviceId: 'van-9' } } });

  t.like(await rivuletRequest(server, undefined, 'GET', devices), { status: 403, json: { __type: 'MissingAuthenticationTokenException' } });
  const keys = await addDevice(server, 'van-10', []);
  t.like(await rivuletRequest(server, keys, 'GET', devices), { status: 403, json: { __type: 'AccessDeniedException' } });

  // Through the CLI, the server's error reaches the user in one line and a failing exit code.
  const duplicate = await devicesCli(server, ['add', 'van-9']);
  t.is(duplicate.code, 1);
  t.regex(duplicate.stderr, /ResourceInUseException: Device van-9 already exists/);
});

test('device keys and pushed configs survive a restart: the keys still sign, the config is retained on MQTT again', async (t) => {
  const first = await startFleetServer();
  t.teardown(() => first.process.kill().then(() => {}));
  const keys = await addDevice(first, 'van-11', ['--stream', 'van-1-data']);
  t.like(await rivuletRequest(first, ADMIN, 'PUT', '/admin/v1/devices/van-11/config', { deviceId: 'van-11', logLevel: 'warn' }), { status: 200, json: { version: 1 } });
  t.deepEqual(await first.process.kill(), { code: 0, signal: null });

  const again = await startFleetServer([], first.dir);
  t.teardown(() => again.process.kill().then(() => {}));
  t.is((await heartbeat(again, keys, { deviceId: 'van-11', config: { version: 1, appliedAt: 1 } })).status, 204);
  const client = await connectMqtt(again, keys);
  t.teardown(() => client.endAsync(true));
  const message = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString('utf8'))));
  await client.subscribeAsync('rivulet/van-11/config', { qos: 1 });
  t.deepEqual(JSON.parse(await within(message, 15_000, 'no retained config after the restart')), { version: 1, document: { deviceId: 'van-11', logLevel: 'warn' } });
  t.like(await rivuletRequest(again, ADMIN, 'PUT', '/admin/v1/devices/van-11/config', { deviceId: 'van-11' }), { status: 200, json: { version: 2 } });
  for (const file of ['device-keys.json', 'desired-configs.json']) t.is((await stat(join(first.dir, 'data', file))).mode & 0o777, 0o600, file);
});
