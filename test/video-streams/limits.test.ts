// AWS's per-stream Kinesis Video quotas under --enforce-throughput, through the PutMedia client and
// the SDK: too many PutMedia connections in a second are refused with AWS's error; fragments and
// bytes over the rate are paced, and every one of them is still PERSISTED; GetMedia is paced to
// 25 MB/s. Without the option none of it applies.

import test from 'ava';
import { GetMediaCommand } from '@aws-sdk/client-kinesis-video-media';
import { PutMediaRequestError, openPutMedia, type PutMediaSession } from '../../agent/video/put-media-client.js';
import type { Ack } from '../../ingest-server/video-streams/acks.js';
import { writeCluster, writeMkvHeader } from '../../video/mkv/writer.js';
import { startVideoServer, videoClients } from '../helpers/video.js';
import { createVideoStream, putBytes, readUntil } from './media.js';

const HEADER = writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' }]);

/** `count` one-frame fragments of `bytes` each, a second apart. */
function fragments(count: number, bytes: number): Buffer {
  return Buffer.concat([HEADER, ...Array.from({ length: count }, (_, index) => writeCluster(1_795_000_000_000 + index * 1000, [{ track: 1, timecode: 0, keyframe: true, data: new Uint8Array(bytes).fill(index) }]))]);
}

/** Opens PutMedia calls on the stream one after another until one is refused (at most `most`); the sessions opened and the refusal. */
async function openUntilRefused(url: string, stream: string, most: number): Promise<{ opened: PutMediaSession[]; refused: unknown }> {
  const opened: PutMediaSession[] = [];
  for (let i = 0; i < most; i++) {
    try {
      opened.push(await openPutMedia({ endpoint: url, streamName: stream, timecodeType: 'ABSOLUTE' }));
    } catch (error) {
      return { opened, refused: error };
    }
  }
  return { opened, refused: undefined };
}

const persistedCount = (acks: Ack[]) => acks.filter((ack) => ack.EventType === 'PERSISTED').length;

test('a sixth PutMedia connection within a second is refused with ConnectionLimitExceededException; without --enforce-throughput ten are not', async (t) => {
  const limited = await startVideoServer(t, { enforceThroughput: true });
  await createVideoStream(videoClients(limited.url, 'http1.1', t).video, 'door');
  const { opened, refused } = await openUntilRefused(limited.url, 'door', 20);
  for (const session of opened) session.destroy();
  t.true(refused instanceof PutMediaRequestError, String(refused));
  t.like(refused, { name: 'ConnectionLimitExceededException', statusCode: 400 });
  // Opening takes a few ms here, so the five a second are what went through before the refusal.
  t.true(opened.length >= 5, `${opened.length} calls opened before the refusal`);

  const free = await startVideoServer(t);
  await createVideoStream(videoClients(free.url, 'http1.1', t).video, 'door');
  const unlimited = await openUntilRefused(free.url, 'door', 10);
  for (const session of unlimited.opened) session.destroy();
  t.is(unlimited.refused, undefined);
  t.is(unlimited.opened.length, 10);
});

test('fragments faster than 5 a second are paced, not refused: every one is PERSISTED', async (t) => {
  const { url } = await startVideoServer(t, { enforceThroughput: true });
  await createVideoStream(videoClients(url, 'http1.1', t).video, 'door');
  const startedAt = performance.now();
  const acks = await putBytes({ endpoint: url, streamName: 'door', timecodeType: 'ABSOLUTE' }, fragments(15, 1000));
  const elapsedMs = performance.now() - startedAt;
  t.is(persistedCount(acks), 15);
  t.deepEqual(acks.filter((ack) => ack.EventType === 'ERROR'), []);
  // A second's worth (5) at once, then one every 200 ms: the last is stored ~2 s in.
  t.true(elapsedMs >= 1700, `15 fragments took ${Math.round(elapsedMs)} ms`);
});

test('PutMedia over 12.5 MB/s and GetMedia over 25 MB/s are paced; every byte arrives', async (t) => {
  t.timeout(60_000);
  const { url } = await startVideoServer(t, { enforceThroughput: true });
  const clients = videoClients(url, 'http1.1', t);
  await createVideoStream(clients.video, 'door');
  const count = 10;
  const fragmentBytes = 5e6;
  const putStartedAt = performance.now();
  const acks = await putBytes({ endpoint: url, streamName: 'door', timecodeType: 'ABSOLUTE' }, fragments(count, fragmentBytes), 1024 * 1024);
  const putMs = performance.now() - putStartedAt;
  t.is(persistedCount(acks), count);
  // 50 MB: 12.5 MB at once, the rest at 12.5 MB/s, so about 3 s.
  t.true(putMs >= 2500, `50 MB put in ${Math.round(putMs)} ms`);

  const getStartedAt = performance.now();
  const media = await clients.media.send(new GetMediaCommand({ StreamName: 'door', StartSelector: { StartSelectorType: 'EARLIEST' } }));
  const { events } = await readUntil(media.Payload, (read) => read.filter((event) => event.type === 'cluster').length === count);
  const getMs = performance.now() - getStartedAt;
  t.is(events.filter((event) => event.type === 'cluster').length, count);
  // 50 MB: 25 MB at once, the rest at 25 MB/s, so about 1 s.
  t.true(getMs >= 800, `50 MB read in ${Math.round(getMs)} ms`);
});
