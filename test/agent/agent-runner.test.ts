// The Agent in-process with GPS and a line sensor simulated on real ptys: records carry the latest
// fix (attachGps), sampling thins a source, and stop() loses nothing (every accepted record is in
// the stream or still in the buffer).

import test from 'ava';
import { join } from 'node:path';
import { Agent, BUFFER_FILE, type AgentRecord } from '../../agent/agent.js';
import { RecordBuffer } from '../../agent/buffer/index.js';
import { parseAgentConfig } from '../../agent/config.js';
import { formatStatus } from '../../cli/agent-command.js';
import { Iec62056Simulator } from '../../hardware/iec62056/simulator.js';
import { LineSimulator } from '../../hardware/line/simulator.js';
import { ModbusSimulator } from '../../hardware/modbus/simulator.js';
import { NmeaSimulator } from '../../hardware/nmea/simulator.js';
import { openPtyPair } from '../../hardware/serial/pty.js';
import { startServer } from '../../ingest-server/server.js';
import { client, createStream, readStream, tempDir, waitFor } from './helpers.js';

test('gps + line sensor on ptys: latest fix attached, sampling applied, stop() loses nothing', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer({ dataDir: join(dir, 'server'), port: 0 });
  t.teardown(() => server.close());
  const kinesis = client(t, server.url);
  await createStream(kinesis, 'gps', 1);
  await createStream(kinesis, 'sensors', 1);

  const gpsPty = await openPtyPair({ devicePath: join(dir, 'gps'), simulatorPath: join(dir, 'gps.sim') });
  const linePty = await openPtyPair({ devicePath: join(dir, 'line'), simulatorPath: join(dir, 'line.sim') });
  t.teardown(() => Promise.all([gpsPty.close(), linePty.close()]).then(() => {}));
  const gps = new NmeaSimulator({ path: gpsPty.simulatorPath, rateHz: 5 });
  const line = new LineSimulator({ path: linePty.simulatorPath, rateHz: 40 });
  await gps.start();
  await line.start();
  t.teardown(() => Promise.all([gps.stop(), line.stop()]).then(() => {}));

  const config = parseAgentConfig(
    {
      deviceId: 'rig-7',
      server: { url: server.url },
      dataDir: join(dir, 'agent'),
      status: { port: 0 },
      upload: { intervalMs: 50 },
      sources: [
        { type: 'gps', port: gpsPty.devicePath, stream: 'gps' },
        { type: 'line', name: 'climate', port: linePty.devicePath, stream: 'sensors', partitionKey: 'rig-7/climate', attachGps: true, sampling: { minIntervalMs: 100 } },
      ],
    },
    join(dir, 'agent.json'),
  );
  const agent = new Agent({ config });
  await agent.start();
  let stopped = false;
  t.teardown(() => (stopped ? undefined : agent.stop()));

  await waitFor(async () => {
    const status = await agent.status();
    return status.sources.every((source) => source.uploaded >= 8);
  }, 20_000, 'records from both sources uploaded');
  const status = await agent.status();
  const climate = status.sources.find((source) => source.name === 'climate')!;
  t.true(climate.sampledOut > 0, 'sampling skipped some readings');
  t.true(climate.readings > climate.accepted);
  t.regex(formatStatus(status, Date.now()), /\nclimate +line +\S+ \(open\) +sensors/);

  await agent.stop();
  stopped = true;

  const sensors = await readStream<AgentRecord>(kinesis, 'sensors');
  const fixes = await readStream<AgentRecord>(kinesis, 'gps');
  t.true(fixes.length > 0);
  t.like(fixes[0]!.value, { deviceId: 'rig-7', source: 'gps', type: 'gps' });
  t.is(fixes[0]!.partitionKey, 'rig-7');
  t.is(typeof fixes[0]!.value.values['lat'], 'number');
  const withFix = sensors.filter((record) => record.value.gps !== undefined);
  t.true(withFix.length > 0, 'line records carry the latest fix');
  t.is(typeof withFix[0]!.value.gps!.lat, 'number');
  t.is(sensors[0]!.partitionKey, 'rig-7/climate');
  const times = sensors.map((record) => Date.parse(record.value.timestamp));
  t.true(times.every((time, index) => index === 0 || time - times[index - 1]! >= 100), 'at most one record per 100 ms');

  // Nothing lost: every record the buffer accepted is in the stream or still buffered.
  const buffer = await RecordBuffer.open({
    path: join(config.dataDir, BUFFER_FILE),
    maxBytes: config.buffer.maxBytes,
    sources: config.sources.map((source) => ({ name: source.name, stream: source.stream, priority: source.priority, onFull: source.onFull })),
  });
  const stats = await buffer.stats();
  await buffer.close();
  const byName = new Map(stats.sources.map((source) => [source.name, source]));
  t.is(byName.get('climate')!.accepted, sensors.length + byName.get('climate')!.backlogRecords);
  t.is(byName.get('gps')!.accepted, fixes.length + byName.get('gps')!.backlogRecords);
});

test('modbus (SDM120) and IEC 62056-21 meters on ptys: polled readings become records with numeric values', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer({ dataDir: join(dir, 'server'), port: 0 });
  t.teardown(() => server.close());
  const kinesis = client(t, server.url);
  await createStream(kinesis, 'meters', 1);

  const modbusPty = await openPtyPair({ devicePath: join(dir, 'modbus'), simulatorPath: join(dir, 'modbus.sim') });
  const iecPty = await openPtyPair({ devicePath: join(dir, 'iec'), simulatorPath: join(dir, 'iec.sim') });
  t.teardown(() => Promise.all([modbusPty.close(), iecPty.close()]).then(() => {}));
  const modbus = new ModbusSimulator({ path: modbusPty.simulatorPath, meter: 'sdm120', address: 7 });
  const iec = new Iec62056Simulator({ path: iecPty.simulatorPath });
  await modbus.start();
  await iec.start();
  t.teardown(() => Promise.all([modbus.stop(), iec.stop()]).then(() => {}));

  const config = parseAgentConfig(
    {
      deviceId: 'rig-9',
      server: { url: server.url },
      dataDir: join(dir, 'agent'),
      status: { port: 0 },
      upload: { intervalMs: 50 },
      sources: [
        { type: 'modbus', port: modbusPty.devicePath, stream: 'meters', meter: 'sdm120', address: 7, intervalMs: 200, baudRate: 2400 },
        { type: 'iec62056', port: iecPty.devicePath, stream: 'meters', intervalMs: 1000 },
      ],
    },
    join(dir, 'agent.json'),
  );
  const agent = new Agent({ config });
  await agent.start();
  t.teardown(() => agent.stop());
  await waitFor(async () => (await agent.status()).sources.every((source) => source.uploaded >= 2), 20_000, 'readings from both meters uploaded');
  await agent.stop();

  const records = await readStream<AgentRecord>(kinesis, 'meters');
  const fromModbus = records.find((record) => record.value.source === 'modbus')!;
  const fromIec = records.find((record) => record.value.source === 'iec62056')!;
  t.like(fromModbus.value, { deviceId: 'rig-9', type: 'modbus' });
  t.like(fromIec.value, { deviceId: 'rig-9', type: 'iec62056' });
  t.true(Object.values(fromModbus.value.values).some((value) => typeof value === 'number'), JSON.stringify(fromModbus.value.values));
  t.true(Object.values(fromIec.value.values).some((value) => typeof value === 'number'), JSON.stringify(fromIec.value.values));
});
