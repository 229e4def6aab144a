// The agent's store-and-forward buffer (agent/buffer): order and priorities, both on-full
// strategies against a reference model (exact byte bounds and counters, with concurrent appends
// sharing commits and close/reopen in between), age expiry, sequences across restarts,
// peek/remove including out-of-order acknowledgements, sources leaving the configuration, the
// file staying small while records churn through it, and a real kill -9 of a writing process.

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database } from '../../lib/sqlite.js';
import {
  BufferClosedError,
  BufferLockedError,
  RecordBuffer,
  UnknownSourceError,
  type BufferedRecord,
  type BufferInput,
  type BufferSourceOptions,
  type RecordBufferOptions,
} from '../../agent/buffer/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = dirname(dirname(here));
const CRASH_WRITER = join(here, 'fixtures', 'buffer-crash-writer.ts');

async function bufferPath(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-buffer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'data', 'buffer.sqlite');
}

/** Opens a buffer that the test closes at the end (unless the test closed it). */
async function open(t: ExecutionContext, options: RecordBufferOptions): Promise<RecordBuffer> {
  const buffer = await RecordBuffer.open(options);
  t.teardown(() => buffer.close());
  return buffer;
}

const reading = (partitionKey: string, data: string | Buffer, timestamp = 1_700_000_000_000): BufferInput => ({
  partitionKey,
  data: typeof data === 'string' ? Buffer.from(data) : data,
  timestamp,
});

/** Everything buffered, in peek order. */
const everything = (buffer: RecordBuffer) => buffer.peek(1_000_000, Infinity);

/** A small deterministic PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (((value ^ (value >>> 14)) >>> 0) / 4294967296) * below;
  };
}

test('peek: highest priority first, oldest first within a priority, merged across sources', async (t) => {
  const path = await bufferPath(t);
  const buffer = await open(t, {
    path,
    maxBytes: 1 << 20,
    sources: [
      { name: 'low', stream: 'bulk', priority: 1, onFull: 'drop-oldest' },
      { name: 'meter', stream: 'meters', priority: 5, onFull: 'reject-new' },
      { name: 'alarm', stream: 'alarms', priority: 5, onFull: 'reject-new' },
    ],
  });
  await buffer.append('low', [reading('l', 'l1'), reading('l', 'l2')]);
  await buffer.append('meter', [reading('m', 'm1')]);
  await buffer.append('alarm', [reading('a', 'a1')]);
  await Promise.all([buffer.append('meter', [reading('m', 'm2')]), buffer.append('low', [reading('l', 'l3')]), buffer.append('alarm', [reading('a', 'a2')])]);

  const batch = await everything(buffer);
  t.deepEqual(
    batch.map((record) => record.data.toString()),
    ['m1', 'a1', 'm2', 'a2', 'l1', 'l2', 'l3'],
  );
  t.deepEqual(
    batch.map((record) => record.stream),
    ['meters', 'alarms', 'meters', 'alarms', 'bulk', 'bulk', 'bulk'],
  );
  const sequences = batch.map((record) => record.sequence);
  t.deepEqual(
    sequences.slice(0, 4),
    [...sequences.slice(0, 4)].sort((a, b) => a - b),
  );
  t.deepEqual(
    batch.map((record) => record.sequence).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7],
  );
  t.is(batch[0]!.timestamp, 1_700_000_000_000);
  t.is(batch[0]!.source, 'meter');

  // The limit cuts the merged order.
  t.deepEqual(
    (await buffer.peek(3)).map((record) => record.data.toString()),
    ['m1', 'a1', 'm2'],
  );
  // Peeking does not consume.
  t.is((await everything(buffer)).length, 7);
});

test('peek merges in sequence order across more sources than one statement covers', async (t) => {
  const sources = Array.from({ length: 35 }, (_, index): BufferSourceOptions => ({ name: `s${index}`, stream: 's', priority: 0, onFull: 'reject-new' }));
  const buffer = await open(t, { path: await bufferPath(t), maxBytes: 1 << 20, sources });
  for (let round = 0; round < 2; round++) {
    for (const { name } of [...sources].reverse()) await buffer.append(name, [reading('k', `${name}/${round}`)]);
  }
  const all = await everything(buffer);
  t.is(all.length, 70);
  t.deepEqual(
    all.map((record) => record.sequence),
    Array.from({ length: 70 }, (_, index) => index + 1),
  );
  t.deepEqual(
    (await buffer.peek(3)).map((record) => record.data.toString()),
    ['s34/0', 's33/0', 's32/0'],
  );
});

test('peek never lets a later record of a (source, partition key) overtake one that did not fit', async (t) => {
  const buffer = await open(t, {
    path: await bufferPath(t),
    maxBytes: 1 << 20,
    sources: [
      { name: 'a', stream: 's', priority: 0, onFull: 'reject-new' },
      { name: 'b', stream: 's', priority: 0, onFull: 'reject-new' },
    ],
  });
  await buffer.append('a', [reading('k1', Buffer.alloc(100, 1)), reading('k1', Buffer.alloc(500, 2)), reading('k1', Buffer.alloc(10, 3)), reading('k2', Buffer.alloc(10, 4))]);
  await buffer.append('b', [reading('k1', Buffer.alloc(10, 5))]);
  // 102 + 502 does not fit in 300 bytes: the 500-byte record of a/k1 stays behind, and so does the
  // small a/k1 after it; a/k2 and b/k1 (another source) still fill the batch.
  const batch = await buffer.peek(500, 300);
  t.deepEqual(
    batch.map((record) => [record.source, record.partitionKey, record.data[0]]),
    [
      ['a', 'k1', 1],
      ['a', 'k2', 4],
      ['b', 'k1', 5],
    ],
  );
  // A record larger than maxBytes still comes out, alone, so the queue never stalls.
  await buffer.remove(batch.map((record) => record.sequence));
  const next = await buffer.peek(500, 300);
  t.deepEqual(
    next.map((record) => record.data.length),
    [500],
  );
});

test('records round-trip byte-exact: binary and empty payloads, non-ASCII keys counted in UTF-8 bytes', async (t) => {
  const buffer = await open(t, { path: await bufferPath(t), maxBytes: 1 << 20, sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'reject-new' }] });
  const binary = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
  await buffer.append('a', [reading('zähler-1', Buffer.alloc(0)), reading('k', Buffer.alloc(0))]); // nothing but empty payloads
  await buffer.append('a', [reading('zähler-1', binary, 1), reading('🔌', Buffer.alloc(0), 2), reading('k"\\\n', binary.subarray(7, 9), 3)]);
  const all = await everything(buffer);
  t.deepEqual(
    all.map((record) => [record.partitionKey, record.data.toString('hex'), Buffer.isBuffer(record.data)]),
    [
      ['zähler-1', '', true],
      ['k', '', true],
      ['zähler-1', binary.toString('hex'), true],
      ['🔌', '', true],
      ['k"\\\n', '0708', true],
    ],
  );
  t.deepEqual(
    all.map((record) => record.timestamp),
    [1_700_000_000_000, 1_700_000_000_000, 1, 2, 3],
  );
  // 'zähler-1' is 9 UTF-8 bytes, the plug 4.
  t.is((await buffer.stats()).backlogBytes, 9 + 1 + 9 + 256 + 4 + 4 + 2);
});

test('reject-new: the byte bound holds exactly and counters add up', async (t) => {
  const buffer = await open(t, {
    path: await bufferPath(t),
    maxBytes: 1000,
    sources: [
      { name: 'meter', stream: 's', priority: 0, onFull: 'reject-new' },
      { name: 'gps', stream: 's', priority: 0, onFull: 'reject-new', maxBytes: 300 },
    ],
  });
  // 98 bytes of data + a 2-byte key = 100 bytes each.
  const hundred = (index: number) => reading('k1', Buffer.alloc(98, index));
  const first = await buffer.append('meter', Array.from({ length: 8 }, (_, index) => hundred(index)));
  t.like(first, { accepted: 8, rejected: 0, dropped: 0 });
  const gps = await buffer.append('gps', Array.from({ length: 4 }, (_, index) => hundred(index)));
  t.like(gps, { accepted: 2, rejected: 2, dropped: 0 }); // the global bound: 800 + 200 = 1000
  t.deepEqual(gps.sequences, [9, 10, null, null]);
  const full = await buffer.append('meter', [hundred(9), reading('x', Buffer.alloc(0))]);
  t.like(full, { accepted: 0, rejected: 2, dropped: 0 });

  let stats = await buffer.stats();
  t.is(stats.backlogBytes, 1000);
  t.like(stats.sources[0], { name: 'meter', backlogRecords: 8, backlogBytes: 800, accepted: 8, rejected: 2, dropped: 0 });
  t.like(stats.sources[1], { name: 'gps', backlogRecords: 2, backlogBytes: 200, accepted: 2, rejected: 2, dropped: 0 });

  // gps has its own bound of 300 bytes: with room in the buffer, only one more fits.
  await buffer.remove((await buffer.peek(5)).map((record) => record.sequence));
  const own = await buffer.append('gps', [hundred(1), hundred(2)]);
  t.like(own, { accepted: 1, rejected: 1 });
  stats = await buffer.stats();
  t.like(stats.sources[1], { backlogBytes: 300, backlogRecords: 3 });
  t.is(stats.backlogBytes, 600);
  // A record bigger than the bound is rejected, not an error.
  t.like(await buffer.append('gps', [reading('k1', Buffer.alloc(400))]), { accepted: 0, rejected: 1 });
});

test('drop-oldest: evicts the oldest of the lowest priority first, never a higher priority, counting per source', async (t) => {
  const buffer = await open(t, {
    path: await bufferPath(t),
    maxBytes: 1000,
    sources: [
      { name: 'important', stream: 's', priority: 9, onFull: 'drop-oldest' },
      { name: 'bulk', stream: 's', priority: 1, onFull: 'drop-oldest' },
      { name: 'chatty', stream: 's', priority: 1, onFull: 'drop-oldest', maxBytes: 400 },
    ],
  });
  const hundred = (tag: number) => reading('kk'.slice(0, 2), Buffer.alloc(98, tag));
  await buffer.append('bulk', [hundred(1), hundred(2), hundred(3)]); // seq 1-3
  await buffer.append('chatty', [hundred(4), hundred(5), hundred(6), hundred(7)]); // seq 4-7, at its own 400
  await buffer.append('important', [hundred(8), hundred(9), hundred(10)]); // seq 8-10: 1000 in all

  // chatty over its own bound: only its own oldest goes.
  const own = await buffer.append('chatty', [hundred(11)]);
  t.like(own, { accepted: 1, dropped: 1 });
  // important needs room: the lowest priority class loses its oldest (bulk 1, then chatty 5 is
  // younger than bulk 2 — so bulk 2).
  const room = await buffer.append('important', [hundred(12), hundred(13)]);
  t.like(room, { accepted: 2, dropped: 2 });
  // bulk may not evict important: with only priority-1 records evictable it takes from its class.
  const low = await buffer.append('bulk', [hundred(14)]);
  t.like(low, { accepted: 1, dropped: 1 });

  const left = await everything(buffer);
  t.deepEqual(
    left.map((record) => record.data[0]),
    [8, 9, 10, 12, 13, 5, 6, 7, 11, 14],
  );
  const stats = await buffer.stats();
  t.is(stats.backlogBytes, 1000);
  t.like(stats.sources.find((source) => source.name === 'bulk'), { backlogRecords: 1, backlogBytes: 100, accepted: 4, dropped: 3 });
  t.like(stats.sources.find((source) => source.name === 'chatty'), { backlogRecords: 4, backlogBytes: 400, accepted: 5, dropped: 1 });
  t.like(stats.sources.find((source) => source.name === 'important'), { backlogRecords: 5, backlogBytes: 500, accepted: 5, dropped: 0 });

  // A low-priority record that could only fit by evicting higher priorities is rejected: bulk
  // and chatty hold 500 bytes, a 600-byte record does not fit in what they may give up.
  const tooBig = await buffer.append('bulk', [reading('kk', Buffer.alloc(598))]);
  t.like(tooBig, { accepted: 0, rejected: 1, dropped: 0 });
  t.like((await buffer.stats()).sources.find((source) => source.name === 'bulk'), { backlogRecords: 1, rejected: 1 });
  t.is((await buffer.stats()).backlogBytes, 1000);
});

test('drop-oldest within one commit: concurrent appends evict each other, the bound holds', async (t) => {
  const buffer = await open(t, {
    path: await bufferPath(t),
    maxBytes: 1000,
    sources: [{ name: 'burst', stream: 's', priority: 0, onFull: 'drop-oldest' }],
  });
  const results = await Promise.all(Array.from({ length: 50 }, (_, index) => buffer.append('burst', [reading('kk', Buffer.alloc(98, index))])));
  t.is(
    results.reduce((sum, result) => sum + result.accepted, 0),
    50,
  );
  t.is(
    results.reduce((sum, result) => sum + result.dropped, 0),
    40,
  );
  const left = await everything(buffer);
  t.deepEqual(
    left.map((record) => record.data[0]),
    Array.from({ length: 10 }, (_, index) => 40 + index),
  );
  // A sequence is reported only for a record that is in the buffer.
  const reported = results.flatMap((result) => result.sequences).filter((sequence) => sequence !== null);
  t.true(left.every((record) => reported.includes(record.sequence)));
  t.like((await buffer.stats()).sources[0], { backlogRecords: 10, backlogBytes: 1000, accepted: 50, dropped: 40 });
});

// ---------------------------------------------------------------------------------------------
// The reference model: the buffer's admission rules, written as plainly as possible.

interface ModelRecord {
  sequence: number;
  source: string;
  partitionKey: string;
  data: Buffer;
  size: number;
}

class BufferModel {
  live: ModelRecord[] = [];
  nextSequence = 1;
  readonly counters = new Map<string, { accepted: number; rejected: number; dropped: number; removed: number }>();

  constructor(
    readonly maxBytes: number,
    readonly sources: BufferSourceOptions[],
  ) {
    for (const source of sources) this.counters.set(source.name, { accepted: 0, rejected: 0, dropped: 0, removed: 0 });
  }

  private source(name: string): BufferSourceOptions {
    return this.sources.find((source) => source.name === name)!;
  }

  bytes(filter: (record: ModelRecord) => boolean = () => true): number {
    return this.live.filter(filter).reduce((sum, record) => sum + record.size, 0);
  }

  private evict(victim: ModelRecord): number {
    this.live = this.live.filter((record) => record !== victim);
    this.counters.get(victim.source)!.dropped++;
    return victim.size;
  }

  append(name: string, records: BufferInput[]): { accepted: number; rejected: number; dropped: number; sequences: (number | null)[] } {
    const source = this.source(name);
    const own = Math.min(source.maxBytes ?? this.maxBytes, this.maxBytes);
    const counters = this.counters.get(name)!;
    const result = { accepted: 0, rejected: 0, dropped: 0, sequences: [] as (number | null)[] };
    for (const record of records) {
      const size = record.data.length + Buffer.byteLength(record.partitionKey);
      let ownNeed = this.bytes((entry) => entry.source === name) + size - own;
      let need = this.bytes() + size - this.maxBytes;
      const evictable = this.bytes((entry) => this.source(entry.source).priority <= source.priority);
      if (size > own || ((ownNeed > 0 || need > 0) && (source.onFull === 'reject-new' || need > evictable))) {
        counters.rejected++;
        result.rejected++;
        result.sequences.push(null);
        continue;
      }
      while (ownNeed > 0) {
        const freed = this.evict(this.live.find((entry) => entry.source === name)!);
        ownNeed -= freed;
        need -= freed;
        result.dropped++;
      }
      while (need > 0) {
        const victims = this.live
          .filter((entry) => this.source(entry.source).priority <= source.priority)
          .sort((a, b) => this.source(a.source).priority - this.source(b.source).priority || a.sequence - b.sequence);
        need -= this.evict(victims[0]!);
        result.dropped++;
      }
      const sequence = this.nextSequence++;
      this.live.push({ sequence, source: name, partitionKey: record.partitionKey, data: Buffer.from(record.data), size });
      counters.accepted++;
      result.accepted++;
      result.sequences.push(sequence);
    }
    return result;
  }

  remove(sequences: number[]): void {
    for (const sequence of sequences) {
      const record = this.live.find((entry) => entry.sequence === sequence);
      if (!record) continue;
      this.live = this.live.filter((entry) => entry !== record);
      this.counters.get(record.source)!.removed++;
    }
  }

  /** The records in peek order. */
  peekOrder(): ModelRecord[] {
    return [...this.live].sort((a, b) => this.source(b.source).priority - this.source(a.source).priority || a.sequence - b.sequence);
  }
}

async function assertMatchesModel(t: ExecutionContext, buffer: RecordBuffer, model: BufferModel, step: string): Promise<void> {
  const stats = await buffer.stats();
  t.true(stats.backlogBytes <= model.maxBytes, `${step}: backlog ${stats.backlogBytes} exceeds ${model.maxBytes}`);
  for (const source of model.sources) {
    const actual = stats.sources.find((entry) => entry.name === source.name)!;
    const counters = model.counters.get(source.name)!;
    const live = model.live.filter((record) => record.source === source.name);
    if (source.maxBytes !== undefined) t.true(actual.backlogBytes <= source.maxBytes, `${step}: ${source.name} over its bound`);
    const expected = {
      backlogRecords: live.length,
      backlogBytes: live.reduce((sum, record) => sum + record.size, 0),
      accepted: counters.accepted,
      rejected: counters.rejected,
      dropped: counters.dropped,
      removed: counters.removed,
    };
    const { backlogRecords, backlogBytes, accepted, rejected, dropped, removed } = actual;
    if (JSON.stringify({ backlogRecords, backlogBytes, accepted, rejected, dropped, removed }) !== JSON.stringify(expected)) {
      t.deepEqual({ backlogRecords, backlogBytes, accepted, rejected, dropped, removed }, expected, `${step}: ${source.name} counters`);
    }
  }
  const actual = (await everything(buffer)).map((record) => `${record.sequence}/${record.source}/${record.partitionKey}/${record.data.toString('hex')}`);
  const expected = model.peekOrder().map((record) => `${record.sequence}/${record.source}/${record.partitionKey}/${record.data.toString('hex')}`);
  if (JSON.stringify(actual) !== JSON.stringify(expected)) t.deepEqual(actual, expected, `${step}: contents`);
}

for (const seed of [1, 2, 3]) {
  test(`both strategies match the reference model: bounds, evictions, counters, contents (seed ${seed})`, async (t) => {
    const random = prng(seed);
    const path = await bufferPath(t);
    const sources: BufferSourceOptions[] = [
      { name: 'dsmr', stream: 'meters', priority: 5, onFull: 'reject-new', maxBytes: 3000 },
      { name: 'gps', stream: 'positions', priority: 0, onFull: 'drop-oldest' },
      { name: 'modbus', stream: 'meters', priority: 5, onFull: 'drop-oldest', maxBytes: 4000 },
      { name: 'line', stream: 'misc', priority: 0, onFull: 'drop-oldest', maxBytes: 2500 },
    ];
    const options: RecordBufferOptions = { path, maxBytes: 8000, sources };
    const model = new BufferModel(options.maxBytes, sources);
    let buffer = await RecordBuffer.open(options);
    t.teardown(() => buffer.close());
    let serial = 0;
    const makeRecords = () =>
      Array.from({ length: 1 + Math.floor(random(12)) }, () =>
        reading(
          ['a', 'b', 'ünï', 'k'.repeat(1 + Math.floor(random(20)))][Math.floor(random(4))]!,
          Buffer.concat([Buffer.from(`${serial++}:`), Buffer.alloc(Math.floor(random(random(10) < 1 ? 1500 : 300)), serial % 251)]),
        ),
      );

    for (let step = 0; step < 120; step++) {
      const action = random(10);
      if (action < 6) {
        // A burst of concurrent appends: they share commits, their decisions keep call order.
        const appends = Array.from({ length: 1 + Math.floor(random(6)) }, () => ({ source: sources[Math.floor(random(sources.length))]!.name, records: makeRecords() }));
        const results = await Promise.all(appends.map(({ source, records }) => buffer.append(source, records)));
        const expectations = appends.map(({ source, records }) => model.append(source, records));
        appends.forEach((_, index) => {
          const expected = expectations[index]!;
          const { accepted, rejected, dropped } = results[index]!;
          t.deepEqual({ accepted, rejected, dropped }, { accepted: expected.accepted, rejected: expected.rejected, dropped: expected.dropped }, `step ${step}`);
          results[index]!.sequences.forEach((sequence, position) => {
            const modelled = expected.sequences[position]!;
            // null: rejected, or evicted again by a later append of the same commit.
            if (sequence !== null) t.is(sequence as number | null, modelled, `step ${step}: sequence`);
            else if (modelled !== null) t.false(model.live.some((record) => record.sequence === modelled), `step ${step}: null for a live record`);
          });
        });
      } else if (action < 8.5) {
        // An upload: the peeked batch acknowledged whole, or partly (a partial failure).
        const batch = await buffer.peek(1 + Math.floor(random(40)), 200 + Math.floor(random(4000)));
        const whole = random(2) < 1;
        const acknowledged = batch.filter(() => whole || random(10) < 6).map((record) => record.sequence);
        await buffer.remove(acknowledged);
        model.remove(acknowledged);
      } else if (action < 9.3) {
        await buffer.close();
        buffer = await RecordBuffer.open(options);
      } else {
        // Acknowledgements of sequences this process never peeked (e.g. after a restart), some gone.
        const sequences = Array.from({ length: 1 + Math.floor(random(10)) }, () => 1 + Math.floor(random(model.nextSequence)));
        await buffer.remove(sequences);
        model.remove(sequences);
      }
      await assertMatchesModel(t, buffer, model, `step ${step}`);
    }
    t.true(
      model.counters.get('gps')!.dropped + model.counters.get('line')!.dropped + model.counters.get('modbus')!.dropped > 0,
      'the workload evicted records',
    );
    t.true(model.counters.get('dsmr')!.rejected > 0, 'the workload rejected records');
  });
}

test('records older than maxAgeMs expire at the next write or drain, counted as expired', async (t) => {
  let now = 1_000_000;
  const options: RecordBufferOptions = {
    path: await bufferPath(t),
    maxBytes: 1 << 20,
    maxAgeMs: 10_000,
    now: () => now,
    sources: [
      { name: 'a', stream: 's', priority: 0, onFull: 'drop-oldest' },
      { name: 'b', stream: 's', priority: 0, onFull: 'drop-oldest' },
    ],
  };
  let buffer = await RecordBuffer.open(options);
  t.teardown(() => buffer.close());
  await buffer.append('a', [reading('k', 'a-old-1'), reading('k', 'a-old-2')]);
  await buffer.append('b', [reading('k', 'b-old')]);
  now += 6_000;
  await buffer.append('a', [reading('k', 'a-new')]);
  now += 2_000;
  let stats = await buffer.stats();
  t.is(stats.sources[0]!.oldestAgeMs, 8_000);

  // Just over 10 s after the first appends: a drain (peek) expires them first.
  now += 2_001;
  t.deepEqual(
    (await everything(buffer)).map((record) => record.data.toString()),
    ['a-new'],
  );
  stats = await buffer.stats();
  t.like(stats.sources[0], { backlogRecords: 1, expired: 2, oldestAgeMs: 4_001 });
  t.like(stats.sources[1], { backlogRecords: 0, backlogBytes: 0, expired: 1, oldestAgeMs: null });

  // A write expires too, and the counters survive a restart.
  await buffer.close();
  buffer = await RecordBuffer.open(options);
  now += 6_000;
  await buffer.append('b', [reading('k', 'b-new')]);
  stats = await buffer.stats();
  t.like(stats.sources[0], { backlogRecords: 0, expired: 3, accepted: 3 });
  t.like(stats.sources[1], { backlogRecords: 1, expired: 1, accepted: 2 });

  // The buffer's clock never goes backwards: a clock stepped back does not make records younger.
  now -= 60_000;
  stats = await buffer.stats();
  t.is(stats.sources[1]!.oldestAgeMs, 0);
});

test('sequences keep increasing across close and reopen, even when the buffer was emptied', async (t) => {
  const options: RecordBufferOptions = { path: await bufferPath(t), maxBytes: 1 << 20, sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'reject-new' }] };
  let buffer = await RecordBuffer.open(options);
  const first = await buffer.append('a', [reading('k', '1'), reading('k', '2'), reading('k', '3')]);
  t.deepEqual(first.sequences, [1, 2, 3]);
  await buffer.remove([1, 2, 3]);
  t.is((await buffer.stats()).backlogRecords, 0);
  await buffer.close();

  buffer = await RecordBuffer.open(options);
  const second = await buffer.append('a', [reading('k', '4')]);
  t.deepEqual(second.sequences, [4]);
  await buffer.close();

  // Another source added later continues the same sequence space.
  buffer = await RecordBuffer.open({ ...options, sources: [...options.sources, { name: 'b', stream: 's', priority: 0, onFull: 'reject-new' }] });
  t.teardown(() => buffer.close());
  t.deepEqual((await buffer.append('b', [reading('k', '5')])).sequences, [5]);
  t.deepEqual((await buffer.append('a', [reading('k', '6')])).sequences, [6]);
  t.deepEqual(
    (await everything(buffer)).map((record) => record.sequence),
    [4, 5, 6],
  );
});

test('remove: acknowledged records go, in any order, durably; unknown and repeated sequences are ignored', async (t) => {
  const options: RecordBufferOptions = {
    path: await bufferPath(t),
    maxBytes: 1 << 20,
    sources: [
      { name: 'a', stream: 's', priority: 0, onFull: 'reject-new' },
      { name: 'b', stream: 's', priority: 0, onFull: 'reject-new' },
    ],
  };
  let buffer = await RecordBuffer.open(options);
  t.teardown(() => buffer.close());
  await buffer.append('a', Array.from({ length: 10 }, (_, index) => reading('k', `a${index}`)));
  await buffer.append('b', Array.from({ length: 10 }, (_, index) => reading('k', `b${index}`)));
  const batch = await buffer.peek(8);
  t.deepEqual(
    batch.map((record) => record.data.toString()),
    ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'],
  );
  // A partial failure: a2 and a5 failed, the rest were acknowledged.
  await buffer.remove(batch.filter((record) => !['a2', 'a5'].includes(record.data.toString())).map((record) => record.sequence));
  t.deepEqual(
    (await buffer.peek(4)).map((record) => record.data.toString()),
    ['a2', 'a5', 'a8', 'a9'],
  );
  await buffer.remove([9999, batch[0]!.sequence, batch[0]!.sequence]);
  t.like((await buffer.stats()).sources[0], { backlogRecords: 4, removed: 6 });

  await buffer.close();
  buffer = await RecordBuffer.open(options);
  // Sequences this process never peeked (the uploader may remember them across a restart):
  // a5 (out of order), b1 and b0 (the oldest of b).
  await buffer.remove([batch[5]!.sequence, 12, 11]);
  t.deepEqual(
    (await everything(buffer)).map((record) => record.data.toString()),
    ['a2', 'a8', 'a9', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9'],
  );
  const stats = await buffer.stats();
  t.like(stats.sources[0], { backlogRecords: 3, backlogBytes: 9, removed: 7 });
  t.like(stats.sources[1], { backlogRecords: 8, backlogBytes: 24, removed: 2 });
});

test('the file stays small while many times its bound churns through it', async (t) => {
  const path = await bufferPath(t);
  const buffer = await open(t, {
    path,
    maxBytes: 64 * 1024,
    sources: [
      { name: 'a', stream: 's', priority: 0, onFull: 'drop-oldest' },
      { name: 'b', stream: 's', priority: 0, onFull: 'drop-oldest' },
    ],
  });
  const data = Buffer.alloc(200, 7);
  for (let round = 0; round < 40; round++) {
    // 2 × 50 KiB per round: the sources evict each other...
    await Promise.all(['a', 'b'].map((source) => buffer.append(source, Array.from({ length: 256 }, () => reading('key', data)))));
    // ...and every other round an upload drains part of it.
    if (round % 2 === 1) await buffer.remove((await buffer.peek(200)).map((record) => record.sequence));
  }
  const stats = await buffer.stats();
  t.true(stats.backlogBytes <= 64 * 1024);
  t.is(stats.backlogRecords * 203, stats.backlogBytes);
  await buffer.close();
  // 4 MiB went through; the file (checkpointed at close) holds the backlog, the dead rows of
  // partly consumed segments and a few pages per table.
  const { size } = await stat(path);
  t.true(size < 400 * 1024, `file is ${size} bytes`);
});

test('a source that left the configuration keeps draining to its stream, then is forgotten', async (t) => {
  const path = await bufferPath(t);
  let buffer = await RecordBuffer.open({
    path,
    maxBytes: 1 << 20,
    sources: [
      { name: 'old', stream: 'legacy', priority: 3, onFull: 'reject-new' },
      { name: 'meter', stream: 'v1', priority: 0, onFull: 'reject-new' },
    ],
  });
  await buffer.append('old', [reading('k', 'o1')]);
  await buffer.append('meter', [reading('k', 'm1')]);
  await buffer.close();

  // 'old' is gone, 'meter' now goes to another stream: its buffered record still goes to v1.
  const options: RecordBufferOptions = { path, maxBytes: 1 << 20, sources: [{ name: 'meter', stream: 'v2', priority: 0, onFull: 'reject-new' }] };
  buffer = await RecordBuffer.open(options);
  await t.throwsAsync(buffer.append('old', [reading('k', 'x')]), { instanceOf: UnknownSourceError });
  await buffer.append('meter', [reading('k', 'm2')]);
  const all = await everything(buffer);
  t.deepEqual(
    all.map((record) => [record.source, record.stream, record.data.toString()]),
    [
      ['old', 'legacy', 'o1'],
      ['meter', 'v1', 'm1'],
      ['meter', 'v2', 'm2'],
    ],
  );
  let stats = await buffer.stats();
  t.deepEqual(
    stats.sources.map((source) => [source.name, source.stream, source.configured]),
    [
      ['meter', 'v2', true],
      ['old', 'legacy', false],
      ['meter', 'v1', false],
    ],
  );
  await buffer.remove(all.slice(0, 2).map((record) => record.sequence));
  await buffer.close();
  buffer = await RecordBuffer.open(options);
  t.teardown(() => buffer.close());
  stats = await buffer.stats();
  t.deepEqual(
    stats.sources.map((source) => [source.name, source.stream]),
    [['meter', 'v2']],
  );
  t.deepEqual((await buffer.append('meter', [reading('k', 'm3')])).sequences, [4]);
});

test('one process owns a buffer; closed buffers and bad input fail with messages naming the field', async (t) => {
  const options: RecordBufferOptions = { path: await bufferPath(t), maxBytes: 1000, sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'reject-new' }] };
  const buffer = await RecordBuffer.open(options);
  await t.throwsAsync(RecordBuffer.open(options), { instanceOf: BufferLockedError });

  await t.throwsAsync(buffer.append('a', [{ partitionKey: '', data: Buffer.alloc(1), timestamp: 1 }]), { message: /records\[0\]\.partitionKey/ });
  await t.throwsAsync(buffer.append('a', [reading('k', 'x'), { partitionKey: 'k', data: 'text' as unknown as Buffer, timestamp: 1 }]), { message: /records\[1\]\.data/ });
  await t.throwsAsync(buffer.append('a', [{ partitionKey: 'k', data: Buffer.alloc(1), timestamp: 1.5 }]), { message: /records\[0\]\.timestamp/ });
  await t.throwsAsync(buffer.append('a', [reading('\ud800', 'x')]), { message: /partitionKey must be well-formed/ });
  await t.throwsAsync(buffer.append('a', [reading('k', Buffer.alloc(1024 * 1024))]), { message: /records\[0\] is 1048577 bytes/ });
  await t.throwsAsync(buffer.remove([0]), { message: /sequences\[0\]/ });
  await t.throwsAsync(buffer.peek(0), { message: /limit/ });
  t.is((await buffer.stats()).backlogRecords, 0, 'nothing of a rejected call was buffered');

  await buffer.close();
  await t.throwsAsync(buffer.append('a', [reading('k', 'x')]), { instanceOf: BufferClosedError });
  await buffer.close();

  const bad = (change: Partial<RecordBufferOptions>) => RecordBuffer.open({ ...options, ...change });
  await t.throwsAsync(bad({ maxBytes: 0 }), { message: /maxBytes must be a positive integer/ });
  await t.throwsAsync(bad({ synchronous: 'OFF' as 'FULL' }), { message: /synchronous/ });
  await t.throwsAsync(bad({ sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'block' as 'reject-new' }] }), { message: /sources\[0\]\.onFull/ });
  await t.throwsAsync(
    bad({
      sources: [
        { name: 'a', stream: 's', priority: 0, onFull: 'reject-new' },
        { name: 'a', stream: 't', priority: 0, onFull: 'reject-new' },
      ],
    }),
    { message: /sources\[1\]\.name "a" is used by another source/ },
  );
});

// ---------------------------------------------------------------------------------------------
// kill -9

interface CrashRun {
  /** sequence → id of every record whose append resolved. */
  acknowledged: Map<number, string>;
  /** Sequences handed to remove() (gone or not after the crash). */
  removing: Set<number>;
}

/** Runs the writer child until it has acknowledged `atLeast` records (plus a random moment), then SIGKILLs it. */
async function runAndKill(options: RecordBufferOptions, atLeast: number): Promise<CrashRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', CRASH_WRITER, JSON.stringify(options)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let acknowledgedCount = 0;
  let killScheduled = false;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stdout += text;
    acknowledgedCount += text.split('\nA ').length - 1;
    if (!killScheduled && acknowledgedCount >= atLeast) {
      killScheduled = true;
      setTimeout(() => child.kill('SIGKILL'), Math.random() * 50);
    }
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exit = await exited;
  clearTimeout(timeout);
  if (exit.signal !== 'SIGKILL' || !killScheduled) throw new Error(`the writer ended on its own (${JSON.stringify(exit)}): ${stderr}`);

  const acknowledged = new Map<number, string>();
  const removing = new Set<number>();
  // Only complete lines: the last one may have been cut by the kill.
  const lines = stdout.slice(0, stdout.lastIndexOf('\n')).split('\n');
  for (const line of lines) {
    const [kind, ...fields] = line.split(' ');
    if (kind === 'A') acknowledged.set(Number(fields[0]), fields[1]!);
    else if (kind === 'R') for (const field of fields) removing.add(Number(field));
  }
  return { acknowledged, removing };
}

test('kill -9 mid-burst, three times: the database opens and every acknowledged record is there (FULL, NORMAL, FULL)', async (t) => {
  t.timeout(120_000);
  const path = await bufferPath(t);
  const sources: BufferSourceOptions[] = [
    { name: 'dsmr', stream: 'meters', priority: 2, onFull: 'reject-new' },
    { name: 'gps', stream: 'positions', priority: 1, onFull: 'reject-new' },
    { name: 'modbus', stream: 'meters', priority: 2, onFull: 'reject-new' },
    { name: 'line', stream: 'misc', priority: 0, onFull: 'reject-new' },
  ];
  let highest = 0;
  const everAcknowledged = new Map<number, string>();
  const everRemoving = new Set<number>();
  for (const synchronous of ['FULL', 'NORMAL', 'FULL'] as const) {
    const options: RecordBufferOptions = { path, maxBytes: 1024 * 1024 * 1024, synchronous, sources };
    const run = await runAndKill(options, 20_000);
    t.true(run.acknowledged.size >= 20_000, `${synchronous}: ${run.acknowledged.size} acknowledged before the kill`);
    for (const [sequence, id] of run.acknowledged) everAcknowledged.set(sequence, id);
    for (const sequence of run.removing) everRemoving.add(sequence);

    const buffer = await RecordBuffer.open(options);
    const present = new Map<number, BufferedRecord>();
    for (const record of await everything(buffer)) present.set(record.sequence, record);
    const missing: number[] = [];
    const wrong: number[] = [];
    for (const [sequence, id] of everAcknowledged) {
      if (everRemoving.has(sequence)) continue;
      const record = present.get(sequence);
      if (!record) missing.push(sequence);
      else if (!record.data.toString('latin1').startsWith(`${id}|`)) wrong.push(sequence);
    }
    t.deepEqual(missing, [], `${synchronous}: acknowledged records missing after kill -9`);
    t.deepEqual(wrong, [], `${synchronous}: records with other data than acknowledged`);
    // Nothing removed comes back... unless its removal was cut short by the kill.
    const stats = await buffer.stats();
    t.is(stats.backlogRecords, present.size);
    t.is(
      stats.backlogBytes,
      [...present.values()].reduce((sum, record) => sum + record.data.length + Buffer.byteLength(record.partitionKey), 0),
    );

    // New sequences are above everything handed out before the crash.
    let maxBefore = 0;
    for (const sequence of [...everAcknowledged.keys(), ...present.keys()]) maxBefore = Math.max(maxBefore, sequence);
    t.true(maxBefore > highest);
    highest = maxBefore;
    const after = await buffer.append('gps', [reading('k', 'after the crash')]);
    t.true(after.sequences[0]! > maxBefore);
    await buffer.close();

    const db = await Database.open(path);
    t.deepEqual(await db.all('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
    await db.close();
  }
  t.log(`${everAcknowledged.size} records acknowledged before the three kills, ${everRemoving.size} handed to remove()`);
});
