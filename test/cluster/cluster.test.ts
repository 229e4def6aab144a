// The scale-out promise, end to end: two `rivulet server` processes on one 3-node NATS JetStream
// cluster (R=3) serve the same streams — a record or a fragment put through one is read through
// the other, and a live GetMedia on one sees what the other receives — and when the NATS node
// leading the record stream and the JetStream meta group is SIGKILLed under load, nothing either
// server acknowledged is lost, and puts and reads resume within seconds, without waiting for a
// new meta leader (which nats-server 2.9 can take 30 s or more to elect).

import test, { type ExecutionContext } from 'ava';
import { CreateStreamCommand, GetRecordsCommand, GetShardIteratorCommand, PutRecordCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetMediaForFragmentListCommand, ListFragmentsCommand, type Fragment } from '@aws-sdk/client-kinesis-video-archived-media';
import { GetMediaCommand } from '@aws-sdk/client-kinesis-video-media';
import { describeShards, kinesisClient, readAll } from '../helpers/kinesis.js';
import { concentrateLeaders, metaLeaderIndex, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { runCli, sleep, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { videoClients } from '../helpers/video.js';
import { FRAGMENTS, cameraFile, clustersOf, createVideoStream, putBytes, readUntil } from '../video-streams/media.js';

/** Two server processes on a fresh 3-node cluster; all of it goes when the test ends. */
async function twoServers(t: ExecutionContext): Promise<{ cluster: NatsCluster; a: ServerProcess; b: ServerProcess }> {
  const cluster = await startNatsCluster(t, 3);
  const args = ['--store', cluster.urls.join(','), '--replicas', '3'];
  const a = await startServerProcess({ args });
  t.teardown(() => a.kill().then(() => {}));
  const b = await startServerProcess({ args });
  // Registered after the cluster's, so the servers stop first.
  t.teardown(() => b.kill().then(() => {}));
  // What the servers logged is the first thing to read when this test fails.
  t.teardown(() => {
    if (!t.passed) for (const [name, server] of [['A', a], ['B', b]] as const) console.error(`--- server ${name} stderr (tail) ---\n${server.stderr().slice(-3000)}`);
  });
  return { cluster, a, b };
}

/** Every fragment of the stream ListFragments returns, across pages. */
async function listAllFragments(archived: ReturnType<typeof videoClients>['archived'], stream: string): Promise<Fragment[]> {
  const fragments: Fragment[] = [];
  let token: string | undefined;
  do {
    const page = await archived.send(new ListFragmentsCommand({ StreamName: stream, ...(token ? { NextToken: token } : {}) }));
    fragments.push(...page.Fragments!);
    token = page.NextToken;
  } while (token);
  return fragments;
}

test.serial('a record and a fragment put through one server are read through the other, and live GetMedia on it sees them', async (t) => {
  const { cluster, a, b } = await twoServers(t);
  const [ka, kb] = [kinesisClient(a.url, 'http1.1'), kinesisClient(b.url, 'http1.1')];
  t.teardown(() => [ka, kb].forEach((client) => client.destroy()));
  await ka.send(new CreateStreamCommand({ StreamName: 'orders', ShardCount: 1 }));
  const put = await ka.send(new PutRecordCommand({ StreamName: 'orders', PartitionKey: 'k', Data: Buffer.from('order 1') }));
  const [shard] = await describeShards(kb, 'orders');
  const { records } = await readAll(kb, 'orders', shard!.ShardId!);
  t.deepEqual(records.map((record) => [record.SequenceNumber, Buffer.from(record.Data!).toString()]), [[put.SequenceNumber, 'order 1']]);

  const va = videoClients(a.url, 'http1.1', t);
  const vb = videoClients(b.url, 'http1.1', t);
  await createVideoStream(va.video, 'camera');
  // Opened on B before anything is put through A: B must learn of A's fragments from the store.
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const live = await vb.media.send(new GetMediaCommand({ StreamName: 'camera', StartSelector: { StartSelectorType: 'NOW' } }), { abortSignal: abort.signal });
  const liveRead = readUntil(live.Payload, (events) => events.some((event) => event.type === 'cluster'));
  const acks = await putBytes({ endpoint: a.url, streamName: 'camera' }, await cameraFile());
  const persisted = acks.filter((ack) => ack.EventType === 'PERSISTED').map((ack) => ack.FragmentNumber!);
  t.is(persisted.length, FRAGMENTS);
  t.true((await liveRead).events.some((event) => event.type === 'cluster'), 'GetMedia NOW on B got a fragment put through A');
  abort.abort();

  const listed = await listAllFragments(vb.archived, 'camera');
  t.deepEqual(listed.map((fragment) => fragment.FragmentNumber).sort(), [...persisted].sort());
  const media = await vb.archived.send(new GetMediaForFragmentListCommand({ StreamName: 'camera', Fragments: persisted }));
  t.is(clustersOf(await media.Payload!.transformToByteArray()).length, FRAGMENTS);

  const status = await runCli(['cluster', 'status', '--store', cluster.urls.join(','), '--monitor', cluster.monitorUrls.join(',')]);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /peers: n\d \(leader\), n\d current, n\d current/);
  t.regex(status.stdout, /: R3, leader n\d; \d+ messages/);
});

const LOAD_MS = 4_000;
const AFTER_KILL_MS = 20_000;
/** The longest acceptable stretch of failed puts and reads after the kill: leader elections, reconnects and in-flight request timeouts. */
const MAX_BLIP_MS = 15_000;

test.serial('SIGKILL of the NATS node leading the record stream and the JetStream meta group, under load through both servers loses no acknowledged record or fragment, and puts and reads resume', async (t) => {
  const { cluster, a, b } = await twoServers(t);
  const clients = [kinesisClient(a.url, 'http1.1'), kinesisClient(b.url, 'http1.1')];
  t.teardown(() => clients.forEach((client) => client.destroy()));
  await clients[0]!.send(new CreateStreamCommand({ StreamName: 'load', ShardCount: 2 }));
  const video = [videoClients(a.url, 'http1.1', t), videoClients(b.url, 'http1.1', t)];
  await createVideoStream(video[0]!.video, 'camera');
  const camera = await cameraFile();

  // What each server acknowledged: record data → sequence number, and fragment numbers.
  const acked = new Map<string, string>();
  const fragments = new Set<string>();
  let killedAt = Infinity;
  // The blip is from the kill to the last failed call; puts and reads must succeed after it.
  let lastFailedAt = -Infinity;
  let lastPutAt = -Infinity;
  let lastReadAt = -Infinity;
  let failures = 0;
  const failed = async () => {
    failures++;
    lastFailedAt = Date.now();
    await sleep(100);
  };
  let running = true;
  const recordProducer = async (client: KinesisClient, name: string) => {
    for (let batch = 0; running; batch++) {
      const data = Array.from({ length: 50 }, (_, i) => `${name}-${batch}-${i}`);
      try {
        const { Records } = await client.send(new PutRecordsCommand({ StreamName: 'load', Records: data.map((each) => ({ Data: Buffer.from(each), PartitionKey: each })) }));
        Records!.forEach((result, i) => {
          if (!result.ErrorCode) acked.set(data[i]!, result.SequenceNumber!);
        });
        if (Records!.some((result) => result.ErrorCode)) await failed();
        else lastPutAt = Date.now();
      } catch {
        // The blip: a put that failed acknowledged nothing; keep going.
        await failed();
      }
    }
  };
  const fragmentProducer = async () => {
    for (let session = 0; running; session++) {
      try {
        const acks = await putBytes({ endpoint: [a, b][session % 2]!.url, streamName: 'camera' }, camera);
        for (const ack of acks) if (ack.EventType === 'PERSISTED') fragments.add(ack.FragmentNumber!);
      } catch {
        await failed();
      }
    }
  };
  // Reads too must come back within the blip, meta leader or not: each pass reads a shard's oldest page anew.
  const reader = async () => {
    const shards = await describeShards(clients[0]!, 'load');
    for (let pass = 0; running; pass++) {
      try {
        const { ShardIterator } = await clients[pass % 2]!.send(new GetShardIteratorCommand({ StreamName: 'load', ShardId: shards[pass % shards.length]!.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
        const { Records } = await clients[pass % 2]!.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
        if (Records!.length > 0) lastReadAt = Date.now();
      } catch {
        await failed();
      }
    }
  };
  const producers = [recordProducer(clients[0]!, 'a'), recordProducer(clients[1]!, 'b'), fragmentProducer(), reader()];
  await sleep(LOAD_MS);
  const ackedBeforeKill = acked.size;
  const victim = await concentrateLeaders(cluster, 'rivulet_ds_');
  killedAt = Date.now();
  await cluster.kill(victim);
  await sleep(AFTER_KILL_MS);
  running = false;
  await Promise.all(producers);
  const blipMs = Math.max(0, lastFailedAt - killedAt);
  const survivor = (victim + 1) % cluster.urls.length;
  t.log(`${acked.size} records (${ackedBeforeKill} before the kill of n${victim}) and ${fragments.size} fragments acknowledged; ${failures} failed calls, the last ${blipMs} ms after the kill`);
  t.true(ackedBeforeKill > 0 && acked.size > ackedBeforeKill, 'records were put before and after the kill');
  t.true(blipMs <= MAX_BLIP_MS && lastPutAt > lastFailedAt && lastReadAt > lastFailedAt, `puts and reads succeed again within ${MAX_BLIP_MS} ms of the kill`);
  // Reads create no consumer, so they work whether or not the cluster has a meta leader again.
  t.log(`meta leader when reading back: ${(await metaLeaderIndex(cluster, survivor)) ?? 'none yet'}`);

  const stored = new Map<string, string>();
  for (const shard of await describeShards(clients[1]!, 'load')) {
    for (const record of (await readAll(clients[1]!, 'load', shard.ShardId!)).records) stored.set(Buffer.from(record.Data!).toString(), record.SequenceNumber!);
  }
  const lost = [...acked].filter(([data, sequence]) => stored.get(data) !== sequence);
  t.deepEqual(lost, [], 'every acknowledged record is there with its sequence number');
  const listed = new Set((await listAllFragments(video[1]!.archived, 'camera')).map((fragment) => fragment.FragmentNumber!));
  t.true(fragments.size > 0);
  t.deepEqual([...fragments].filter((number) => !listed.has(number)), [], 'every acknowledged fragment is listed');
});
