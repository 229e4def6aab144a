// The Kinesis Video stores on their own, one suite run against the embedded store (SQLite +
// files) and the JetStream one (a 3-node nats-server cluster, R3): fragments go in, come back
// byte for byte and in order, survive a reopen and leave with retention or their stream. The
// embedded store also survives a torn file tail and a real kill -9 (its own tests, at the end).

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectNats } from '../../ingest-server/storage/nats/connection.js';
import { NatsVideoStore } from '../../ingest-server/storage/nats/video-store.js';
import { SqliteVideoStore } from '../../ingest-server/storage/sqlite/video-store.js';
import { StaleVideoStreamError, VideoStreamExistsError, type FragmentInfo, type NewFragment, type VideoStore, type VideoStreamState } from '../../ingest-server/storage/video-store.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = dirname(dirname(here));
const CRASH_WRITER = join(here, 'fixtures', 'video-store-crash-writer.ts');
const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-video-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(dir: string): Promise<SqliteVideoStore> {
  const store = new SqliteVideoStore(dir);
  await store.open();
  return store;
}

/** Where one test keeps its data; `open` can be called again after a close, as a restart would. */
interface Place {
  open(): Promise<VideoStore>;
  /** The embedded store's segment files, to check that trim and delete free disk space. */
  segmentFiles?(): Promise<string[]>;
}

let cluster: Promise<NatsCluster> | undefined;
test.after.always(async () => (await cluster)?.stop());

const BACKENDS: { name: string; place(t: ExecutionContext): Promise<Place> }[] = [
  {
    name: 'sqlite',
    async place(t) {
      const dir = await tempDir(t);
      return { open: () => openStore(dir), segmentFiles: () => segmentFiles(dir) };
    },
  },
  {
    name: 'nats',
    async place(t) {
      // One cluster per test file; each test has its own prefix, so its own bucket and streams.
      cluster ??= startNatsCluster();
      const { urls } = await cluster;
      const prefix = `t${randomBytes(6).toString('hex')}`;
      return {
        async open() {
          const handle = await connectNats({ servers: urls, replicas: 3, prefix });
          t.teardown(() => handle.close());
          const store = new NatsVideoStore(handle);
          await store.open();
          return store;
        },
      };
    },
  },
];

function streamState(name: string): VideoStreamState {
  return {
    name,
    arn: `arn:aws:kinesisvideo:us-east-1:000000000000:stream/${name}/1`,
    uid: randomUUID(),
    version: randomUUID(),
    status: 'ACTIVE',
    creationTimeMs: T0,
    kmsKeyId: 'alias/aws/kinesisvideo',
    dataRetentionInHours: 24,
    tags: {},
  };
}

const HEADER = randomBytes(300);

function fragment(serverTimestampMs: number, options: Partial<NewFragment> = {}): NewFragment {
  return {
    header: HEADER,
    cluster: randomBytes(2000 + Math.floor(Math.random() * 2000)),
    producerTags: new Uint8Array(),
    producerTimestampMs: serverTimestampMs - 500,
    serverTimestampMs,
    durationMs: 2000,
    ...options,
  };
}

async function segmentFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(dir, 'video', 'segments'), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

for (const backend of BACKENDS) {
  test(`${backend.name}: fragments come back byte for byte, in append order, with increasing decimal numbers`, async (t) => {
    const store = await (await backend.place(t)).open();
    t.teardown(() => store.close());
    const stream = streamState('cam');
    await store.createStream(stream);
    const otherHeader = randomBytes(120);
    // The last one is over NATS's 1 MB message limit, so the JetStream store splits it.
    const sent = [fragment(T0), fragment(T0 + 2000, { producerTags: randomBytes(40) }), fragment(T0 + 4000, { header: otherHeader }), fragment(T0 + 6000, { cluster: randomBytes(2_500_000), producerTags: randomBytes(30) })];
    const infos: FragmentInfo[] = [];
    for (const item of sent) infos.push(await store.appendFragment(stream.uid, item));

    t.true(infos.every((info) => /^\d+$/.test(info.number)));
    t.true(infos.every((info, index) => index === 0 || BigInt(infos[index - 1]!.number) < BigInt(info.number)));
    t.true(infos[0]!.number < infos[1]!.number, 'text order is number order');
    t.deepEqual(infos.map((info) => info.sizeBytes), sent.map((item) => item.cluster.byteLength));

    const read = await store.readFragments(stream.uid, [infos[2]!.number, infos[0]!.number, infos[1]!.number, infos[3]!.number, '999999']);
    t.deepEqual(read.map((item) => item.number), [infos[2]!.number, infos[0]!.number, infos[1]!.number, infos[3]!.number]);
    const byNumber = new Map(read.map((item) => [item.number, item]));
    sent.forEach((item, index) => {
      const stored = byNumber.get(infos[index]!.number)!;
      t.deepEqual(Buffer.from(stored.cluster), Buffer.from(item.cluster));
      t.deepEqual(Buffer.from(stored.header), Buffer.from(item.header));
      t.deepEqual(Buffer.from(stored.producerTags), Buffer.from(item.producerTags));
      t.is(stored.producerTimestampMs, item.producerTimestampMs);
      t.is(stored.serverTimestampMs, item.serverTimestampMs);
      t.is(stored.durationMs, item.durationMs);
    });

    t.deepEqual((await store.fragmentsAfter(stream.uid, undefined, 10)).map((info) => info.number), infos.map((info) => info.number));
    t.deepEqual((await store.fragmentsAfter(stream.uid, infos[0]!.number, 1)).map((info) => info.number), [infos[1]!.number]);
    t.is((await store.lastFragment(stream.uid))?.number, infos[3]!.number);
  });

  test(`${backend.name}: fragments are listed by producer or server time range, paged with a limit and an after point`, async (t) => {
    const store = await (await backend.place(t)).open();
    t.teardown(() => store.close());
    const stream = streamState('cam');
    await store.createStream(stream);
    const infos: FragmentInfo[] = [];
    for (let i = 0; i < 6; i++) infos.push(await store.appendFragment(stream.uid, fragment(T0 + i * 1000)));
    const numbers = infos.map((info) => info.number);

    t.deepEqual((await store.listFragments(stream.uid, { clock: 'server', startMs: T0 + 1000, endMs: T0 + 3000 }, 100)).map((info) => info.number), numbers.slice(1, 4));
    // Producer timestamps are 500 ms before the server's here.
    t.deepEqual((await store.listFragments(stream.uid, { clock: 'producer', startMs: T0 + 1000, endMs: T0 + 3000 }, 100)).map((info) => info.number), numbers.slice(2, 4));
    const firstPage = await store.listFragments(stream.uid, { clock: 'server', startMs: T0, endMs: T0 + 10_000 }, 4);
    t.deepEqual(firstPage.map((info) => info.number), numbers.slice(0, 4));
    const secondPage = await store.listFragments(stream.uid, { clock: 'server', startMs: T0, endMs: T0 + 10_000 }, 4, firstPage.at(-1)!.number);
    t.deepEqual(secondPage.map((info) => info.number), numbers.slice(4));

    t.is((await store.firstFragmentAt(stream.uid, 'server', T0 + 2500))?.number, numbers[3]);
    t.is((await store.firstFragmentAt(stream.uid, 'producer', T0 + 2500))?.number, numbers[3]);
    t.is(await store.firstFragmentAt(stream.uid, 'server', T0 + 60_000), undefined);
  });

  test(`${backend.name}: streams keep their own fragments; a stream deleted takes its fragments and refuses appends`, async (t) => {
    const place = await backend.place(t);
    const store = await place.open();
    t.teardown(() => store.close());
    const a = streamState('a');
    const b = streamState('b');
    await store.createStream(a);
    await store.createStream(b);
    const fromA = await store.appendFragment(a.uid, fragment(T0));
    const sentToB = fragment(T0);
    const fromB = await store.appendFragment(b.uid, sentToB);
    t.deepEqual((await store.fragmentsAfter(a.uid, undefined, 10)).map((info) => info.number), [fromA.number]);
    // Numbers are per stream (the JetStream store's may repeat across streams): b's bytes never come back from a.
    const readFromA = await store.readFragments(a.uid, [fromB.number]);
    t.false(readFromA.some((stored) => Buffer.from(stored.cluster).equals(sentToB.cluster)));

    await store.deleteStream('a', a.uid);
    t.is(await store.getStream('a'), undefined);
    t.deepEqual(await store.fragmentsAfter(a.uid, undefined, 10), []);
    await t.throwsAsync(store.appendFragment(a.uid, fragment(T0 + 1000)), { instanceOf: StaleVideoStreamError });
    if (place.segmentFiles) t.is((await place.segmentFiles()).length, 1, 'only b keeps a segment file');
    t.is((await store.readFragments(b.uid, [fromB.number])).length, 1);
  });

  test(`${backend.name}: stream metadata: names are unique and updates need the current version`, async (t) => {
    const place = await backend.place(t);
    const store = await place.open();
    const stream = streamState('cam');
    await store.createStream(stream);
    await t.throwsAsync(store.createStream(streamState('cam')), { instanceOf: VideoStreamExistsError });
    const updated = { ...stream, version: randomUUID(), dataRetentionInHours: 48, tags: { site: 'north' } };
    await store.updateStream(updated, stream.version);
    await t.throwsAsync(store.updateStream({ ...stream, version: randomUUID() }, stream.version), { instanceOf: StaleVideoStreamError });
    await store.close();

    const reopened = await place.open();
    t.teardown(() => reopened.close());
    t.deepEqual(await reopened.getStream('cam'), updated);
    t.deepEqual(await reopened.listStreams(), [updated]);
  });

  test(`${backend.name}: fragments and numbering survive a reopen`, async (t) => {
    const place = await backend.place(t);
    const store = await place.open();
    const stream = streamState('cam');
    await store.createStream(stream);
    const before = [await store.appendFragment(stream.uid, fragment(T0)), await store.appendFragment(stream.uid, fragment(T0 + 1000))];
    // Trimming everything must not let numbers be reused.
    await store.trim(stream.uid, T0 + 500);
    await store.close();

    const reopened = await place.open();
    t.teardown(() => reopened.close());
    const after = await reopened.appendFragment(stream.uid, fragment(T0 + 2000));
    t.true(BigInt(after.number) > BigInt(before[1]!.number));
    const all = await reopened.fragmentsAfter(stream.uid, undefined, 10);
    t.deepEqual(all.map((info) => info.number), [before[1]!.number, after.number]);
    t.is((await reopened.readFragments(stream.uid, [before[1]!.number]))[0]?.sizeBytes, before[1]!.sizeBytes);
  });

  test(`${backend.name}: trim deletes fragments older than the cutoff and the segment files they wholly filled`, async (t) => {
    const place = await backend.place(t);
    const store = await place.open();
    t.teardown(() => store.close());
    const stream = streamState('cam');
    await store.createStream(stream);
    // Three hours of server time: three segment files.
    const infos: FragmentInfo[] = [];
    for (const offset of [0, 1000, HOUR_MS, HOUR_MS + 1000, 2 * HOUR_MS]) infos.push(await store.appendFragment(stream.uid, fragment(T0 + offset)));
    if (place.segmentFiles) t.is((await place.segmentFiles()).length, 3);

    await store.trim(stream.uid, T0 + HOUR_MS + 500);
    t.deepEqual((await store.fragmentsAfter(stream.uid, undefined, 10)).map((info) => info.number), infos.slice(3).map((info) => info.number));
    if (place.segmentFiles) t.is((await place.segmentFiles()).length, 2);
    t.deepEqual(await store.readFragments(stream.uid, [infos[0]!.number]), []);

    await store.trim(stream.uid, T0 + 3 * HOUR_MS);
    t.deepEqual(await store.fragmentsAfter(stream.uid, undefined, 10), []);
    if (place.segmentFiles) t.is((await place.segmentFiles()).length, 0);
    // Appending after the current file was trimmed away starts it again.
    const next = fragment(T0 + 3 * HOUR_MS);
    const info = await store.appendFragment(stream.uid, next);
    t.deepEqual(Buffer.from((await store.readFragments(stream.uid, [info.number]))[0]!.cluster), Buffer.from(next.cluster));
  });

  test(`${backend.name}: watch tells a listener after each durable append of its stream only`, async (t) => {
    const store = await (await backend.place(t)).open();
    t.teardown(() => store.close());
    const a = streamState('a');
    const b = streamState('b');
    await store.createStream(a);
    await store.createStream(b);
    let calls = 0;
    const unwatch = store.watch(a.uid, () => calls++);
    await store.appendFragment(a.uid, fragment(T0));
    await store.appendFragment(b.uid, fragment(T0));
    t.is(calls, 1);
    unwatch();
    await store.appendFragment(a.uid, fragment(T0 + 1000));
    t.is(calls, 1);
  });

  // Latency targets live in bench/video (100 camera-paced streams, PERSISTED p50/p99); this checks
  // only what a user relies on: every concurrent append is stored, in its stream, in order.
  test.serial(`${backend.name}: 100 streams each putting a 50 KB fragment a second: every fragment stored, in order per stream`, async (t) => {
    const store = await (await backend.place(t)).open();
    t.teardown(() => store.close());
    const streams = Array.from({ length: 100 }, (_, index) => streamState(`cam-${index}`));
    await Promise.all(streams.map((stream) => store.createStream(stream)));
    const fragments = streams.map(() => Array.from({ length: 3 }, (_, round) => fragment(T0 + round * 1000, { cluster: randomBytes(50_000) })));
    const latencies: number[] = [];
    const start = performance.now();
    // Each stream at its own phase within the second, as independent cameras are.
    await Promise.all(
      streams.map(async (stream, index) => {
        const phase = Math.random() * 1000;
        for (let round = 0; round < 3; round++) {
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + phase + round * 1000 - performance.now())));
          const begin = performance.now();
          await store.appendFragment(stream.uid, fragments[index]![round]!);
          latencies.push(performance.now() - begin);
        }
      }),
    );
    latencies.sort((x, y) => x - y);
    const p50 = latencies[Math.floor(latencies.length * 0.5)]!;
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    t.log(`append-to-durable over ${latencies.length} appends (100 streams, 1 fragment/s each): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`);
    for (const stream of streams) {
      const stored = await store.fragmentsAfter(stream.uid, undefined, 100);
      t.deepEqual(stored.map((each) => each.serverTimestampMs), [T0, T0 + 1000, T0 + 2000], stream.name);
    }
  });
}

test('nats: a node killed under appends loses no acknowledged fragment, and appends go on', async (t) => {
  t.timeout(120_000);
  // Its own cluster: the kill must not disturb the other tests.
  const nodes = await startNatsCluster(t, 3);
  const handle = await connectNats({ servers: nodes.urls, replicas: 3, prefix: 'loss' });
  t.teardown(() => handle.close());
  const store = new NatsVideoStore(handle);
  await store.open();
  const stream = streamState('cam');
  await store.createStream(stream);
  const acknowledged = new Map<string, NewFragment>();
  const failures: string[] = [];
  const appendSome = async (count: number, first: number) => {
    for (let i = 0; i < count; i++) {
      const sent = fragment(T0 + (first + i) * 1000, { cluster: randomBytes(300_000) });
      try {
        acknowledged.set((await store.appendFragment(stream.uid, sent)).number, sent);
      } catch (error) {
        // Refused while a new leader is elected: the producer would resend; nothing was acknowledged.
        failures.push(String(error));
      }
    }
  };
  const writing = appendSome(40, 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await nodes.kill(0);
  await writing;
  const before = acknowledged.size;
  await appendSome(5, 40);
  t.log(`${acknowledged.size} appends acknowledged, ${failures.length} refused during the node loss`, ...new Set(failures));
  t.true(acknowledged.size > before, 'appends go on with two nodes of three');

  const listed = await store.fragmentsAfter(stream.uid, undefined, 1000);
  const stored = new Map((await store.readFragments(stream.uid, listed.map((info) => info.number))).map((item) => [item.number, item]));
  for (const [number, sent] of acknowledged) {
    const item = stored.get(number);
    if (!item) t.fail(`acknowledged fragment ${number} is missing`);
    else t.true(Buffer.from(item.cluster).equals(sent.cluster), `fragment ${number} has its bytes`);
  }
});

test('a torn tail (bytes written, index row never committed) is cut off on open', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(dir);
  const stream = streamState('cam');
  await store.createStream(stream);
  const sent = [fragment(T0), fragment(T0 + 1000)];
  for (const item of sent) await store.appendFragment(stream.uid, item);
  await store.close();
  const [file] = await segmentFiles(dir);
  const committedSize = (await stat(file!)).size;
  await appendFile(file!, randomBytes(777));

  const reopened = await openStore(dir);
  t.teardown(() => reopened.close());
  t.is((await stat(file!)).size, committedSize);
  const next = fragment(T0 + 2000);
  const info = await reopened.appendFragment(stream.uid, next);
  const [stored] = await reopened.readFragments(stream.uid, [info.number]);
  t.deepEqual(Buffer.from(stored!.cluster), Buffer.from(next.cluster));
  const all = await reopened.readFragments(stream.uid, (await reopened.fragmentsAfter(stream.uid, undefined, 10)).map((item) => item.number));
  t.deepEqual(all.map((item) => Buffer.from(item.cluster)), [...sent, next].map((item) => Buffer.from(item.cluster)));
});

/** Runs the writer child until it has acknowledged `atLeast` fragments (plus a random moment), then SIGKILLs it; returns the acknowledged lines. */
async function runAndKill(dataDir: string, atLeast: number): Promise<{ stream: string; number: string; sha256: string }[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CRASH_WRITER, dataDir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killScheduled = false;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (!killScheduled && stdout.split('\nA ').length - 1 >= atLeast) {
      killScheduled = true;
      setTimeout(() => child.kill('SIGKILL'), Math.random() * 30);
    }
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const signal = await exited;
  clearTimeout(timeout);
  if (signal !== 'SIGKILL' || !killScheduled) throw new Error(`the writer ended on its own (${signal}): ${stderr}`);
  // Only complete lines: the last one may have been cut by the kill.
  return stdout
    .slice(0, stdout.lastIndexOf('\n'))
    .split('\n')
    .filter((line) => line.startsWith('A '))
    .map((line) => {
      const [, stream, number, sha256] = line.split(' ');
      return { stream: stream!, number: number!, sha256: sha256! };
    });
}

test('kill -9 while appending, twice: every acknowledged fragment is there, whole, and appends go on', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const acknowledged = [...(await runAndKill(dir, 150)), ...(await runAndKill(dir, 150))];
  t.true(acknowledged.length >= 300);

  const store = await openStore(dir);
  t.teardown(() => store.close());
  for (const name of ['s0', 's1', 's2', 's3']) {
    const uid = (await store.getStream(name))!.uid;
    const listed = await store.fragmentsAfter(uid, undefined, 100_000);
    const stored = new Map((await store.readFragments(uid, listed.map((info) => info.number))).map((fragment) => [fragment.number, fragment]));
    t.is(stored.size, listed.length, `${name}: every indexed fragment reads back whole`);
    for (const ack of acknowledged.filter((item) => item.stream === name)) {
      const fragment = stored.get(ack.number);
      if (!fragment) t.fail(`${name}: acknowledged fragment ${ack.number} is missing`);
      else if (createHash('sha256').update(fragment.cluster).digest('hex') !== ack.sha256) t.fail(`${name}: fragment ${ack.number} has other bytes`);
    }
    const next = fragment(Date.now());
    const info = await store.appendFragment(uid, next);
    t.true(BigInt(info.number) > BigInt(listed.at(-1)!.number));
    t.deepEqual(Buffer.from((await store.readFragments(uid, [info.number]))[0]!.cluster), Buffer.from(next.cluster));
  }
});
