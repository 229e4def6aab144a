// The scale-out promise, end to end: two `rivulet server` processes on one 3-node NATS JetStream
// cluster (R=3) serve the same streams — a record or a fragment put through one is read through
// the other, and a live GetMedia on one sees what the other receives.

import test, { type ExecutionContext } from 'ava';
import { CreateStreamCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { GetMediaForFragmentListCommand, ListFragmentsCommand, type Fragment } from '@aws-sdk/client-kinesis-video-archived-media';
import { GetMediaCommand } from '@aws-sdk/client-kinesis-video-media';
import { describeShards, kinesisClient, readAll } from '../helpers/kinesis.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
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
