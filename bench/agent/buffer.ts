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
import { parseArgs } from 'node:util';
import { RecordBuffer, type BufferInput, type RecordBufferOptions, type SynchronousMode } from '../../agent/buffer/index.js';
import { table } from '../lib/stats.js';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '200000' },
    'record-bytes': { type: 'string', default: '100' },
    batch: { type: 'string', default: '500' },
    window: { type: 'string', default: '1000' },
    dir: { type: 'string' },
  },
});
const READINGS = Number(args.readings);
const RECORD_BYTES = Number(args['record-bytes']);
const BATCH = Number(args.batch);
/** Appends of single readings each source keeps in flight (a serial reader does not wait for the disk). */
const WINDOW = Number(args.window);
const SOURCES = ['dsmr', 'gps', 'modbus', 'line'];
const DRAIN_BATCH = 500;

interface IoCounters {
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

/** A reading like the agent's: JSON, padded to RECORD_BYTES. */
function reading(source: string, index: number): BufferInput {
  const timestamp = Date.now();
  const json = JSON.stringify({ deviceId: 'rig-1', source, ts: timestamp, values: { power_kw: (index % 1000) / 100, import_kwh: 1234.567 + index } });
  const data = Buffer.alloc(RECORD_BYTES, 0x20);
  data.write(json.slice(0, RECORD_BYTES));
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

/** Each source appends single readings, keeping WINDOW appends in flight. */
async function ingestSingles(buffer: RecordBuffer): Promise<number> {
  const perSource = Math.ceil(READINGS / SOURCES.length);
  const started = performance.now();
  await Promise.all(
    SOURCES.map(async (source) => {
      const inFlight = new Set<Promise<unknown>>();
      for (let index = 0; index < perSource; index++) {
        const append = buffer.append(source, [reading(source, index)]).then((result) => {
          if (result.accepted !== 1) throw new Error('reading not accepted');
          inFlight.delete(append);
        });
        inFlight.add(append);
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }),
  );
  return (perSource * SOURCES.length) / ((performance.now() - started) / 1000);
}

/** Each source appends batches of BATCH readings, one batch in flight. */
async function ingestBatches(buffer: RecordBuffer): Promise<number> {
  const batches = Math.ceil(READINGS / SOURCES.length / BATCH);
  const started = performance.now();
  await Promise.all(
    SOURCES.map(async (source) => {
      for (let batch = 0; batch < batches; batch++) {
        const records = Array.from({ length: BATCH }, (_, index) => reading(source, batch * BATCH + index));
        const result = await buffer.append(source, records);
        if (result.accepted !== BATCH) throw new Error('batch not accepted');
      }
    }),
  );
  return (batches * BATCH * SOURCES.length) / ((performance.now() - started) / 1000);
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
  base: string,
  synchronous: SynchronousMode,
  ingest: (buffer: RecordBuffer) => Promise<number>,
): Promise<{ ingest: Figures; drain: Figures; lifecycle: IoCounters }> {
  const dir = await mkdtemp(join(base, `${synchronous.toLowerCase()}-`));
  try {
    let start = io();
    let buffer = await RecordBuffer.open(options(dir, synchronous));
    const ingestRate = await ingest(buffer);
    const stats = await buffer.stats();
    await buffer.close();
    const ingestIo = since(start);
    const payloadBytes = stats.backlogRecords * RECORD_BYTES;

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
async function mixedScenario(base: string, synchronous: SynchronousMode): Promise<{ ingest: number; drain: number; io: IoCounters; payloadBytes: number }> {
  const dir = await mkdtemp(join(base, `${synchronous.toLowerCase()}-mixed-`));
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
    const ingestRate = await ingestSingles(buffer);
    ingesting = false;
    await drainer;
    const drainRate = drained / ((performance.now() - started) / 1000);
    await buffer.close();
    return { ingest: ingestRate, drain: drainRate, io: since(start), payloadBytes: drained * RECORD_BYTES };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const perPayload = (bytes: number, payload: number) => (bytes / payload).toFixed(2);
const rate = (value: number) => Math.round(value).toLocaleString('en-US');

async function main(): Promise<void> {
  const base = args.dir ?? (await mkdtemp(join(tmpdir(), 'rivulet-buffer-bench-')));
  console.log(`Rivulet agent buffer: ${READINGS} readings of ${RECORD_BYTES} bytes (partition keys of 6–8 bytes), ${SOURCES.length} sources`);
  console.log(`singles: each source keeps ${WINDOW} single-reading appends in flight; batches: ${BATCH} readings per append, one in flight per source`);
  console.log(`drain: peek(${DRAIN_BATCH}) + remove until empty, after the ingest (reopened) or while it runs ("at once": drain rate over the whole run)`);
  console.log('disk: /proc/self/io write_bytes (wchar in brackets) over open → work → close, per payload byte\n');
  const rows: string[][] = [];
  for (const synchronous of ['FULL', 'NORMAL'] as const) {
    for (const [label, ingest] of [
      ['singles', ingestSingles],
      ['batches', ingestBatches],
    ] as const) {
      const result = await scenario(base, synchronous, ingest);
      rows.push([
        `${synchronous} ${label}`,
        rate(result.ingest.perSecond),
        rate(result.drain.perSecond),
        `${perPayload(result.ingest.io.writeBytes, result.ingest.payloadBytes)} (${perPayload(result.ingest.io.wchar, result.ingest.payloadBytes)})`,
        `${perPayload(result.drain.io.writeBytes, result.drain.payloadBytes)} (${perPayload(result.drain.io.wchar, result.drain.payloadBytes)})`,
        `${perPayload(result.lifecycle.writeBytes, result.ingest.payloadBytes)} (${perPayload(result.lifecycle.wchar, result.ingest.payloadBytes)})`,
      ]);
    }
    const mixed = await mixedScenario(base, synchronous);
    rows.push([
      `${synchronous} singles + drain at once`,
      rate(mixed.ingest),
      rate(mixed.drain),
      '',
      '',
      `${perPayload(mixed.io.writeBytes, mixed.payloadBytes)} (${perPayload(mixed.io.wchar, mixed.payloadBytes)})`,
    ]);
  }
  console.log(
    table(['synchronous / ingest', 'ingest readings/s', 'drain records/s', 'written/payload B: ingest', 'drain', 'ingest+drain'], rows),
  );
  console.log('\ntargets: ≥ 20,000 readings/s buffered, ≥ 20,000 records/s drained, ≤ 3 bytes written per payload byte');
  if (!args.dir) rmSync(base, { recursive: true, force: true });
}

await main();
