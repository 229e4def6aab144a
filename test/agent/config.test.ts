// The agent's configuration: the smallest config works with every default, and mistakes are
// reported with the file and the field.

import test from 'ava';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentConfigError, DEFAULTS, loadAgentConfig, parseAgentConfig } from '../../agent/config.js';
import { tempDir } from './helpers.js';

const SMALLEST = {
  deviceId: 'rig-1',
  server: { url: 'http://127.0.0.1:4567' },
  dataDir: '/var/lib/rivulet',
  sources: [{ type: 'dsmr', port: '/dev/ttyUSB0', stream: 'meters' }],
};

test('the smallest config gets a default for everything', (t) => {
  const config = parseAgentConfig(SMALLEST, '/x.json');
  t.is(config.deviceId, 'rig-1');
  t.deepEqual(config.server, { url: 'http://127.0.0.1:4567', region: 'us-east-1', transport: 'http' });
  t.is(config.dataDir, '/var/lib/rivulet');
  t.deepEqual(config.buffer, { maxBytes: 256 * 1024 * 1024, maxAgeMs: 7 * 24 * 3600 * 1000, synchronous: 'FULL', commitIntervalMs: 1000 });
  t.deepEqual(config.upload, { batchRecords: 500, intervalMs: DEFAULTS.uploadIntervalMs, maxBackoffMs: DEFAULTS.maxBackoffMs });
  t.deepEqual(config.status, { port: 4500, host: '127.0.0.1' });
  t.deepEqual(config.sources, [
    {
      type: 'dsmr',
      name: 'dsmr',
      port: '/dev/ttyUSB0',
      stream: 'meters',
      partitionKey: 'rig-1',
      serial: { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 },
      sampling: { minIntervalMs: 0 },
      priority: 0,
      onFull: 'drop-oldest',
      attachGps: false,
      dsmr: { version: '5' },
    },
  ]);
});

test('per-type serial defaults and type specifics', (t) => {
  const config = parseAgentConfig(
    {
      ...SMALLEST,
      sources: [
        { type: 'dsmr', port: '/dev/a', stream: 's', version: '2.2' },
        { type: 'iec62056', port: '/dev/b', stream: 's' },
        { type: 'modbus', port: '/dev/c', stream: 's', meter: 'sdm630', address: 3 },
        { type: 'line', port: '/dev/d', stream: 's', format: 'csv', columns: ['t', 'h'] },
        { type: 'gps', port: '/dev/e', stream: 'gps' },
        { type: 'line', port: '/dev/f', stream: 's', attachGps: true, partitionKey: 'k', priority: 5, onFull: 'reject-new', sampling: { minIntervalMs: 1000 } },
      ],
    },
    '/x.json',
  );
  const [dsmr, iec, modbus, line, gps, line2] = config.sources;
  t.deepEqual(dsmr!.serial, { baudRate: 9600, dataBits: 7, parity: 'even', stopBits: 1 });
  t.deepEqual(iec!.serial, { baudRate: 300, dataBits: 7, parity: 'even', stopBits: 1 });
  t.deepEqual(iec!.iec62056, { address: '', intervalMs: 60_000 });
  t.deepEqual(modbus!.modbus, { meter: 'sdm630', address: 3, intervalMs: 5000 });
  t.deepEqual(line!.line, { format: { kind: 'csv', columns: ['t', 'h'] } });
  t.is(gps!.name, 'gps');
  t.is(line2!.name, 'line-2');
  t.like(line2, { attachGps: true, partitionKey: 'k', priority: 5, onFull: 'reject-new', sampling: { minIntervalMs: 1000 }, line: { format: { kind: 'json' } } });
});

const MISTAKES: [string, (config: any) => void, string][] = [
  ['port not a string', (c) => (c.sources[0].port = 7), 'sources[0].port must be a string'],
  ['port missing', (c) => delete c.sources[0].port, 'sources[0].port is required'],
  ['deviceId missing', (c) => delete c.deviceId, 'deviceId is required'],
  ['server missing', (c) => delete c.server, 'server must be an object'],
  ['bad url', (c) => (c.server.url = 'ftp://x'), 'server.url must be an http:// or https:// URL'],
  ['half the keys', (c) => (c.server.accessKeyId = 'AKID'), 'server.accessKeyId and server.secretAccessKey go together'],
  ['unknown type', (c) => (c.sources[0].type = 'zigbee'), 'sources[0].type must be one of "gps", "dsmr", "modbus", "iec62056", "line", got "zigbee"'],
  ['a typo', (c) => (c.sources[0].partitonKey = 'x'), 'sources[0].partitonKey is not a known field for type "dsmr"'],
  ['a field of another type', (c) => (c.sources[0].meter = 'sdm120'), 'sources[0].meter is not a known field for type "dsmr"'],
  ['no sources', (c) => (c.sources = []), 'sources must be a non-empty array'],
  ['bad baud rate', (c) => (c.sources[0].baudRate = 'fast'), 'sources[0].baudRate must be an integer from 50 to 4000000, got "fast"'],
  ['bad parity', (c) => (c.sources[0].parity = 'E'), 'sources[0].parity must be one of "none", "even", "odd", "mark", "space", got "E"'],
  ['bad onFull', (c) => (c.sources[0].onFull = 'block'), 'sources[0].onFull must be one of "drop-oldest", "reject-new"'],
  ['bad sampling', (c) => (c.sources[0].sampling = { minIntervalMs: -1 }), 'sources[0].sampling.minIntervalMs must be an integer from 0'],
  ['attachGps without gps', (c) => (c.sources[0].attachGps = true), 'sources[0].attachGps needs a source of type "gps"'],
  ['attachGps not a boolean', (c) => (c.sources[0].attachGps = 'yes'), 'sources[0].attachGps must be true or false'],
  ['buffer too small', (c) => (c.buffer = { maxBytes: 10 }), 'buffer.maxBytes must be an integer from 65536'],
  ['batch too big', (c) => (c.upload = { batchRecords: 501 }), 'upload.batchRecords must be an integer from 1 to 500'],
  ['status port', (c) => (c.status = { port: 70000 }), 'status.port must be an integer from 0 to 65535'],
  ['duplicate names', (c) => c.sources.push({ ...c.sources[0], name: 'dsmr' }), 'sources[1].name "dsmr" is used by sources[0]'],
  ['csv without columns', (c) => (c.sources[0] = { type: 'line', port: '/dev/x', stream: 's', format: 'csv' }), 'sources[0].columns must be given for format "csv"'],
  ['modbus neither', (c) => (c.sources[0] = { type: 'modbus', port: '/dev/x', stream: 's' }), 'sources[0] needs either meter ("sdm120" or "sdm630") or registers (a register map), not neither'],
  ['bad register map', (c) => (c.sources[0] = { type: 'modbus', port: '/dev/x', stream: 's', registers: [{ name: 'v', register: 0, type: 'float', function: 4 }] }), 'sources[0].registers[0].type must be one of'],
  ['not an object', (c) => (c.sources[0] = 'dsmr'), 'sources[0] must be an object'],
  ['bad transport', (c) => (c.server.transport = 'amqp'), 'server.transport must be one of "http", "mqtt", got "amqp"'],
  ['mqtt without mqttUrl', (c) => (c.server.transport = 'mqtt'), 'server.mqttUrl is required when server.transport is "mqtt"'],
  ['mqttUrl without mqtt', (c) => (c.server.mqttUrl = 'mqtt://127.0.0.1:1883'), 'server.mqttUrl applies only when server.transport is "mqtt"'],
  ['bad mqttUrl', (c) => Object.assign(c.server, { transport: 'mqtt', mqttUrl: 'http://127.0.0.1:1883' }), 'server.mqttUrl must be an mqtt:// or mqtts:// URL, got "http://127.0.0.1:1883"'],
  ['mqtt with a / in a partition key', (c) => (Object.assign(c.server, { transport: 'mqtt', mqttUrl: 'mqtt://h:1883' }), (c.sources[0].partitionKey = 'site/1')), 'sources[0].partitionKey must not contain \'/\', \'+\' or \'#\' when server.transport is "mqtt"'],
];

test('server.transport "mqtt" with server.mqttUrl selects the MQTT uploader', (t) => {
  const config = parseAgentConfig({ ...SMALLEST, server: { url: 'http://127.0.0.1:4567', transport: 'mqtt', mqttUrl: 'mqtts://rivulet.example:8883' } }, '/x.json');
  t.deepEqual(config.server, { url: 'http://127.0.0.1:4567', region: 'us-east-1', transport: 'mqtt', mqttUrl: 'mqtts://rivulet.example:8883' });
});

for (const [title, mutate, message] of MISTAKES) {
  test(`names the field: ${title}`, (t) => {
    const config = structuredClone(SMALLEST) as any;
    mutate(config);
    const error = t.throws(() => parseAgentConfig(config, '/x.json'), { instanceOf: AgentConfigError });
    t.true(error!.message.startsWith(`agent config /x.json: ${message}`), error!.message);
  });
}

test('loads a file: relative paths from the file, credentials from a root-only file', async (t) => {
  const dir = await tempDir(t);
  const keys = join(dir, 'keys.json');
  await writeFile(keys, JSON.stringify({ accessKeyId: 'AKIDRIG1', secretAccessKey: 's3cret' }));
  await chmod(keys, 0o644);
  const file = join(dir, 'agent.json');
  await writeFile(file, JSON.stringify({ ...SMALLEST, dataDir: 'data', server: { url: 'http://127.0.0.1:4567', credentialsFile: 'keys.json' } }));
  const open = await t.throwsAsync(loadAgentConfig(file), { instanceOf: AgentConfigError });
  t.regex(open!.message, /is readable by others \(mode 644\); chmod 600 it/);
  await chmod(keys, 0o600);
  const config = await loadAgentConfig(file);
  t.is(config.dataDir, join(dir, 'data'));
  t.like(config.server, { accessKeyId: 'AKIDRIG1', secretAccessKey: 's3cret' });

  await writeFile(file, '{"deviceId": ');
  t.regex((await t.throwsAsync(loadAgentConfig(file)))!.message, /^agent config .*agent\.json: is not valid JSON/);
  t.regex((await t.throwsAsync(loadAgentConfig(join(dir, 'missing.json'))))!.message, /^agent config .*missing\.json: cannot be read/);
});
