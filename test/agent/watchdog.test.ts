// The compiled agent (dist/cli/rivulet-agent.js, run through its #! line) under a stand-in for
// systemd (test/helpers/notify-supervisor.ts: PID 1 here is not systemd, so `systemd-run --user`
// cannot be used): it notifies READY=1 once running, pets the watchdog while healthy, is restarted
// when it stops petting (SIGSTOP, or a source's port gone), and the new process uploads what the
// stopped one had buffered.

import test from 'ava';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentRecord } from '../../agent/agent.js';
import { LineSimulator } from '../../hardware/line/simulator.js';
import { openPtyPair, type PtyPair } from '../../hardware/serial/pty.js';
import { startServer } from '../../ingest-server/server.js';
import { NotifySupervisor } from '../helpers/notify-supervisor.js';
import { AGENT_BIN_PATH, REPO_ROOT } from '../helpers/server-process.js';
import { client, createStream, readStream, tempDir, waitFor } from './helpers.js';
import { getAgentStatus } from '../../bench/lib/agent-status.js';
import { freePort } from '../../bench/lib/processes.js';

const WATCHDOG_USEC = 3_000_000;

/** The status URL the current process printed. */
function statusUrlOf(supervisor: NotifySupervisor): string | undefined {
  return /status on (http:\S+)/.exec(supervisor.current.output())?.[1];
}

/** A line sensor on a pty and an agent config reading it; the server at `serverUrl` (maybe not up yet). */
async function sensorAgent(t: import('ava').ExecutionContext, dir: string, serverUrl: string): Promise<{ pty: PtyPair; simulator: LineSimulator; configFile: string }> {
  const pty = await openPtyPair({ devicePath: join(dir, 'climate'), simulatorPath: join(dir, 'climate.sim') });
  t.teardown(() => pty.close());
  const simulator = new LineSimulator({ path: pty.simulatorPath, rateHz: 20 });
  await simulator.start();
  t.teardown(() => simulator.stop());
  const configFile = join(dir, 'agent.json');
  const config = {
    deviceId: 'pi-watchdog',
    server: { url: serverUrl },
    dataDir: join(dir, 'data'),
    status: { port: 0 },
    heartbeat: { intervalMs: 0 },
    buffer: { commitIntervalMs: 200 },
    upload: { intervalMs: 50, maxBackoffMs: 500 },
    sources: [{ type: 'line', name: 'climate', port: pty.devicePath, stream: 'sensors' }],
  };
  await writeFile(configFile, JSON.stringify(config));
  return { pty, simulator, configFile };
}

test('READY, regular pets; SIGSTOP → no pets → restarted → READY again, and what it had buffered reaches the server', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const port = await freePort();
  // No server yet: every reading stays in the buffer of the agent that will be stopped.
  const { simulator, configFile } = await sensorAgent(t, dir, `http://127.0.0.1:${port}`);
  const supervisor = await NotifySupervisor.start({ command: AGENT_BIN_PATH, args: ['--config', configFile], watchdogUsec: WATCHDOG_USEC, cwd: REPO_ROOT, abortTimeoutMs: 2000 });
  t.teardown(() => supervisor.stop());

  await supervisor.waitFor(() => supervisor.sent('READY').length === 1, 30_000, 'READY=1');
  t.regex(supervisor.sent('READY')[0]!.fields['STATUS'] ?? '', /^running: 1 source/);
  await supervisor.waitFor(() => supervisor.sent('WATCHDOG').length >= 3, 30_000, 'three pets');
  const pets = supervisor.sent('WATCHDOG').map((message) => message.at);
  const gaps = pets.slice(1).map((at, index) => at - pets[index]!);
  t.true(gaps.every((gap) => gap < WATCHDOG_USEC / 1000), `pets within the watchdog interval: ${gaps.join(', ')} ms`);

  const firstUrl = statusUrlOf(supervisor)!;
  await waitFor(async () => ((await getAgentStatus(firstUrl)).buffer?.backlogRecords ?? 0) >= 20, 30_000, '20 readings buffered');
  const first = supervisor.current;
  const buffered = (await getAgentStatus(firstUrl)).buffer!.backlogRecords;
  const stoppedAt = Date.now();
  process.kill(first.pid, 'SIGSTOP');

  await supervisor.waitFor(() => supervisor.current.number === 2 && supervisor.sent('READY', 2).length === 1, 60_000, 'the restarted agent to be READY');
  t.regex(supervisor.restarts[0]!, /^no WATCHDOG=1 for \d+ ms$/);
  t.log(`SIGSTOP → READY of the new agent: ${supervisor.sent('READY', 2)[0]!.at - stoppedAt} ms (watchdog ${WATCHDOG_USEC / 1000} ms, abort 2000 ms, restart 500 ms)`);
  t.is((await first.exited).signal, 'SIGKILL', 'a stopped process ignores SIGABRT until SIGKILL');
  t.is(supervisor.sent('WATCHDOG', 1).filter((message) => message.at > stoppedAt + 100).length, 0, 'no pets from the stopped agent');
  await supervisor.waitFor(() => supervisor.sent('WATCHDOG', 2).length >= 1, 30_000, 'the restarted agent petting');

  const server = await startServer({ dataDir: join(dir, 'server'), port });
  t.teardown(() => server.close());
  const kinesis = client(t, server.url);
  await createStream(kinesis, 'sensors', 1);
  await simulator.stop();
  const secondUrl = statusUrlOf(supervisor)!;
  await waitFor(async () => {
    const status = await getAgentStatus(secondUrl);
    return status.buffer?.backlogRecords === 0 && (status.upload?.uploadedRecords ?? 0) > 0;
  }, 60_000, 'the backlog uploaded');

  const records = await readStream<AgentRecord>(kinesis, 'sensors');
  const beforeStop = records.filter((record) => Date.parse(record.value.timestamp) < stoppedAt);
  t.true(beforeStop.length >= buffered, `the ${buffered} readings buffered before SIGSTOP are on the server (${beforeStop.length})`);
  const seqs = records.map((record) => record.value.values['seq']);
  t.is(new Set(seqs).size, seqs.length, 'no reading stored twice');
  t.is(supervisor.restarts.length, 1);
});

test("a source's port gone: STATUS says why, pets stop, and the agent is restarted", async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const server = await startServer({ dataDir: join(dir, 'server'), port: 0 });
  t.teardown(() => server.close());
  await createStream(client(t, server.url), 'sensors', 1);
  const { pty, simulator, configFile } = await sensorAgent(t, dir, server.url);
  const supervisor = await NotifySupervisor.start({ command: AGENT_BIN_PATH, args: ['--config', configFile], watchdogUsec: WATCHDOG_USEC, cwd: REPO_ROOT, abortTimeoutMs: 5000 });
  t.teardown(() => supervisor.stop());
  await supervisor.waitFor(() => supervisor.sent('WATCHDOG').length >= 2, 30_000, 'pets');

  await simulator.stop();
  await pty.close();
  await supervisor.waitFor(() => supervisor.sent('STATUS', 1).some((message) => message.fields['STATUS']!.startsWith('unhealthy')), 30_000, 'an unhealthy STATUS');
  const unhealthy = supervisor.sent('STATUS', 1).find((message) => message.fields['STATUS']!.startsWith('unhealthy'))!;
  t.regex(unhealthy.fields['STATUS']!, /source climate: port \S+ not open/);
  t.false('WATCHDOG' in unhealthy.fields);
  await supervisor.waitFor(() => supervisor.current.number === 2, 30_000, 'a restart');
  t.regex(supervisor.restarts[0]!, /^no WATCHDOG=1/);
  t.deepEqual(supervisor.sent('WATCHDOG', 1).filter((message) => message.at > unhealthy.at), [], 'no pet after the unhealthy status');
});

test('WATCHDOG_PID naming another process: READY=1, but no pets', async (t) => {
  t.timeout(60_000);
  const dir = await tempDir(t);
  const { configFile } = await sensorAgent(t, dir, 'http://127.0.0.1:9');
  const supervisor = await NotifySupervisor.start({ command: AGENT_BIN_PATH, args: ['--config', configFile], watchdogUsec: 1_000_000, watchdogPid: process.pid, cwd: REPO_ROOT });
  t.teardown(() => supervisor.stop());
  await supervisor.waitFor(() => supervisor.sent('READY', 1).length === 1, 30_000, 'READY=1');
  // Three pet intervals (500 ms each) after READY.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.deepEqual(supervisor.sent('WATCHDOG', 1), []);
});

test('no systemd-notify on PATH: logged once, and the agent keeps running', async (t) => {
  t.timeout(60_000);
  const dir = await tempDir(t);
  const { configFile } = await sensorAgent(t, dir, 'http://127.0.0.1:9');
  // A PATH with node and nothing else.
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await symlink(process.execPath, join(bin, 'node'));
  const supervisor = await NotifySupervisor.start({ command: AGENT_BIN_PATH, args: ['--config', configFile], watchdogUsec: 400_000, cwd: REPO_ROOT, env: { ...process.env, PATH: bin } });
  t.teardown(() => supervisor.stop());
  await supervisor.waitFor(() => statusUrlOf(supervisor) !== undefined, 30_000, 'the agent running');
  // Five pet intervals (200 ms each) after READY.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.is(supervisor.current.child.exitCode, null, 'still running');
  t.is((await getAgentStatus(statusUrlOf(supervisor)!)).deviceId, 'pi-watchdog');
  t.is(supervisor.current.output().split('\n').filter((line) => line.includes('cannot run systemd-notify')).length, 1);
  t.deepEqual(supervisor.messages, []);
});
