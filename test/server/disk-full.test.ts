// The server's disk fills up under Kinesis Video: a real full file system (a small tmpfs as the
// data dir). A fragment that cannot be stored gets ERROR 5001 (ARCHIVAL_ERROR), never PERSISTED;
// what was stored before stays readable byte for byte; the agent keeps the refused fragments
// spooled and, once space is free, every one of them arrives exactly once; a restart on the same
// directory finds the index and the fragment files in agreement.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetMediaForFragmentListCommand, ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { FragmentSpool } from '../../agent/video/spool.js';
import { VideoUploader } from '../../agent/video/video-uploader.js';
import { startServer, type RunningServer } from '../../ingest-server/server.js';
import { ACK_ERROR_IDS } from '../../ingest-server/video-streams/acks.js';
import { MkvStreamReader } from '../../video/mkv/stream-reader.js';
import { writeCluster, writeMkvHeader } from '../../video/mkv/writer.js';
import { tempDir, waitFor } from '../agent/helpers.js';
import { videoClients } from '../helpers/video.js';
import { createVideoStream, putBytes } from '../video-streams/media.js';

const run = promisify(execFile);
const HEADER = writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' }]);
const FRAGMENT_BYTES = 256 * 1024;

/** A one-second fragment of ~256 KiB whose frames carry `timecodeMs`, so its bytes are its own. */
function cluster(timecodeMs: number): Uint8Array {
  const frame = (index: number) => new Uint8Array(FRAGMENT_BYTES / 8).fill((timecodeMs / 1000 + index) % 251);
  return writeCluster(timecodeMs, Array.from({ length: 8 }, (_, index) => ({ track: 1, timecode: index * 125, keyframe: index === 0, data: frame(index) })));
}

/** A tmpfs of `sizeMiB` mounted at `dir`, unmounted when the test ends. Mounting needs root, as `npm test` runs here. */
async function smallDisk(t: ExecutionContext, dir: string, sizeMiB: number): Promise<void> {
  await run('mkdir', ['-p', dir]);
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]).catch((error: Error) => {
    throw new Error(`this test mounts a small tmpfs as a full disk, which needs root: ${error.message}`);
  });
  t.teardown(() => run('umount', ['-l', dir]).then(() => undefined));
}

/** Writes zeros into `path` until the file system refuses (ENOSPC); the disk is then full. */
async function fill(path: string): Promise<void> {
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) await handle.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
}

/** Producer timestamps in the stream, and each fragment's Cluster bytes read back with GetMediaForFragmentList. */
async function readBack(url: string, stream: string, t: ExecutionContext): Promise<Map<number, Uint8Array>> {
  const { archived } = videoClients(url, 'http1.1', t);
  const listed = (await archived.send(new ListFragmentsCommand({ StreamName: stream, MaxResults: 1000 }))).Fragments ?? [];
  const byNumber = new Map(listed.map((fragment) => [fragment.FragmentNumber!, fragment.ProducerTimestamp!.getTime()]));
  const clusters = new Map<number, Uint8Array>();
  if (listed.length === 0) return clusters;
  const media = await archived.send(new GetMediaForFragmentListCommand({ StreamName: stream, Fragments: [...byNumber.keys()] }));
  const reader = new MkvStreamReader();
  for await (const chunk of media.Payload as AsyncIterable<Uint8Array>) {
    for (const event of reader.push(chunk)) {
      if (event.type !== 'cluster') continue;
      t.false(clusters.has(event.cluster.timecode), `fragment ${event.cluster.timecode} read twice`);
      clusters.set(event.cluster.timecode, event.cluster.bytes);
    }
  }
  t.deepEqual([...clusters.keys()].sort(), [...byNumber.values()].sort(), 'every listed fragment is readable');
  return clusters;
}

test('a full disk: ERROR 5001 instead of PERSISTED, stored fragments intact, the agent holds what was refused and delivers it exactly once when space is back', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const dataDir = join(dir, 'server');
  await smallDisk(t, dataDir, 24);
  let server: RunningServer = await startServer({ dataDir, port: 0 });
  t.teardown(() => server.close());
  const { video } = videoClients(server.url, 'http1.1', t);
  await createVideoStream(video, 'door');
  await createVideoStream(video, 'yard');
  const start = Date.now() - 60_000;

  // Before the disk fills: three fragments of the door camera, PERSISTED.
  const doorClusters = [0, 1, 2].map((index) => cluster(start + index * 1000));
  const doorAcks = await putBytes({ endpoint: server.url, streamName: 'door', timecodeType: 'ABSOLUTE' }, Buffer.concat([HEADER, ...doorClusters]));
  t.is(doorAcks.filter((ack) => ack.EventType === 'PERSISTED').length, 3);

  const filler = join(dataDir, 'filler');
  await fill(filler);
  const refused = await putBytes({ endpoint: server.url, streamName: 'yard', timecodeType: 'ABSOLUTE' }, Buffer.concat([HEADER, cluster(start)]));
  t.deepEqual(
    refused.filter((ack) => ack.EventType === 'PERSISTED' || ack.EventType === 'ERROR'),
    [{ EventType: 'ERROR', FragmentTimecode: start, ErrorId: ACK_ERROR_IDS.ARCHIVAL_ERROR }],
  );
  // The server is still up, and the door camera's fragments are untouched.
  const door = await readBack(server.url, 'door', t);
  t.deepEqual([...door.values()].map((bytes) => Buffer.from(bytes)), doorClusters.map((bytes) => Buffer.from(bytes)));

  // The agent's uploader against the full disk: refused with 5001, so it keeps everything spooled.
  const spool = await FragmentSpool.open({ dir: join(dir, 'spool'), cameras: [{ name: 'yard', maxBytes: 64 * 1024 * 1024, maxAgeMs: 3_600_000, onFull: 'drop-oldest' }] });
  t.teardown(() => spool.close());
  const yardTimecodes = [10, 11, 12, 13].map((index) => start + index * 1000);
  for (const timecode of yardTimecodes) await spool.add('yard', { timecodeMs: timecode, durationMs: 1000, header: HEADER, cluster: cluster(timecode), tags: new Uint8Array(0) });
  const uploader = new VideoUploader({ spool, cameras: [{ name: 'yard', stream: 'yard' }], endpoint: server.url, order: 'oldest-first', minBackoffMs: 100, maxBackoffMs: 500 });
  t.teardown(() => uploader.stop());
  uploader.start();
  await waitFor(() => uploader.stats('yard')!.failedSessions >= 2, 20_000, 'two refused sessions');
  t.regex(uploader.stats('yard')!.lastError!.message, /5001 ARCHIVAL_ERROR/);
  t.is(spool.stats('yard').fragments, 4, 'nothing refused left the spool');

  await rm(filler);
  await waitFor(() => spool.stats('yard').fragments === 0, 30_000, 'the spool to drain once space is back');
  await uploader.stop();
  const yard = await readBack(server.url, 'yard', t);
  t.deepEqual([...yard.keys()].sort(), yardTimecodes, 'each refused fragment arrived once');

  // A restart on the same directory: the index and the fragment files agree.
  await server.close();
  server = await startServer({ dataDir, port: 0 });
  t.deepEqual([...(await readBack(server.url, 'door', t)).keys()].sort(), doorClusters.map((_, index) => start + index * 1000));
  t.deepEqual([...(await readBack(server.url, 'yard', t)).keys()].sort(), yardTimecodes);
});
