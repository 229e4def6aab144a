// The fragment spool: durable fragment files plus their index, bounded per camera by bytes and
// age with drop-oldest or reject-new, surviving a reopen, and quarantine.

import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FragmentSpool, type NewSpooledFragment, type SpoolCamera } from '../../agent/video/spool.js';
import { tempDir } from './helpers.js';

const HOUR = 3_600_000;

/** A fragment of `size` bytes: 10-byte header, cluster, 5-byte tags, each part filled with one byte value. */
function fragment(timecodeMs: number, size = 100): NewSpooledFragment {
  return { timecodeMs, durationMs: 2000, header: new Uint8Array(10).fill(1), cluster: new Uint8Array(size - 15).fill(timecodeMs % 250), tags: new Uint8Array(5).fill(3) };
}

async function spoolWith(dir: string, camera: Partial<SpoolCamera>, now = () => 1_000_000) {
  return FragmentSpool.open({ dir, cameras: [{ name: 'cam', maxBytes: 1000, maxAgeMs: HOUR, onFull: 'drop-oldest', ...camera }], now });
}

test('drop-oldest: the byte bound holds, the oldest fragments make room, files and index agree', async (t) => {
  const dir = await tempDir(t);
  const spool = await spoolWith(dir, { onFull: 'drop-oldest' });
  t.teardown(() => spool.close());
  for (let index = 1; index <= 10; index++) t.deepEqual(await spool.add('cam', fragment(1_000_000 + index)), { spooled: true, dropped: 0 });
  t.deepEqual(await spool.add('cam', fragment(1_000_011, 250)), { spooled: true, dropped: 3 });
  const stats = spool.stats('cam');
  t.like(stats, { fragments: 8, bytes: 950, spooled: 11, dropped: 3, rejected: 0 });
  t.true(stats.bytes <= 1000);
  t.deepEqual(
    spool.list('cam').map((entry) => entry.timecodeMs - 1_000_000),
    [4, 5, 6, 7, 8, 9, 10, 11],
  );
  t.deepEqual((await readdir(join(dir, 'cam'))).sort(), spool.list('cam').map((entry) => `${entry.timecodeMs}.mkv`).sort());
  // Larger than the whole bound: refused, nothing evicted for it.
  t.deepEqual(await spool.add('cam', fragment(1_000_012, 1001)), { spooled: false, dropped: 0 });
});

test('reject-new: a full camera refuses new fragments and keeps the old ones', async (t) => {
  const dir = await tempDir(t);
  const spool = await spoolWith(dir, { onFull: 'reject-new' });
  t.teardown(() => spool.close());
  for (let index = 1; index <= 10; index++) await spool.add('cam', fragment(1_000_000 + index));
  t.deepEqual(await spool.add('cam', fragment(1_000_011)), { spooled: false, dropped: 0 });
  t.like(spool.stats('cam'), { fragments: 10, bytes: 1000, rejected: 1, dropped: 0 });
  t.is(spool.list('cam')[0]!.timecodeMs, 1_000_001);
  await spool.remove('cam', 1_000_001);
  t.deepEqual(await spool.add('cam', fragment(1_000_012)), { spooled: true, dropped: 0 });
});

test('age bound: fragments captured longer ago than maxAgeMs are expired', async (t) => {
  const dir = await tempDir(t);
  let now = 10 * HOUR;
  const spool = await spoolWith(dir, { maxAgeMs: HOUR, maxBytes: 1_000_000 }, () => now);
  t.teardown(() => spool.close());
  await spool.add('cam', fragment(now - 2 * HOUR));
  await spool.add('cam', fragment(now - HOUR / 2));
  now += HOUR / 4;
  await spool.add('cam', fragment(now));
  t.like(spool.stats('cam'), { fragments: 2, expired: 1 });
  t.deepEqual(await spool.expire('cam'), 0);
  now += 2 * HOUR;
  t.deepEqual(await spool.expire('cam'), 2);
  t.like(spool.stats('cam'), { fragments: 0, bytes: 0, oldestAgeMs: null });
});

test('reopen: spooled fragments come back byte for byte; a file without an index row is removed', async (t) => {
  const dir = await tempDir(t);
  const first = await spoolWith(dir, {});
  await first.add('cam', fragment(1_000_001));
  await first.add('cam', fragment(1_000_002, 120));
  await first.remove('cam', 1_000_001);
  await first.close();
  // What a crash between writing a file and committing its row leaves.
  await writeFile(join(dir, 'cam', '1000003.mkv'), 'half');
  const second = await spoolWith(dir, {});
  t.teardown(() => second.close());
  const [entry, ...rest] = second.list('cam');
  t.deepEqual(rest, []);
  t.like(entry, { timecodeMs: 1_000_002, headerBytes: 10, clusterBytes: 105, tagsBytes: 5, sizeBytes: 120 });
  const parts = await second.read(entry!);
  t.deepEqual(parts, { header: Buffer.alloc(10, 1), cluster: Buffer.alloc(105, 1_000_002 % 250), tags: Buffer.alloc(5, 3) });
  t.deepEqual(await readdir(join(dir, 'cam')), ['1000002.mkv']);
  await t.throwsAsync(second.add('cam', fragment(1_000_002)), { message: /is not after the last one/ });
});

test('quarantine moves the file aside and out of the backlog', async (t) => {
  const dir = await tempDir(t);
  const spool = await spoolWith(dir, {});
  t.teardown(() => spool.close());
  await spool.add('cam', fragment(1_000_001));
  await spool.quarantine('cam', 1_000_001);
  t.like(spool.stats('cam'), { fragments: 0, bytes: 0, quarantined: 1 });
  t.is((await readFile(join(dir, 'cam', 'quarantine', '1000001.mkv'))).length, 100);
  t.false(spool.has('cam', 1_000_001));
});
