// The broker against MQTT implementations other than mqtt.js, from Debian's mosquitto packages:
// the `mosquitto_pub` client (libmosquitto, package mosquitto-clients) and a `mosquitto` broker
// bridging a topic tree to Rivulet, the way a site gateway would forward its local traffic.

import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { TEST_KEYS, byPartitionKey, eventually, recordsOf, startMqttHarness } from './helpers.js';
import { freePort } from '../../bench/lib/processes.js';

const run = promisify(execFile);
const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO = '/usr/sbin/mosquitto';

test('mosquitto_pub -q 1 publishes are stored, with its credentials', async (t) => {
  t.true(existsSync(MOSQUITTO_PUB), `${MOSQUITTO_PUB} is missing: install the Debian package mosquitto-clients (scripts/setup.sh should list it)`);
  if (!existsSync(MOSQUITTO_PUB)) return;
  const { server, kinesis } = await startMqttHarness(t, { authenticated: true });
  const base = ['-h', '127.0.0.1', '-p', String(server.mqttPort), '-V', 'mqttv311', '-q', '1', '-u', TEST_KEYS.accessKeyId, '-P', TEST_KEYS.secretAccessKey];
  for (let i = 0; i < 3; i++) await run(MOSQUITTO_PUB, [...base, '-t', 'meters/pub-1/reading', '-m', `from mosquitto_pub ${i}`]);
  // Several messages on one connection: one per line of stdin.
  const lines = spawn(MOSQUITTO_PUB, [...base, '-t', 'meters/pub-2/reading', '-l'], { stdio: ['pipe', 'ignore', 'pipe'] });
  lines.stdin.end(Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n');
  const code = await new Promise((resolve) => lines.once('close', resolve));
  t.is(code, 0);
  const stored = byPartitionKey(await recordsOf(kinesis, 'meters'));
  t.deepEqual(stored.get('pub-1'), ['from mosquitto_pub 0', 'from mosquitto_pub 1', 'from mosquitto_pub 2']);
  t.deepEqual(stored.get('pub-2'), Array.from({ length: 20 }, (_, i) => `line ${i}`));

  const refused = await run(MOSQUITTO_PUB, [...base.slice(0, -2), '-P', 'wrong', '-t', 'meters/pub-3/reading', '-m', 'x']).catch((error: { code: number; stderr: string }) => error);
  t.not((refused as { code?: number }).code ?? 0, 0, 'a wrong secret is refused');
});

test('a mosquitto bridge forwards a topic tree into a stream', async (t) => {
  const { server, kinesis, dir } = await startMqttHarness(t, { authenticated: true });
  const localPort = await freePort();
  const config = join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    [
      'allow_anonymous true',
      `listener ${localPort} 127.0.0.1`,
      'persistence false',
      'log_dest stderr',
      'connection rivulet',
      `address 127.0.0.1:${server.mqttPort}`,
      'bridge_protocol_version mqttv311',
      // The private-bridge flag is a mosquitto extension other brokers refuse.
      'try_private false',
      'cleansession true',
      'remote_clientid site-gateway',
      `remote_username ${TEST_KEYS.accessKeyId}`,
      `remote_password ${TEST_KEYS.secretAccessKey}`,
      'notifications true',
      'notifications_local_only true',
      'restart_timeout 1',
      'topic meters/# out 1',
      '',
    ].join('\n'),
  );
  const broker = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  broker.stderr.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const exited = new Promise((resolve) => broker.once('close', resolve));
  t.teardown(async () => {
    broker.kill('SIGTERM');
    await exited;
  });

  let local: mqtt.MqttClient | undefined;
  t.true(
    await eventually(async () => {
      local = await mqtt.connectAsync(`mqtt://127.0.0.1:${localPort}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 500 }, false).catch(() => undefined);
      return local !== undefined;
    }, 5000),
    `mosquitto did not start: ${log}`,
  );
  t.teardown(() => local!.endAsync(true));
  // The bridge reports its state (named after its client id) on the local broker only.
  const bridged = new Promise<boolean>((resolve) => {
    local!.on('message', (_topic, payload) => payload.toString() === '1' && resolve(true));
    setTimeout(() => resolve(false), 5000).unref();
  });
  await local!.subscribeAsync('$SYS/broker/connection/site-gateway/state');
  t.true(await bridged, `the bridge did not connect: ${log}`);

  for (let i = 0; i < 25; i++) await local!.publishAsync(`meters/site-${i % 3}/reading`, `bridged ${i}`, { qos: 1 });
  t.true(await eventually(async () => (await recordsOf(kinesis, 'meters')).length === 25, 5000), log);
  const stored = byPartitionKey(await recordsOf(kinesis, 'meters'));
  for (let site = 0; site < 3; site++) {
    const expected = Array.from({ length: 25 }, (_, i) => i).filter((i) => i % 3 === site).map((i) => `bridged ${i}`);
    t.deepEqual(stored.get(`site-${site}`), expected);
  }
});

