// The agent's footprint on a device, against the targets of issue 8, in one run:
//   1. start-up: `rivulet-agent --config` spawned until it reports running (sources opened, buffer
//      open, uploader started: the moment it tells systemd READY=1), several times;
//   2. RSS of the agent process with 4 serial sources (GPS, DSMR, Modbus, line sensor on socat
//      ptys fed by `rivulet sim`) and one camera, uploading to a `rivulet server` process;
//   3. writes to storage while idle: the same agent with every simulator stopped (SIGSTOP: the
//      ptys stay open, nothing arrives), its file write and sync calls counted by strace, and for
//      scale the same count while the devices send at their usual 1 reading/s.
//
//   node dist/bench/footprint/run.js [--seconds 30] [--starts 5]
//
// This machine has no hardware H.264 encoder (v4l2h264enc) and no V4L2 camera: the camera is a
// test source encoded by x264enc inside the agent process, which holds more memory than a
// hardware encoder path does (the encoder's buffers then live in the driver), so the RSS figure is
// an upper bound for that path.
import { spawn } from 'node:child_process';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getAgentStatus } from '../lib/agent-status.js';
import { freePort, startBenchProcess, startBenchServer, type BenchProcess, type BenchServer } from '../lib/processes.js';
import { mappedFileRss, processMemory } from '../lib/proc.js';
import { connectHttp1, member, type RawConnection } from '../lib/raw-kinesis.js';
import { percentile, table } from '../lib/stats.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    starts: { type: 'string', default: '5' },
  },
});
const SECONDS = Number(args.seconds);
const STARTS = Number(args.starts);
for (const [name, value] of [['seconds', SECONDS], ['starts', STARTS]] as const) {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`--${name} must be a number above 0`);
}

const TARGETS = { rssBytes: 60 * 1024 * 1024, startupMs: 2000, idleWritesPerSecond: 1 };
const SOURCES = ['gps', 'dsmr', 'modbus', 'line'] as const;
const DEVICE_ID = 'footprint-rig';
const STREAM = 'telemetry';
const VIDEO_STREAM = 'footprint-cam';
const SYSCALLS = ['write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'fsync', 'fdatasync'];
const SYNC_CALLS = new Set(['fsync', 'fdatasync']);

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rivulet = `${root}dist/cli/rivulet.js`;
// The agent as a device runs it: the bin whose #! line carries its V8 flags.
const rivuletAgent = `${root}dist/cli/rivulet-agent.js`;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

async function createDataStream(connection: RawConnection): Promise<void> {
  await connection.call('CreateStream', JSON.stringify({ StreamName: STREAM, ShardCount: SOURCES.length }));
  while (member(await connection.call('DescribeStreamSummary', JSON.stringify({ StreamName: STREAM })), 'StreamStatus') !== 'ACTIVE') await sleep(20);
}

async function createVideoStream(server: BenchServer): Promise<void> {
  const answer = await fetch(`${server.url}/createStream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ StreamName: VIDEO_STREAM, DataRetentionInHours: 1 }),
  });
  if (!answer.ok) throw new Error(`CreateStream ${VIDEO_STREAM}: HTTP ${answer.status} ${await answer.text()}`);
}

async function startSimulators(dir: string, children: BenchProcess[]): Promise<BenchProcess[]> {
  return Promise.all(
    SOURCES.map(async (source) => {
      const sim = await startBenchProcess(`sim ${source}`, [rivulet, 'sim', source, '--pty', join(dir, source), '--log-level', 'warn'], { ready: /^Simulated /m });
      children.push(sim);
      return sim;
    }),
  );
}

async function writeConfig(dir: string, server: BenchServer, name: string, withCamera: boolean): Promise<{ file: string; statusUrl: string }> {
  const statusPort = await freePort();
  const file = join(dir, `${name}.json`);
  await writeFile(
    file,
    JSON.stringify({
      deviceId: DEVICE_ID,
      server: { url: server.url },
      dataDir: join(dir, name),
      status: { port: statusPort },
      logLevel: 'warn',
      sources: SOURCES.map((source) => ({ type: source, port: join(dir, source), stream: STREAM, ...(source === 'modbus' ? { meter: 'sdm630' } : {}) })),
      ...(withCamera
        ? { cameras: [{ name: 'cam', source: { type: 'test', pattern: 'ball' }, stream: VIDEO_STREAM, width: 640, height: 360, fps: 15, fragmentSeconds: 2 }] }
        : {}),
    }),
  );
  return { file, statusUrl: `http://127.0.0.1:${statusPort}` };
}

async function startAgent(configFile: string): Promise<{ agent: BenchProcess; startupMs: number }> {
  const started = performance.now();
  const agent = await startBenchProcess('agent', ['--config', configFile], { ready: /^Rivulet agent .* running/m, executable: rivuletAgent, timeoutMs: 30_000 });
  return { agent, startupMs: performance.now() - started };
}

async function waitForReadings(statusUrl: string, cameras: boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await getAgentStatus(statusUrl);
    if (status.sources.every((source) => source.readings > 0) && (!cameras || status.cameras.every((camera) => camera.persisted > 0))) return;
    if (Date.now() > deadline) throw new Error(`agent not delivering after 30 s: ${JSON.stringify({ sources: status.sources.map((s) => [s.name, s.readings]), cameras: status.cameras.map((c) => [c.name, c.persisted, c.lastError]) })}`);
    await sleep(200);
  }
}

interface RssFigures {
  steady: number;
  max: number;
  peak: number;
  /** At the end of the window: private memory and mapped-file pages. */
  anon: number;
  file: number;
  /** Of the file pages, those of the node binary: shared by every node process and not the agent's doing. */
  nodeBinary: number;
  persisted: number;
}

async function measureRss(agent: BenchProcess, statusUrl: string): Promise<RssFigures> {
  const samples: { at: number; rss: number }[] = [];
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    await sleep(250);
    samples.push({ at: (performance.now() - started) / 1000, rss: processMemory(agent.pid).rss });
  }
  const status = await getAgentStatus(statusUrl);
  const end = processMemory(agent.pid);
  return {
    steady: percentile(samples.filter((sample) => sample.at >= SECONDS / 2).map((sample) => sample.rss), 50),
    max: Math.max(...samples.map((sample) => sample.rss)),
    peak: end.peak,
    anon: end.anon,
    file: end.file,
    nodeBinary: mappedFileRss(agent.pid, await realpath(process.execPath)),
    persisted: status.cameras.reduce((sum, camera) => sum + camera.persisted, 0),
  };
}

interface WriteCounts {
  seconds: number;
  writes: number;
  syncs: number;
  files: Map<string, number>;
}

/**
 * Write and sync calls the process makes on regular files over `seconds`, from strace (-y names
 * each descriptor's file); sockets, pipes, ptys and the terminal do not reach the SD card.
 */
async function countFileWrites(pid: number, seconds: number): Promise<WriteCounts> {
  const tracer = spawn('strace', ['-f', '-q', '-y', '-e', `trace=${SYSCALLS.join(',')}`, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  tracer.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<void>((resolve) => tracer.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => tracer.once('error', (error) => reject(new Error(`strace: ${error.message} (Debian package strace)`))));
  await Promise.race([sleep(seconds * 1000), failed]);
  tracer.kill('SIGINT');
  await exited;
  const counts: WriteCounts = { seconds, writes: 0, syncs: 0, files: new Map() };
  for (const match of output.matchAll(/(\w+)\((\d+)<([^>]*)>/g)) {
    const [, call, , path] = match as unknown as [string, string, string, string];
    if (!SYSCALLS.includes(call) || !path.startsWith('/') || path.startsWith('/dev/')) continue;
    if (SYNC_CALLS.has(call)) counts.syncs++;
    else counts.writes++;
    counts.files.set(path, (counts.files.get(path) ?? 0) + 1);
  }
  return counts;
}

function describeWrites(counts: WriteCounts): string {
  const perFile = [...counts.files.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([path, count]) => `${path.replace(/^.*\/rivulet-footprint-[^/]+\//, '')} ${count}`);
  return perFile.length === 0 ? 'none' : perFile.join(', ');
}

async function main(): Promise<void> {
  const children: BenchProcess[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-footprint-'));
  let server: BenchServer | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  try {
    console.log(`Rivulet agent footprint (targets from issue 8), ${new Date().toISOString()}\n`);
    server = await startBenchServer('rivulet', [rivulet, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn']);
    const connection = connectHttp1(server.url);
    await createDataStream(connection);
    connection.close();
    await createVideoStream(server);
    const simulators = await startSimulators(dir, children);

    // 1. Start-up, 4 serial sources, no camera: what a meter rig restarts with.
    const serialOnly = await writeConfig(dir, server, 'serial', false);
    const startups: number[] = [];
    for (let run = 0; run < STARTS; run++) {
      const { agent, startupMs } = await startAgent(serialOnly.file);
      startups.push(startupMs);
      await agent.stop(15_000);
    }
    console.log(`1. start-up of \`rivulet-agent\` with 4 serial sources (spawn → "running": sources opened, buffer open, uploader started), ${STARTS} runs`);
    console.log(table(['median', 'max', 'runs (ms)'], [[`${percentile(startups, 50).toFixed(0)} ms`, `${Math.max(...startups).toFixed(0)} ms`, startups.map((ms) => ms.toFixed(0)).join(', ')]]) + '\n');

    // 2. RSS with 4 serial sources, without and with a camera.
    const withCamera = await writeConfig(dir, server, 'camera', true);
    const rows: string[][] = [];
    let rss: RssFigures | undefined;
    for (const [label, config] of [['4 serial sources', serialOnly], ['4 serial sources + camera', withCamera]] as const) {
      const { agent, startupMs } = await startAgent(config.file);
      children.push(agent);
      await waitForReadings(config.statusUrl, config === withCamera);
      rss = await measureRss(agent, config.statusUrl);
      rows.push([label, `${startupMs.toFixed(0)} ms`, mib(rss.steady), mib(rss.max), mib(rss.peak), `${mib(rss.anon)} + ${mib(rss.file)}`, mib(rss.nodeBinary), mib(rss.max - rss.nodeBinary), String(rss.persisted)]);
      await agent.stop(15_000);
    }
    console.log(`2. RSS of the agent: 4 serial sources (1 reading/s each), then with a 640×360 15 fps test camera (x264enc in-process, 2 s fragments → PutMedia), ${SECONDS} s each`);
    console.log(table(['agent', 'start-up', 'RSS steady', 'RSS max', 'VmHWM', 'private + file pages', 'of which node binary', 'RSS max without it', 'fragments persisted'], rows) + '\n');

    // 3. Storage writes while the devices send, then while they are silent.
    const serialAgent = await startAgent(serialOnly.file);
    children.push(serialAgent.agent);
    await waitForReadings(serialOnly.statusUrl, false);
    const active = await countFileWrites(serialAgent.agent.pid, SECONDS);
    for (const sim of simulators) process.kill(-sim.pid, 'SIGSTOP');
    // Let the last readings commit and upload, so only idleness is measured.
    await sleep(3000);
    const idle = await countFileWrites(serialAgent.agent.pid, SECONDS);
    for (const sim of simulators) process.kill(-sim.pid, 'SIGCONT');
    await serialAgent.agent.stop(15_000);
    console.log(`3. write and sync calls on files (strace -y; sockets, pipes and ptys left out), ${SECONDS} s each`);
    console.log(
      table(
        ['devices', 'writes/s', 'syncs/s', 'busiest files'],
        [
          ['sending, 4 × 1 reading/s', (active.writes / active.seconds).toFixed(2), (active.syncs / active.seconds).toFixed(2), describeWrites(active)],
          ['silent (idle)', (idle.writes / idle.seconds).toFixed(2), (idle.syncs / idle.seconds).toFixed(2), describeWrites(idle)],
        ],
      ) + '\n',
    );

    const idleWritesPerSecond = (idle.writes + idle.syncs) / idle.seconds;
    const startup = Math.max(...startups);
    console.log('4. summary\n');
    console.log(
      table(
        ['target', 'target', 'measured', ''],
        [
          ['agent RSS, 4 serial sources + 1 camera (max of samples; VmHWM)', `≤ ${mib(TARGETS.rssBytes)}`, `${mib(rss!.max)}; ${mib(rss!.peak)}`, verdict(rss!.max <= TARGETS.rssBytes && rss!.peak <= TARGETS.rssBytes)],
          ['for scale, not the target: the same less the node binary\'s pages', '', mib(rss!.max - rss!.nodeBinary), ''],
          ['start-up to running (slowest of the runs)', `≤ ${TARGETS.startupMs} ms`, `${startup.toFixed(0)} ms`, verdict(startup <= TARGETS.startupMs)],
          ['writes to storage when idle (write + sync calls)', `≤ ${TARGETS.idleWritesPerSecond}/s`, `${idleWritesPerSecond.toFixed(2)}/s`, verdict(idleWritesPerSecond <= TARGETS.idleWritesPerSecond)],
        ],
      ),
    );
  } finally {
    await Promise.allSettled(children.map((child) => child.stop()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
