// The agent as a real process, started as a device starts it (`rivulet-agent`, the bin whose #!
// line carries its V8 flags): the DSMR simulator on a real pty feeding the agent into a server,
// read back with GetRecords; `rivulet agent status`; and kill -9 of the agent in the middle of
// draining a backlog → restart → nothing lost, nothing duplicated in the stream.

import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordBuffer } from '../../agent/buffer/index.js';
import type { AgentStatus } from '../../agent/status.js';
import { startServer, type RunningServer } from '../../ingest-server/server.js';
import { runCli, spawnCli, within } from '../helpers/server-process.js';
import { assertExactlyOnceInOrder, client, createStream, readStream, tempDir, waitFor } from './helpers.js';

const READY = /^Rivulet agent \S+ running: .* status on (http:\/\/\S+)$/m;

async function server(t: ExecutionContext, dataDir: string): Promise<RunningServer> {
  const running = await startServer({ dataDir, port: 0 });
  t.teardown(() => running.close().catch(() => {}));
  return running;
}

/** Starts `rivulet-agent --config FILE`; resolves with its status URL once it printed the ready line. */
async function startAgent(t: ExecutionContext, configFile: string) {
  const agent = spawnCli(['--config', configFile], { bin: 'rivulet-agent' });
  t.teardown(() => {
    agent.child.kill('SIGKILL');
  });
  await within(
    waitFor(() => READY.test(agent.stdout()) || agent.child.exitCode !== null, 15_000, 'the agent ready line'),
    16_000,
    'agent start',
  );
  const match = READY.exec(agent.stdout());
  if (!match) throw new Error(`the agent did not start: ${agent.stderr()}`);
  return { ...agent, statusUrl: match[1]! };
}

async function status(url: string): Promise<AgentStatus> {
  const response = await fetch(`${url}/status`);
  return (await response.json()) as AgentStatus;
}

test('DSMR simulator on a pty → rivulet-agent → server: readings readable with GetRecords; status; SIGTERM stops cleanly', async (t) => {
  const dir = await tempDir(t);
  const running = await server(t, join(dir, 'server'));
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 1);

  const pty = join(dir, 'p1');
  const sim = spawnCli(['sim', 'dsmr', '--pty', pty, '--rate', '20']);
  t.teardown(() => {
    sim.child.kill('SIGTERM');
  });
  await waitFor(() => sim.stdout().includes('Simulated dsmr device'), 10_000, 'the simulator');

  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify({ deviceId: 'rig-1', server: { url: running.url }, dataDir: join(dir, 'agent'), status: { port: 0 }, sources: [{ type: 'dsmr', port: pty, stream: 'meters' }] }));
  const agent = await startAgent(t, configFile);
  // The #! line's flags reached node: this is the small-footprint runtime the benchmark measures.
  t.regex(await readFile(`/proc/${agent.child.pid}/cmdline`, 'utf8'), /\0--lite-mode\0.*--max-semi-space-size=1\0/s);

  let records: Awaited<ReturnType<typeof readStream<Record<string, any>>>> = [];
  await waitFor(async () => (records = await readStream<Record<string, any>>(kinesis, 'meters')).length >= 20, 20_000, '20 records in the stream');
  const first = records[0]!;
  t.is(first.partitionKey, 'rig-1');
  t.like(first.value, { deviceId: 'rig-1', source: 'dsmr', type: 'dsmr' });
  t.regex(first.value['timestamp'], /^\d{4}-\d\d-\d\dT/);
  t.is(typeof first.value['values']['energyDeliveredTariff1Kwh'], 'number');
  t.is(typeof first.value['values']['voltageL1V'], 'number');

  const shown = await status(agent.statusUrl);
  t.is(shown.deviceId, 'rig-1');
  t.regex(shown.producerId!, /^rig-1\/[0-9a-f]{16}$/);
  t.is(shown.sources[0]!.transport, 'open');
  t.true(shown.sources[0]!.readings >= 20);
  t.true(shown.upload!.uploadedRecords >= 20);
  const printed = await runCli(['agent', 'status', '--url', agent.statusUrl]);
  t.is(printed.code, 0, printed.stderr);
  t.regex(printed.stdout, /^agent rig-1 \(producer rig-1\/[0-9a-f]+\)/);
  t.regex(printed.stdout, /\ndsmr +dsmr +\S+ \(open\) +meters +\d+/);
  const metrics = await (await fetch(`${agent.statusUrl}/metrics`)).text();
  t.regex(metrics, /^rivulet_agent_uploaded_records_total\{source="dsmr",stream="meters"\} \d+$/m);

  agent.child.kill('SIGTERM');
  const exit = await within(agent.exited, 10_000, 'the agent to stop');
  t.deepEqual(exit, { code: 0, signal: null }, agent.stderr());
  t.regex(agent.stderr(), /"msg":"agent stopped"/);
  // Every line on stderr is a JSON log line.
  for (const line of agent.stderr().trim().split('\n')) t.notThrows(() => JSON.parse(line), line);
});

test('kill -9 of the agent mid-drain → restart → nothing lost, nothing duplicated, in order per key', async (t) => {
  const dir = await tempDir(t);
  const running = await server(t, join(dir, 'server'));
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 2);

  // A backlog as an agent that was offline for a while would have: 20,000 readings over 8 keys.
  const dataDir = join(dir, 'agent');
  const buffer = await RecordBuffer.open({ path: join(dataDir, 'buffer.db'), maxBytes: 64 * 1024 * 1024, sources: [{ name: 'line', stream: 'meters', priority: 0, onFull: 'drop-oldest' }] });
  const ids: number[] = [];
  for (let start = 1; start <= 20_000; start += 1000) {
    const records = Array.from({ length: 1000 }, (_, index) => {
      const id = start + index;
      ids.push(id);
      return { partitionKey: `k${id % 8}`, data: Buffer.from(JSON.stringify({ id })), timestamp: Date.now() };
    });
    await buffer.append('line', records);
  }
  await buffer.close();

  const configFile = join(dir, 'agent.json');
  // The port does not exist: the source just stays closed (its transport keeps retrying).
  await writeFile(
    configFile,
    JSON.stringify({ deviceId: 'rig-1', server: { url: running.url }, dataDir, status: { port: 0 }, upload: { batchRecords: 100 }, sources: [{ type: 'line', port: join(dir, 'no-such-port'), stream: 'meters' }] }),
  );
  const first = await startAgent(t, configFile);
  await waitFor(async () => (await status(first.statusUrl)).upload!.uploadedRecords >= 3000, 30_000, '3000 records uploaded');
  first.child.kill('SIGKILL');
  const killed = await first.exited;
  t.is(killed.signal, 'SIGKILL');
  const partial = await readStream<{ id: number }>(kinesis, 'meters');
  t.true(partial.length >= 3000 && partial.length < 20_000, `killed mid-drain: ${partial.length} records in the stream`);

  const second = await startAgent(t, configFile);
  await waitFor(async () => (await status(second.statusUrl)).buffer!.backlogRecords === 0, 60_000, 'the backlog to drain');
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(kinesis, 'meters'), ids);
  second.child.kill('SIGTERM');
  t.is((await second.exited).code, 0);
});

test('a bad config: one clear line naming the field, exit code 2', async (t) => {
  const dir = await tempDir(t);
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify({ deviceId: 'rig-1', server: { url: 'http://127.0.0.1:4567' }, dataDir: dir, sources: [{ type: 'dsmr', port: 3, stream: 'meters' }] }));
  const result = await runCli(['agent', '--config', configFile]);
  t.is(result.code, 2);
  t.is(result.stderr, `rivulet: agent config ${configFile}: sources[0].port must be a string\n`);
  const missing = await runCli(['agent']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /--config <file> is required/);
  const noAgent = await runCli(['agent', 'status', '--url', 'http://127.0.0.1:1']);
  t.is(noAgent.code, 3);
  t.regex(noAgent.stderr, /^rivulet: no agent status at http:\/\/127\.0\.0\.1:1/);
  // The device's entry point takes the same command line and reports under its own name.
  const device = await runCli(['--config', configFile], 15_000, 'rivulet-agent');
  t.is(device.code, 2);
  t.is(device.stderr, `rivulet-agent: agent config ${configFile}: sources[0].port must be a string\n`);
  const deviceStatus = await runCli(['status', '--url', 'http://127.0.0.1:1'], 15_000, 'rivulet-agent');
  t.is(deviceStatus.code, 3);
  t.regex(deviceStatus.stderr, /^rivulet-agent: no agent status at http:\/\/127\.0\.0\.1:1/);
});
