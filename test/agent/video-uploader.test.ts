// The video uploader against a real in-process server: a spooled backlog goes out live-first (the
// newest fragment on a session of its own, the rest on a backlog session) or oldest-first (one
// session), every fragment leaves the spool only once PERSISTED, and a fragment the server cannot
// parse is quarantined while the ones around it still arrive, and a fragment whose ack was lost
// (ack timeout, agent stopped) is found stored with ListFragments instead of being stored twice.

import test, { type ExecutionContext } from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { FragmentSpool, type NewSpooledFragment } from '../../agent/video/spool.js';
import { VideoUploader, type UploadOrder } from '../../agent/video/video-uploader.js';
import { writeCluster, writeMkvHeader, writeTags } from '../../video/mkv/writer.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { startVideoServer, videoClients } from '../helpers/video.js';
import { createVideoStream } from '../video-streams/media.js';
import { tempDir, waitFor } from './helpers.js';

const HEADER = writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' }]);

/** A one-second fragment of 15 frames starting at `timecodeMs`. */
function fragment(timecodeMs: number): NewSpooledFragment {
  const blocks = Array.from({ length: 15 }, (_, index) => ({ track: 1, timecode: index * 67, keyframe: index === 0, data: new Uint8Array(200).fill(index) }));
  return { timecodeMs, durationMs: 1000, header: HEADER, cluster: writeCluster(timecodeMs, blocks), tags: writeTags([{ name: 'seq', value: String(timecodeMs) }]) };
}

async function setup(t: ExecutionContext, stream: string) {
  const dir = await tempDir(t);
  const { url } = await startVideoServer(t);
  const { video, archived } = videoClients(url, 'http1.1', t);
  await createVideoStream(video, stream);
  const spool = await FragmentSpool.open({ dir: join(dir, 'video'), cameras: [{ name: 'cam', maxBytes: 64 * 1024 * 1024, maxAgeMs: 3_600_000, onFull: 'drop-oldest' }] });
  t.teardown(() => spool.close());
  const listed = async () => (await archived.send(new ListFragmentsCommand({ StreamName: stream }))).Fragments!.map((each) => each.ProducerTimestamp!.getTime()).sort((a, b) => a - b);
  /** Producer timestamps in the order the server stored them (by fragment number). */
  const storageOrder = async (name: string) =>
    (await archived.send(new ListFragmentsCommand({ StreamName: name }))).Fragments!
      .sort((a, b) => (BigInt(a.FragmentNumber!) < BigInt(b.FragmentNumber!) ? -1 : 1))
      .map((each) => each.ProducerTimestamp!.getTime());
  return { dir, url, spool, listed, storageOrder };
}

async function drained(spool: FragmentSpool, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (spool.stats('cam').fragments > 0) {
    if (Date.now() > deadline) throw new Error(`${spool.stats('cam').fragments} fragments still spooled`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [order, sessions] of [['live-first', 2], ['oldest-first', 1]] as [UploadOrder, number][]) {
  test(`a spooled backlog is uploaded ${order} on ${sessions} session(s), each fragment once, removed from the spool only once PERSISTED`, async (t) => {
    const { spool, url, listed, storageOrder } = await setup(t, `backlog-${order}`);
    const start = Date.now() - 60_000;
    const timecodes = Array.from({ length: 20 }, (_, index) => start + index * 1000);
    for (const timecode of timecodes) await spool.add('cam', fragment(timecode));
    const uploader = new VideoUploader({ spool, cameras: [{ name: 'cam', stream: `backlog-${order}` }], endpoint: url, order });
    t.teardown(() => uploader.stop());
    uploader.start();
    await drained(spool);
    t.deepEqual(await listed(), timecodes);
    t.like(uploader.stats('cam'), { persisted: 20, quarantined: 0, droppedByServer: 0, failedSessions: 0 });
    // Storage order (fragment numbers): live first puts the newest fragment ahead of the backlog's tail; oldest first keeps capture order.
    const stored = await storageOrder(`backlog-${order}`);
    if (order === 'live-first') t.true(stored.indexOf(timecodes.at(-1)!) < stored.length - 5, `newest stored at ${stored.indexOf(timecodes.at(-1)!)} of ${stored.length}`);
    else t.deepEqual(stored, timecodes);
    // A fragment spooled now goes out on the live session that is still open.
    await spool.add('cam', fragment(start + 30_000));
    await drained(spool);
    t.deepEqual(await listed(), [...timecodes, start + 30_000]);
    t.is(uploader.stats('cam')!.sessions, sessions);
  });
}

test('a fragment the server cannot parse is quarantined; the fragments before and after it arrive', async (t) => {
  const { dir, spool, url, listed } = await setup(t, 'damaged');
  const start = Date.now() - 10_000;
  await spool.add('cam', fragment(start));
  // A Cluster whose content is not Matroska: the server answers INVALID_MKV_DATA and ends the call.
  await spool.add('cam', { ...fragment(start + 1000), cluster: new Uint8Array([0x1f, 0x43, 0xb6, 0x75, 0x84, 0, 0, 0, 0]), tags: new Uint8Array(0) });
  await spool.add('cam', fragment(start + 2000));
  const uploader = new VideoUploader({ spool, cameras: [{ name: 'cam', stream: 'damaged' }], endpoint: url, order: 'oldest-first', minBackoffMs: 50 });
  t.teardown(() => uploader.stop());
  uploader.start();
  await drained(spool);
  t.deepEqual(await listed(), [start, start + 2000]);
  t.like(uploader.stats('cam'), { persisted: 2, quarantined: 1 });
  t.deepEqual(await readdir(join(dir, 'video', 'cam', 'quarantine')), [`${start + 1000}.mkv`]);
});

test('acks lost after the server stored the fragments: the ack timeout ends the session, ListFragments finds them stored, none is sent twice', async (t) => {
  const { spool, url, listed } = await setup(t, 'lost-acks');
  const proxy = await startTcpProxy(t, { port: Number(new URL(url).port) });
  const start = Date.now() - 10_000;
  await spool.add('cam', fragment(start));
  const uploader = new VideoUploader({ spool, cameras: [{ name: 'cam', stream: 'lost-acks' }], endpoint: proxy.url, order: 'oldest-first', ackTimeoutMs: 1000, minBackoffMs: 50 });
  t.teardown(() => uploader.stop());
  uploader.start();
  await drained(spool);
  // The open session carries three more fragments; the server stores them, their acks never arrive.
  proxy.dropPutMediaResponses = true;
  const unacknowledged = [1000, 2000, 3000].map((offset) => start + offset);
  for (const timecode of unacknowledged) await spool.add('cam', fragment(timecode));
  await waitFor(async () => (await listed()).length >= 4, 20_000, 'the server to hold 4 fragments');
  t.is(spool.stats('cam').fragments, 3, 'not acknowledged, so still spooled');
  proxy.dropPutMediaResponses = false;
  await drained(spool);
  await spool.add('cam', fragment(start + 4000));
  await drained(spool);
  t.deepEqual(await listed(), [start, ...unacknowledged, start + 4000], 'each fragment once');
  t.like(uploader.stats('cam'), { persisted: 2, foundStored: 3 });
  t.true(uploader.stats('cam')!.failedSessions >= 1);
});

test('an agent stopped between the server storing fragments and their acks: at start the new uploader finds them stored and sends only the rest', async (t) => {
  const { spool, url, listed } = await setup(t, 'restarted');
  const proxy = await startTcpProxy(t, { port: Number(new URL(url).port) });
  const start = Date.now() - 10_000;
  await spool.add('cam', fragment(start));
  const first = new VideoUploader({ spool, cameras: [{ name: 'cam', stream: 'restarted' }], endpoint: proxy.url, order: 'oldest-first' });
  first.start();
  await drained(spool);
  proxy.dropPutMediaResponses = true;
  for (const offset of [1000, 2000]) await spool.add('cam', fragment(start + offset));
  await waitFor(async () => (await listed()).length >= 3, 20_000, 'the server to hold 3 fragments');
  await first.stop(100);
  await spool.add('cam', fragment(start + 3000));

  const second = new VideoUploader({ spool, cameras: [{ name: 'cam', stream: 'restarted' }], endpoint: url, order: 'oldest-first' });
  t.teardown(() => second.stop());
  second.start();
  await drained(spool);
  t.deepEqual(await listed(), [0, 1000, 2000, 3000].map((offset) => start + offset), 'each fragment once');
  t.like(second.stats('cam'), { persisted: 1, foundStored: 2 });
});
