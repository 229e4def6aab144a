// The agent's buffer on this machine: ingest readings/s (single readings from 4 concurrent
// sources, and batches), drain records/s (peek + remove cycles), and disk bytes written per
// payload byte, with synchronous FULL and NORMAL.
//
// Disk writes are the kernel's count for this process, /proc/self/io `write_bytes` (bytes of
// page cache this process dirtied, i.e. sent towards the device, counted per 4 KiB page), taken
// around open → work → close, so the WAL, the checkpoints into the database file and the final
// checkpoint at close are all in. `wchar` (bytes passed to write()) is shown beside it.
//
//   node dist/bench/agent/buffer.js [--readings 200000] [--record-bytes 100] [--batch 500] [--dir DIR]
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RecordBuffer, type BufferInput, type RecordBufferOptions, type SynchronousMode } from '../../agent/buffer/index.js';
import { table } from '../lib/stats.js';

/** What {@link measureBuffer} runs. */
export interface BufferBenchOptions {
  /** Readings per scenario, spread over the 4 sources. */
  readings: number;
  /** Payload bytes per reading. */
  recordBytes: number;
  /** Readings per append in the "batches" scenario. */
  batch: number;
  /** Appends of single readings each source keeps in flight (a serial reader does not wait for the disk). */
  window: number;
  /** The synchronous modes measured, in order. */
  modes: SynchronousMode[];
  /** Where the buffer files go (a temp dir inside it per scenario). */
  dir: string;
}

const SOURCES = ['dsmr', 'gps', 'modbus', 'line'];
const DRAIN_BATCH = 500;

/** Disk counters of this process, from /proc/self/io. */
export interface IoCounters {
  writeBytes: number;
  wchar: number;
}

function io(): IoCounters {
  const text = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string) => Number(/^(\w+): (\d+)$/m.exec(text.split('\n').find((line) => line.startsWith(`${name}:`)) ?? '')?.[2] ?? NaN);
  return { writeBytes: field('write_bytes'), wchar: field('wchar') };
}

function since(start: IoCounters): IoCounters {
  const now = io();
  return { writeBytes: now.writeBytes - start.writeBytes, wchar: now.wchar - start.wchar };
}

/** A reading like the agent's: JSON, padded (or cut) to `recordBytes`. */
function reading(source: string, index: number, recordBytes: number): BufferInput {
  const timestamp = Date.now();
  const json = JSON.stringify({ deviceId: 'rig-1', source, ts: timestamp, values: { power_kw: (index % 1000) / 100, import_kwh: 1234.567 + index } });
  const data = Buffer.alloc(recordBytes, 0x20);
  data.write(json.slice(0, recordBytes));
  return { partitionKey: `${source}-1`, data, timestamp };
}

function options(dir: string, synchronous: SynchronousMode): RecordBufferOptions {
  return {
    path: join(dir, 'buffer.sqlite'),
    maxBytes: 256 * 1024 * 1024,
    synchronous,
    sources: SOURCES.map((name) => ({ name, stream: 'readings', priority: 0, onFull: 'reject-new' as const })),
  };
}

interface Figures {
  perSecond: number;
  io: IoCounters;
  payloadBytes: number;
}

/** Each source appends single readings, keeping `window` appends in flight. */
async function ingestSingles(buffer: RecordBuffer, o: BufferBenchOptions): Promise<number> {
  const perSource = Math.ceil(o.readings / SOURCES.length);
  const started = performance.now();
  await Promise.all(
    SOURCES.map(async (source) => {
      const inFlight = new Set<Promise<unknown>>();
      for (let index = 0; index < perSource; index++) {
        const append = buffer.append(source, [reading(source, index, o.recordBytes)]).then((result) => {
          if (result.accepted !== 1) throw new Error('reading not accepted');
          inFlight.delete(append);
        });
        inFlight.add(append);
        if (inFlight.size >= o.window) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }),
  );
  return (perSource * SOURCES.length) / ((performance.now() - started) / 1000);
}

/** Each source appends batches of `batch` readings, one batch in flight. */
async function ingestBatches(buffer: RecordBuffer, o: BufferBenchOptions): Promise<number> {
  const batches = Math.ceil(o.readings / SOURCES.length / o.batch);
  const started = performance.now();
  await Promise.all(
    SOURCES.map(async (source) => {
      for (let batch = 0; batch < batches; batch++) {
        const records = Array.from({ length: o.batch }, (_, index) => reading(source, batch * o.batch + index, o.recordBytes));
        const result = await buffer.append(source, records);
        if (result.accepted !== o.batch) throw new Error('batch not accepted');
      }
    }),
  );
  return (batches * o.batch * SOURCES.length) / ((performance.now() - started) / 1000);
}

/** peek + remove until the buffer is empty. */
async function drain(buffer: RecordBuffer): Promise<{ perSecond: number; records: number }> {
  let records = 0;
  const started = performance.now();
  for (;;) {
    const batch = await buffer.peek(DRAIN_BATCH);
    if (batch.length === 0) break;
    await buffer.remove(batch.map((record) => record.sequence));
    records += batch.length;
  }
  return { perSecond: records / ((performance.now() - started) / 1000), records };
}

async function scenario(
  o: BufferBenchOptions,
  synchronous: SynchronousMode,
  ingest: (buffer: RecordBuffer, o: BufferBenchOptions) => Promise<number>,
): Promise<{ ingest: Figures; drain: Figures; lifecycle: IoCounters }> {
  const dir = await mkdtemp(join(o.dir, `${synchronous.toLowerCase()}-`));
  try {
    let start = io();
    let buffer = await RecordBuffer.open(options(dir, synchronous));
    const ingestRate = await ingest(buffer, o);
    const stats = await buffer.stats();
    await buffer.close();
    const ingestIo = since(start);
    const payloadBytes = stats.backlogRecords * o.recordBytes;

    start = io();
    buffer = await RecordBuffer.open(options(dir, synchronous));
    const drained = await drain(buffer);
    await buffer.close();
    const drainIo = since(start);
    if (drained.records !== stats.backlogRecords) throw new Error(`drained ${drained.records} of ${stats.backlogRecords}`);
    return {
      ingest: { perSecond: ingestRate, io: ingestIo, payloadBytes },
      drain: { perSecond: drained.perSecond, io: drainIo, payloadBytes },
      lifecycle: { writeBytes: ingestIo.writeBytes + drainIo.writeBytes, wchar: ingestIo.wchar + drainIo.wchar },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Singles from 4 sources while an uploader drains concurrently (the agent's steady state during a burst). */
async function mixedScenario(o: BufferBenchOptions, synchronous: SynchronousMode): Promise<{ ingest: number; drain: number; io: IoCounters; payloadBytes: number }> {
  const dir = await mkdtemp(join(o.dir, `${synchronous.toLowerCase()}-mixed-`));
  try {
    const start = io();
    const buffer = await RecordBuffer.open(options(dir, synchronous));
    let ingesting = true;
    let drained = 0;
    const started = performance.now();
    const drainer = (async () => {
      for (;;) {
        const batch = await buffer.peek(DRAIN_BATCH);
        if (batch.length === 0) {
          if (!ingesting) return;
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        await buffer.remove(batch.map((record) => record.sequence));
        drained += batch.length;
      }
    })();
    const ingestRate = await ingestSingles(buffer, o);
    ingesting = false;
    await drainer;
    const drainRate = drained / ((performance.now() - started) / 1000);
    await buffer.close();
    return { ingest: ingestRate, drain: drainRate, io: since(start), payloadBytes: drained * o.recordBytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One scenario's figures; `written*` are bytes per payload byte (write_bytes, wchar). */
export interface BufferBenchRow {
  synchronous: SynchronousMode;
  ingest: 'singles' | 'batches' | 'singles + drain at once';
  ingestPerSecond: number;
  drainPerSecond: number;
  /** Undefined for the mixed scenario, where ingest and drain overlap. */
  writtenIngest?: IoCounters;
  writtenDrain?: IoCounters;
  /** Over open → ingest → drain → close, per payload byte. */
  writtenTotal: IoCounters;
}

const perPayloadByte = (counters: IoCounters, payload: number): IoCounters => ({ writeBytes: counters.writeBytes / payload, wchar: counters.wchar / payload });

/** Runs the buffer scenarios (singles, batches, singles with a concurrent drain) per synchronous mode. */
export async function measureBuffer(o: BufferBenchOptions): Promise<BufferBenchRow[]> {
  const rows: BufferBenchRow[] = [];
  for (const synchronous of o.modes) {
    for (const [label, ingest] of [
      ['singles', ingestSingles],
      ['batches', ingestBatches],
    ] as const) {
      const result = await scenario(o, synchronous, ingest);
      rows.push({
        synchronous,
        ingest: label,
        ingestPerSecond: result.ingest.perSecond,
        drainPerSecond: result.drain.perSecond,
        writtenIngest: perPayloadByte(result.ingest.io, result.ingest.payloadBytes),
        writtenDrain: perPayloadByte(result.drain.io, result.drain.payloadBytes),
        writtenTotal: perPayloadByte(result.lifecycle, result.ingest.payloadBytes),
      });
    }
    const mixed = await mixedScenario(o, synchronous);
    rows.push({
      synchronous,
      ingest: 'singles + drain at once',
      ingestPerSecond: mixed.ingest,
      drainPerSecond: mixed.drain,
      writtenTotal: perPayloadByte(mixed.io, mixed.payloadBytes),
    });
  }
  return rows;
}

/** What {@link measureBuffer} measures, in words, for the top of a report. */
export function describeBufferBench(o: BufferBenchOptions): string {
  return [
    `agent buffer: ${o.readings} readings of ${o.recordBytes} bytes (partition keys of 6–8 bytes), ${SOURCES.length} sources`,
    `singles: each source keeps ${o.window} single-reading appends in flight; batches: ${o.batch} readings per append, one in flight per source`,
    `drain: peek(${DRAIN_BATCH}) + remove until empty, after the ingest (reopened) or while it runs ("at once": drain rate over the whole run)`,
    'disk: /proc/self/io write_bytes (wchar in brackets) over open → work → close, per payload byte',
  ].join('\n');
}

const ratio = (counters: IoCounters | undefined) => (counters ? `${counters.writeBytes.toFixed(2)} (${counters.wchar.toFixed(2)})` : '');
const rate = (value: number) => Math.round(value).toLocaleString('en-US');

/** The rows as a plain-text table. */
export function bufferTable(rows: BufferBenchRow[]): string {
  return table(
    ['synchronous / ingest', 'ingest readings/s', 'drain records/s', 'written/payload B: ingest', 'drain', 'ingest+drain'],
    rows.map((row) => [`${row.synchronous} ${row.ingest}`, rate(row.ingestPerSecond), rate(row.drainPerSecond), ratio(row.writtenIngest), ratio(row.writtenDrain), ratio(row.writtenTotal)]),
  );
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      readings: { type: 'string', default: '200000' },
      'record-bytes': { type: 'string', default: '100' },
      batch: { type: 'string', default: '500' },
      window: { type: 'string', default: '1000' },
      dir: { type: 'string' },
    },
  });
  const base = args.dir ?? (await mkdtemp(join(tmpdir(), 'rivulet-buffer-bench-')));
  const options: BufferBenchOptions = {
    readings: Number(args.readings),
    recordBytes: Number(args['record-bytes']),
    batch: Number(args.batch),
    window: Number(args.window),
    modes: ['FULL', 'NORMAL'],
    dir: base,
  };
  try {
    console.log(`Rivulet ${describeBufferBench(options)}\n`);
    console.log(bufferTable(await measureBuffer(options)));
    console.log('\ntargets: ≥ 20,000 readings/s buffered, ≥ 20,000 records/s drained, ≤ 3 bytes written per payload byte');
  } finally {
    if (!args.dir) rmSync(base, { recursive: true, force: true });
  }
}

// Run as a program (node dist/bench/agent/buffer.js), not when bench/agent/run.ts imports it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
