// The edge agent on this machine, against the four targets of its issue, in one run:
//   1. buffer ingest readings/s and disk bytes written per payload byte (bench/agent/buffer.ts);
//   2. drain records/s: a buffer filled with readings, emptied by the real uploader into a real
//      `rivulet server` process, and the stream read back to prove every record arrived exactly
//      once and in order per key;
//   3. the real agent process as a device runs it (`rivulet-agent`, V8 flags in its #! line) with 4 serial sources (GPS, DSMR, Modbus, line sensor)
//      simulated by `rivulet sim … --pty` processes on real pseudo-terminals, feeding the server:
//      its RSS (/proc/<pid>/status) and its disk writes per payload byte (/proc/<pid>/io);
//   4. a summary, target against measured.
//
//   node dist/bench/agent/run.js [--readings 200000] [--seconds 20] [--record-bytes 100] [--sim-rate 10]
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RecordBuffer, type BufferInput } from '../../agent/buffer/index.js';
import type { AgentStatus } from '../../agent/status.js';
import { Uploader } from '../../agent/uploader.js';
import { getAgentStatus } from '../lib/agent-status.js';
import { freePort, startBenchProcess, startBenchServer, type BenchProcess, type BenchServer } from '../lib/processes.js';
import { processIo, processMemory } from '../lib/proc.js';
import { connectHttp1, member, type RawConnection } from '../lib/raw-kinesis.js';
import { percentile, table } from '../lib/stats.js';
import { bufferTable, describeBufferBench, measureBuffer, type BufferBenchOptions, type BufferBenchRow } from './buffer.js';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '200000' },
    seconds: { type: 'string', default: '20' },
    'record-bytes': { type: 'string', default: '100' },
    'sim-rate': { type: 'string', default: '10' },
  },
});
const READINGS = Number(args.readings);
const SECONDS = Number(args.seconds);
const RECORD_BYTES = Number(args['record-bytes']);
/** Frames per second of the GPS, DSMR and line simulators; the Modbus meter is polled at the same rate. */
const SIM_RATE = Number(args['sim-rate']);
for (const [name, value] of [['readings', READINGS], ['seconds', SECONDS], ['record-bytes', RECORD_BYTES], ['sim-rate', SIM_RATE]] as const) {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`--${name} must be a number above 0`);
}

const TARGETS = { ingestPerSecond: 20_000, drainPerSecond: 20_000, rssBytes: 60 * 1024 * 1024, writtenPerPayloadByte: 3 };
const SOURCES = ['gps', 'dsmr', 'modbus', 'line'] as const;
const DEVICE_ID = 'bench-rig';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rivulet = `${root}dist/cli/rivulet.js`;
// The agent as a device runs it: the bin whose #! line carries its V8 flags.
const rivuletAgent = `${root}dist/cli/rivulet-agent.js`;

const rate = (value: number) => Math.round(value).toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createStream(connection: RawConnection, name: string, shards: number): Promise<void> {
  await connection.call('CreateStream', JSON.stringify({ StreamName: name, ShardCount: shards }));
  while (member(await connection.call('DescribeStreamSummary', JSON.stringify({ StreamName: name })), 'StreamStatus') !== 'ACTIVE') await sleep(20);
}

/** Every record of a stream, shard by shard in sequence order: partition key and data. */
async function readStream(connection: RawConnection, stream: string): Promise<{ partitionKey: string; data: Buffer }[]> {
  const { Shards } = JSON.parse(await connection.call('ListShards', JSON.stringify({ StreamName: stream }))) as { Shards: { ShardId: string }[] };
  const out: { partitionKey: string; data: Buffer }[] = [];
  for (const { ShardId } of Shards) {
    let iterator = member(await connection.call('GetShardIterator', JSON.stringify({ StreamName: stream, ShardId, ShardIteratorType: 'TRIM_HORIZON' })), 'ShardIterator');
    while (iterator) {
      const page = JSON.parse(await connection.call('GetRecords', JSON.stringify({ ShardIterator: iterator, Limit: 10000 }))) as {
        Records: { PartitionKey: string; Data: string }[];
        NextShardIterator?: string;
        MillisBehindLatest?: number;
      };
      for (const record of page.Records) out.push({ partitionKey: record.PartitionKey, data: Buffer.from(record.Data, 'base64') });
      if (page.Records.length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

// ---- 2. drain ------------------------------------------------------------------------------------

interface DrainFigures {
  records: number;
  seconds: number;
  perSecond: number;
  requests: number;
  failedEntries: number;
  failedRequests: number;
  stored: number;
  /** Problems found reading the stream back; empty when every record arrived once, in order per key. */
  problems: string[];
}

/** A reading of `recordBytes` bytes: JSON naming its source and index, padded with spaces. */
function drainReading(source: string, index: number): BufferInput {
  const data = Buffer.alloc(RECORD_BYTES, 0x20);
  const json = JSON.stringify({ source, n: index });
  if (json.length > RECORD_BYTES) throw new RangeError(`--record-bytes must be at least ${json.length}`);
  data.write(json);
  return { partitionKey: `${DEVICE_ID}/${source}`, data, timestamp: Date.now() };
}

async function measureDrain(server: BenchServer, dir: string): Promise<DrainFigures> {
  const connection = connectHttp1(server.url);
  const stream = 'drain';
  await createStream(connection, stream, SOURCES.length);
  const buffer = await RecordBuffer.open({
    path: join(dir, 'drain.db'),
    maxBytes: 1024 * 1024 * 1024,
    synchronous: 'FULL',
    sources: SOURCES.map((name) => ({ name, stream, priority: 0, onFull: 'reject-new' as const })),
  });
  const perSource = Math.ceil(READINGS / SOURCES.length);
  const uploader = new Uploader({ buffer, url: server.url, deviceId: DEVICE_ID });
  try {
    // Fill: batches of 500 per source, interleaved as the agent's sources would be.
    for (let start = 0; start < perSource; start += 500) {
      for (const source of SOURCES) {
        const records = Array.from({ length: Math.min(500, perSource - start) }, (_, offset) => drainReading(source, start + offset));
        const result = await buffer.append(source, records);
        if (result.accepted !== records.length) throw new Error(`drain fill: ${source} accepted ${result.accepted} of ${records.length}`);
      }
    }
    const total = perSource * SOURCES.length;
    const started = performance.now();
    uploader.start();
    // Poll the uploader's counters (no buffer access, so the poll does not compete with the drain)…
    while (uploader.stats.uploadedRecords < total) {
      if (performance.now() - started > 120_000) throw new Error(`drain: only ${uploader.stats.uploadedRecords} of ${total} uploaded after 120 s (last error: ${uploader.stats.lastError?.message ?? 'none'})`);
      await sleep(2);
    }
    // …then wait until the last acknowledged records are removed: the buffer is empty.
    while ((await buffer.stats()).backlogRecords > 0) await sleep(1);
    const seconds = (performance.now() - started) / 1000;
    await uploader.stop();
    const stats = uploader.stats;

    const problems: string[] = [];
    const stored = await readStream(connection, stream);
    if (stored.length !== total) problems.push(`the stream holds ${stored.length} records, ${total} were buffered`);
    const next = new Map<string, number>(SOURCES.map((source) => [source, 0]));
    let outOfOrder = 0;
    for (const record of stored) {
      const { source, n } = JSON.parse(record.data.toString('utf8')) as { source: string; n: number };
      if (record.partitionKey !== `${DEVICE_ID}/${source}`) problems.push(`record ${source}#${n} has partition key ${record.partitionKey}`);
      if (n !== next.get(source)) outOfOrder++;
      next.set(source, n + 1);
    }
    if (outOfOrder > 0) problems.push(`${outOfOrder} records not in sequence within their key (lost, duplicated or reordered)`);
    for (const [source, count] of next) if (count !== perSource) problems.push(`${source}: last index ${count - 1}, expected ${perSource - 1}`);
    connection.close();
    return {
      records: total,
      seconds,
      perSecond: total / seconds,
      requests: stats.requests,
      failedEntries: stats.failedEntries,
      failedRequests: stats.failedRequests,
      stored: stored.length,
      problems,
    };
  } finally {
    await uploader.stop();
    await buffer.close();
  }
}

// ---- 3. the agent process with 4 serial sources --------------------------------------------------

interface AgentFigures {
  seconds: number;
  rssStart: number;
  rssSteady: number;
  rssMax: number;
  /** VmHWM: the peak the kernel saw over the process's whole life, start-up included. */
  rssPeak: number;
  samples: number;
  readings: Record<string, number>;
  payloadBytes: number;
  records: number;
  writeBytes: number;
  wchar: number;
  uploaded: number;
  backlogAtEnd: number;
  rejectedOrDropped: number;
  exitCode: number | null;
  stored: number;
  /** For scale: a bare `node` process, and a `rivulet sim` process (the same CLI, every command's modules loaded). */
  bareNodeRss: number;
  simRss: number;
}

/** VmRSS of a node process that does nothing. */
async function bareNodeRss(): Promise<number> {
  const bare = await startBenchProcess('bare node', ['-e', "console.log('ready'); setTimeout(() => {}, 60000)"], { ready: /^ready/m });
  await sleep(500);
  const rss = processMemory(bare.pid).rss;
  await bare.stop();
  return rss;
}

/** Payload bytes (data + partition key, as the buffer counts them) the agent has buffered so far. */
function bufferedBytes(status: AgentStatus): number {
  return (status.upload?.uploadedBytes ?? 0) + (status.buffer?.backlogBytes ?? 0);
}

function bufferedRecords(status: AgentStatus): number {
  return status.sources.reduce((sum, source) => sum + source.accepted, 0);
}

async function measureAgent(server: BenchServer, dir: string, children: BenchProcess[]): Promise<AgentFigures> {
  const connection = connectHttp1(server.url);
  const stream = 'telemetry';
  await createStream(connection, stream, SOURCES.length);

  const simArgs: Record<(typeof SOURCES)[number], string[]> = {
    gps: ['--rate', String(Math.min(SIM_RATE, 50))],
    dsmr: ['--rate', String(SIM_RATE)],
    modbus: ['--meter', 'sdm630'],
    line: ['--rate', String(SIM_RATE)],
  };
  await Promise.all(
    SOURCES.map(async (source) => {
      const sim = await startBenchProcess(`sim ${source}`, [rivulet, 'sim', source, '--pty', join(dir, source), '--log-level', 'warn', ...simArgs[source]], { ready: /^Simulated /m });
      children.push(sim);
    }),
  );

  const statusPort = await freePort();
  const configFile = join(dir, 'agent.json');
  await writeFile(
    configFile,
    JSON.stringify({
      deviceId: DEVICE_ID,
      server: { url: server.url },
      dataDir: join(dir, 'agent'),
      status: { port: statusPort },
      logLevel: 'warn',
      sources: SOURCES.map((source) => ({
        type: source,
        port: join(dir, source),
        stream,
        partitionKey: `${DEVICE_ID}/${source}`,
        ...(source === 'modbus' ? { meter: 'sdm630', intervalMs: Math.max(100, Math.round(1000 / SIM_RATE)) } : {}),
      })),
    }),
  );
  const agent = await startBenchProcess('agent', ['--config', configFile], { ready: /^Rivulet agent .* running/m, executable: rivuletAgent });
  children.push(agent);
  const statusUrl = `http://127.0.0.1:${statusPort}`;

  // Let every source deliver its first reading (ports open, first poll answered) before the window.
  const warmupDeadline = Date.now() + 10_000;
  for (;;) {
    const status = await getAgentStatus(statusUrl);
    if (status.sources.every((source) => source.readings > 0)) break;
    if (Date.now() > warmupDeadline) {
      throw new Error(`agent: sources without readings after 10 s: ${status.sources.filter((source) => source.readings === 0).map((source) => `${source.name} (${source.transport})`).join(', ')}`);
    }
    await sleep(100);
  }

  const first = await getAgentStatus(statusUrl);
  const ioStart = processIo(agent.pid);
  const rssStart = processMemory(agent.pid).rss;
  const started = performance.now();
  const samples: { at: number; rss: number }[] = [];
  while (performance.now() - started < SECONDS * 1000) {
    await sleep(250);
    samples.push({ at: (performance.now() - started) / 1000, rss: processMemory(agent.pid).rss });
  }
  const last = await getAgentStatus(statusUrl);
  const ioEnd = processIo(agent.pid);
  const seconds = (performance.now() - started) / 1000;
  const peak = processMemory(agent.pid).peak;
  const simRss = percentile(children.filter((child) => child.name.startsWith('sim ')).map((child) => processMemory(child.pid).rss), 50);
  const exitCode = await agent.stop(15_000);

  // Nothing lost on the way: what the agent uploaded is in the stream (the rest stays buffered).
  const stored = (await readStream(connection, stream)).length;
  connection.close();

  const steady = samples.filter((sample) => sample.at >= seconds / 2).map((sample) => sample.rss);
  const readings: Record<string, number> = {};
  for (const source of last.sources) readings[source.name] = source.readings - (first.sources.find((each) => each.name === source.name)?.readings ?? 0);
  return {
    seconds,
    rssStart,
    rssSteady: percentile(steady, 50),
    rssMax: Math.max(...samples.map((sample) => sample.rss)),
    rssPeak: peak,
    samples: samples.length,
    readings,
    payloadBytes: bufferedBytes(last) - bufferedBytes(first),
    records: bufferedRecords(last) - bufferedRecords(first),
    writeBytes: ioEnd.writeBytes - ioStart.writeBytes,
    wchar: ioEnd.wchar - ioStart.wchar,
    uploaded: last.upload?.uploadedRecords ?? 0,
    backlogAtEnd: last.buffer?.backlogRecords ?? 0,
    rejectedOrDropped: last.sources.reduce((sum, source) => sum + source.rejected + source.dropped + source.expired + source.appendErrors, 0),
    exitCode,
    stored,
    bareNodeRss: await bareNodeRss(),
    simRss,
  };
}

// ---- the run ---------------------------------------------------------------------------------------

function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}

async function main(): Promise<void> {
  const children: BenchProcess[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-agent-bench-'));
  let server: BenchServer | undefined;
  // Ctrl+C or a kill: leave through process.exit so the 'exit' hooks kill every child; the temp dirs go too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const removeDirs = () => {
    rmSync(dir, { recursive: true, force: true });
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
  };
  process.once('exit', removeDirs);
  try {
    console.log(`Rivulet agent benchmark (targets from issue 3), ${new Date().toISOString()}\n`);

    // 1. The buffer alone.
    const bufferOptions: BufferBenchOptions = { readings: READINGS, recordBytes: RECORD_BYTES, batch: 500, window: 1000, modes: ['FULL', 'NORMAL'], dir };
    console.log(`1. ${describeBufferBench(bufferOptions)}\n`);
    const bufferRows = await measureBuffer(bufferOptions);
    console.log(bufferTable(bufferRows) + '\n');

    server = await startBenchServer('rivulet', [rivulet, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn']);

    // 2. Drain.
    console.log(
      `2. drain: ${READINGS} readings of ${RECORD_BYTES} bytes from ${SOURCES.length} sources (one partition key each) in a buffer (synchronous FULL),\n` +
        `   uploaded by agent/uploader.ts (PutRecords ≤ 500, ProducerId/ProducerSequence) to a \`rivulet server\` process (SQLite, synchronous FULL)\n` +
        '   until the buffer is empty; then the stream is read back with GetRecords and checked: every record once, in order per key.\n',
    );
    const drain = await measureDrain(server, dir);
    console.log(
      table(
        ['records', 'seconds', 'records/s', 'PutRecords calls', 'entries retried', 'calls failed', 'in the stream', 'check'],
        [[String(drain.records), drain.seconds.toFixed(2), rate(drain.perSecond), String(drain.requests), String(drain.failedEntries), String(drain.failedRequests), String(drain.stored), drain.problems.length === 0 ? 'exactly once, in order' : 'FAILED']],
      ) + '\n',
    );
    for (const problem of drain.problems) console.log(`   DRAIN CHECK FAILED: ${problem}`);

    // 3. The agent process with 4 serial sources.
    console.log(
      `3. agent process: \`rivulet-agent --config\` (lite mode, 1 MiB semi-spaces) with 4 sources on socat ptys fed by \`rivulet sim\` processes — gps ${Math.min(SIM_RATE, 50)} epochs/s, ` +
        `dsmr ${SIM_RATE} telegrams/s, line ${SIM_RATE} lines/s, modbus sdm630 polled every ${Math.max(100, Math.round(1000 / SIM_RATE))} ms —\n` +
        `   uploading to the same server, ${SECONDS} s after every source delivered its first reading. RSS: /proc/<pid>/status VmRSS every 250 ms\n` +
        '   (steady = median of the second half), VmHWM = lifetime peak. Disk: /proc/<pid>/io write_bytes over the window ÷ payload bytes buffered\n' +
        '   in it (status endpoint: uploadedBytes + backlogBytes, i.e. record data + partition key).\n',
    );
    const agent = await measureAgent(server, dir, children);
    const writtenPerByte = agent.writeBytes / agent.payloadBytes;
    console.log(
      table(
        ['window s', 'readings/s', 'records', 'payload B', 'B/record', 'RSS start', 'RSS steady', 'RSS max', 'VmHWM', 'write_bytes', 'written/payload B (wchar)'],
        [
          [
            agent.seconds.toFixed(1),
            (agent.records / agent.seconds).toFixed(1),
            String(agent.records),
            String(agent.payloadBytes),
            (agent.payloadBytes / agent.records).toFixed(0),
            mib(agent.rssStart),
            mib(agent.rssSteady),
            mib(agent.rssMax),
            mib(agent.rssPeak),
            String(agent.writeBytes),
            `${writtenPerByte.toFixed(2)} (${(agent.wchar / agent.payloadBytes).toFixed(2)})`,
          ],
        ],
      ),
    );
    console.log(
      `   readings per source in the window: ${Object.entries(agent.readings).map(([name, count]) => `${name} ${count}`).join(', ')}; ` +
        `uploaded ${agent.uploaded} records in all, ${agent.backlogAtEnd} still buffered at the end, ${agent.rejectedOrDropped} rejected/dropped/failed; ` +
        `stream holds ${agent.stored} after stop; agent exit code ${agent.exitCode}`,
    );
    console.log(`   for scale: a bare node process ${mib(agent.bareNodeRss)} RSS; a \`rivulet sim\` process (same CLI) ${mib(agent.simRss)} (median of the 4)\n`);

    // 4. Summary.
    const full = (label: BufferBenchRow['ingest']) => bufferRows.find((row) => row.synchronous === 'FULL' && row.ingest === label)!;
    const singles = full('singles');
    const worst = bufferRows.filter((row) => row.synchronous === 'FULL').reduce((a, b) => (b.writtenTotal.writeBytes > a.writtenTotal.writeBytes ? b : a));
    const bufferWritten = worst.writtenTotal.writeBytes;
    const rows: string[][] = [
      ['buffer ingest, readings/s (FULL, single readings from 4 sources)', `≥ ${rate(TARGETS.ingestPerSecond)}`, rate(singles.ingestPerSecond), verdict(singles.ingestPerSecond >= TARGETS.ingestPerSecond)],
      [
        'drain to a local server, records/s (verified in the stream)',
        `≥ ${rate(TARGETS.drainPerSecond)}`,
        rate(drain.perSecond),
        drain.problems.length > 0 ? 'MISSED (records lost or duplicated)' : verdict(drain.perSecond >= TARGETS.drainPerSecond),
      ],
      ['agent RSS with 4 serial sources (max of samples; VmHWM)', `≤ ${mib(TARGETS.rssBytes)}`, `${mib(agent.rssMax)}; ${mib(agent.rssPeak)}`, verdict(agent.rssMax <= TARGETS.rssBytes && agent.rssPeak <= TARGETS.rssBytes)],
      [
        'disk written per payload byte: buffer bench (FULL, ingest+drain: singles; worst row)',
        `≤ ${TARGETS.writtenPerPayloadByte}`,
        `${singles.writtenTotal.writeBytes.toFixed(2)}; ${bufferWritten.toFixed(2)} (${worst.ingest})`,
        verdict(bufferWritten <= TARGETS.writtenPerPayloadByte),
      ],
      ['disk written per payload byte: agent process, 4 serial sources', `≤ ${TARGETS.writtenPerPayloadByte}`, writtenPerByte.toFixed(2), verdict(writtenPerByte <= TARGETS.writtenPerPayloadByte)],
    ];
    console.log('4. summary\n');
    console.log(table(['target', 'target', 'measured', ''], rows));
  } finally {
    await Promise.allSettled(children.map((child) => child.stop()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    process.off('exit', removeDirs);
  }
}

await main();
