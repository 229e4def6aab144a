// PutMedia through the agent's client against a real server: the acknowledgement stream for a
// GStreamer-made camera file, every error id the server produces, the refusals before the 200,
// idle handling, and SigV4 over an unsigned streaming payload.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteStreamCommand, DescribeStreamCommand } from '@aws-sdk/client-kinesis-video';
import { ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { PutMediaRequestError, PutMediaSessionClosedError, openPutMedia } from '../../agent/video/put-media-client.js';
import { ACK_ERROR_IDS, AckLineReader, encodeAck, type Ack } from '../../ingest-server/video-streams/acks.js';
import type { MkvBlock, MkvTrack } from '../../video/mkv/model.js';
import { writeCluster, writeMkvHeader, writeTags } from '../../video/mkv/writer.js';
import { chunksAt, prng } from '../helpers/chunks.js';
import { TEST_CREDENTIALS, startVideoServer, videoClients } from '../helpers/video.js';
import { FRAGMENTS, cameraFile, createVideoStream, putBytes } from './media.js';

const START_MS = 1_795_000_000_000;
const VIDEO: MkvTrack = { number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' };
const AUDIO: MkvTrack = { number: 2, type: 2, codecId: 'A_AAC' };

/** A keyframe then a delta frame, 40 ms apart, on each of the given tracks. */
function frames(...tracks: number[]): MkvBlock[] {
  return tracks.flatMap((track) => [
    { track, timecode: 0, keyframe: true, data: new Uint8Array(100).fill(track) },
    { track, timecode: 40, keyframe: false, data: new Uint8Array(50).fill(track) },
  ]);
}

test('a camera file is acknowledged BUFFERING, RECEIVED, PERSISTED per fragment, in order, with increasing fragment numbers', async (t) => {
  const { url } = await startVideoServer(t);
  await createVideoStream(videoClients(url, 'http1.1').video, 'camera');
  // An odd chunk size puts chunk boundaries everywhere inside the elements.
  const acks = await putBytes({ endpoint: url, streamName: 'camera', producerStartTimestampMs: START_MS }, await cameraFile(), 7919);

  t.deepEqual(
    acks.map((ack) => [ack.EventType, ack.FragmentTimecode]),
    Array.from({ length: FRAGMENTS }, (_, index) => ['BUFFERING', 'RECEIVED', 'PERSISTED'].map((type) => [type, index * 1000])).flat(),
  );
  const numbers = acks.filter((ack) => ack.EventType === 'PERSISTED').map((ack) => BigInt(ack.FragmentNumber!));
  t.true(numbers.every((number, index) => index === 0 || number > numbers[index - 1]!), numbers.join(' '));
});

test('fragments the limits refuse get ERROR with their AWS ids, in order, and the session goes on', async (t) => {
  const { url } = await startVideoServer(t);
  await createVideoStream(videoClients(url, 'http1.1').video, 'limits');
  const elevenTags = Array.from({ length: 11 }, (_, index) => ({ name: `tag${index}`, value: 'x' }));
  const stream = [
    writeMkvHeader([VIDEO]),
    writeCluster(1000, frames(1)),
    writeCluster(500, frames(1)),
    writeCluster(2000, [...frames(1), { track: 2, timecode: 80, keyframe: false, data: new Uint8Array(10) }]),
    writeCluster(3000, [...frames(1), { track: 1, timecode: 10_500, keyframe: false, data: new Uint8Array(10) }]),
    writeCluster(4000, [{ track: 1, timecode: 0, keyframe: true, data: new Uint8Array(50 * 1024 * 1024 + 1) }]),
    writeCluster(5000, frames(1)),
    writeTags(elevenTags),
    // A new header mid-stream (the producer added audio): its tracks apply from here on.
    writeMkvHeader([VIDEO, AUDIO]),
    writeCluster(6000, frames(1)),
    writeCluster(7000, frames(1, 2)),
    writeMkvHeader([VIDEO, AUDIO, { ...AUDIO, number: 3 }, { ...AUDIO, number: 4 }]),
    writeCluster(8000, frames(1, 2, 3, 4)),
  ];
  const acks = await putBytes({ endpoint: url, streamName: 'limits', timecodeType: 'ABSOLUTE' }, Buffer.concat(stream), 1024 * 1024);

  const error = (timecode: number, id: number): Ack => ({ EventType: 'ERROR', FragmentTimecode: timecode, ErrorId: id });
  const buffering = (timecode: number): Ack => ({ EventType: 'BUFFERING', FragmentTimecode: timecode });
  const received = (timecode: number): Ack => ({ EventType: 'RECEIVED', FragmentTimecode: timecode });
  const withoutNumbers = acks.map(({ FragmentNumber, ...ack }) => (FragmentNumber === undefined ? ack : { ...ack, FragmentNumber: 'n' }));
  t.deepEqual(withoutNumbers, [
    buffering(1000), received(1000), { EventType: 'PERSISTED', FragmentTimecode: 1000, FragmentNumber: 'n' },
    buffering(500), error(500, ACK_ERROR_IDS.FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS),
    buffering(2000), error(2000, ACK_ERROR_IDS.TRACK_NUMBER_MISMATCH),
    buffering(3000), error(3000, ACK_ERROR_IDS.MAX_FRAGMENT_DURATION_REACHED),
    buffering(4000), error(4000, ACK_ERROR_IDS.MAX_FRAGMENT_SIZE_REACHED),
    buffering(5000), received(5000), error(5000, ACK_ERROR_IDS.FRAGMENT_METADATA_LIMIT_REACHED),
    buffering(6000), error(6000, ACK_ERROR_IDS.FRAMES_MISSING_FOR_TRACK),
    buffering(7000), received(7000), { EventType: 'PERSISTED', FragmentTimecode: 7000, FragmentNumber: 'n' },
    buffering(8000), error(8000, ACK_ERROR_IDS.MORE_THAN_ALLOWED_TRACKS_FOUND),
  ]);
});

test('a producer timestamp past what an epoch millisecond can hold gets ERROR 4007; the fragment is not stored and the session goes on', async (t) => {
  const { url } = await startVideoServer(t);
  const { video, archived } = videoClients(url, 'http1.1', t);
  await createVideoStream(video, 'clockless');
  // RELATIVE timecodes count from the producer's start: one close to the largest exact epoch ms overflows it.
  const acks = await putBytes(
    { endpoint: url, streamName: 'clockless', timecodeType: 'RELATIVE', producerStartTimestampMs: Number.MAX_SAFE_INTEGER - 10 },
    Buffer.concat([writeMkvHeader([VIDEO]), writeCluster(1000, frames(1)), writeCluster(2000, frames(1))]),
  );
  t.deepEqual(acks, [
    { EventType: 'BUFFERING', FragmentTimecode: 1000 },
    { EventType: 'ERROR', FragmentTimecode: 1000, ErrorId: ACK_ERROR_IDS.INVALID_PRODUCER_TIMESTAMP },
    { EventType: 'BUFFERING', FragmentTimecode: 2000 },
    { EventType: 'ERROR', FragmentTimecode: 2000, ErrorId: ACK_ERROR_IDS.INVALID_PRODUCER_TIMESTAMP },
  ]);
  t.deepEqual((await archived.send(new ListFragmentsCommand({ StreamName: 'clockless' }))).Fragments, []);
});

test('bytes that are not Matroska get ERROR 4006 and the server ends the session', async (t) => {
  const { url } = await startVideoServer(t);
  await createVideoStream(videoClients(url, 'http1.1').video, 'broken');
  const session = await openPutMedia({ endpoint: url, streamName: 'broken', timecodeType: 'ABSOLUTE' });
  await session.write(Buffer.concat([writeMkvHeader([VIDEO]), writeCluster(1000, frames(1)), new Uint8Array(16)]));
  const acks: Ack[] = [];
  // The iteration ends because the server ends the response; the client never ended its body.
  for await (const ack of session) acks.push(ack);
  t.deepEqual(
    acks.map((ack) => [ack.EventType, ack.ErrorId]),
    [['BUFFERING', undefined], ['RECEIVED', undefined], ['PERSISTED', undefined], ['ERROR', ACK_ERROR_IDS.INVALID_MKV_DATA]],
  );
  await t.throwsAsync(session.write(new Uint8Array(1)), { instanceOf: PutMediaSessionClosedError });
  session.destroy();
});

test('a stream deleted under a running session gets ERROR 4008 and the session ends', async (t) => {
  const { url } = await startVideoServer(t);
  const { video } = videoClients(url, 'http1.1');
  await createVideoStream(video, 'doomed');
  const session = await openPutMedia({ endpoint: url, streamName: 'doomed', timecodeType: 'ABSOLUTE' });
  const acks: Ack[] = [];
  await session.write(Buffer.concat([writeMkvHeader([VIDEO]), writeCluster(START_MS, frames(1))]));
  for await (const ack of session) {
    acks.push(ack);
    if (ack.EventType === 'PERSISTED') break;
  }
  const { StreamInfo } = await video.send(new DescribeStreamCommand({ StreamName: 'doomed' }));
  await video.send(new DeleteStreamCommand({ StreamARN: StreamInfo!.StreamARN }));

  await session.write(writeCluster(START_MS + 1000, frames(1)));
  for await (const ack of session) acks.push(ack);
  t.deepEqual(
    acks.map((ack) => [ack.EventType, ack.FragmentTimecode, ack.ErrorId]),
    [
      ['BUFFERING', START_MS, undefined], ['RECEIVED', START_MS, undefined], ['PERSISTED', START_MS, undefined],
      ['BUFFERING', START_MS + 1000, undefined], ['RECEIVED', START_MS + 1000, undefined], ['ERROR', START_MS + 1000, ACK_ERROR_IDS.STREAM_NOT_ACTIVE],
    ],
  );
  session.destroy();
});

test('PutMedia to an unknown stream or without a timecode type is refused before streaming, as a typed error', async (t) => {
  const { url } = await startVideoServer(t);
  const missing = await t.throwsAsync(openPutMedia({ endpoint: url, streamName: 'nobody' }), { instanceOf: PutMediaRequestError });
  t.is(missing.name, 'ResourceNotFoundException');
  t.is(missing.statusCode, 404);

  await createVideoStream(videoClients(url, 'http1.1').video, 'there');
  const response = await fetch(`${url}/putMedia`, { method: 'POST', headers: { 'x-amzn-stream-name': 'there' }, body: '' });
  t.is(response.status, 400);
  t.is(response.headers.get('x-amzn-errortype'), 'InvalidArgumentException');
});

test('a quiet session gets IDLE acks and is ended by the server after the idle timeout', async (t) => {
  const { url } = await startVideoServer(t, { videoSettings: { putMediaLimits: { idleAckIntervalMs: 300, idleTimeoutMs: 1_500 } } });
  await createVideoStream(videoClients(url, 'http1.1').video, 'quiet');
  const session = await openPutMedia({ endpoint: url, streamName: 'quiet', timecodeType: 'ABSOLUTE' });
  await session.write(Buffer.concat([writeMkvHeader([VIDEO]), writeCluster(1000, frames(1))]));
  const started = performance.now();
  const acks: Ack[] = [];
  for await (const ack of session) acks.push(ack);
  const elapsed = performance.now() - started;

  t.deepEqual(acks.slice(0, 3).map((ack) => ack.EventType), ['BUFFERING', 'RECEIVED', 'PERSISTED']);
  const idle = acks.slice(3);
  t.true(idle.length >= 2, JSON.stringify(acks));
  t.true(idle.every((ack) => ack.EventType === 'IDLE' && ack.FragmentTimecode === 1000));
  t.true(elapsed >= 1_300 && elapsed < 4_000, `${elapsed} ms`);
  session.destroy();
});

test('with credentials the client signs PutMedia (unsigned payload) and the server checks it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-put-media-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [TEST_CREDENTIALS] }));
  const { url } = await startVideoServer(t, { credentialsFile });
  await createVideoStream(videoClients(url, 'http1.1').video, 'signed');

  const acks = await putBytes(
    { endpoint: url, streamName: 'signed', timecodeType: 'ABSOLUTE', credentials: TEST_CREDENTIALS, region: 'us-east-1' },
    Buffer.concat([writeMkvHeader([VIDEO]), writeCluster(START_MS, frames(1))]),
  );
  t.deepEqual(acks.map((ack) => ack.EventType), ['BUFFERING', 'RECEIVED', 'PERSISTED']);

  const forged = await t.throwsAsync(
    openPutMedia({ endpoint: url, streamName: 'signed', credentials: { ...TEST_CREDENTIALS, secretAccessKey: 'wrong' } }),
    { instanceOf: PutMediaRequestError },
  );
  t.is(forged.name, 'InvalidSignatureException');
  const anonymous = await t.throwsAsync(openPutMedia({ endpoint: url, streamName: 'signed' }), { instanceOf: PutMediaRequestError });
  t.is(anonymous.name, 'MissingAuthenticationTokenException');
});

test('the ack stream reads the same whatever the chunk boundaries, and a line that is not an ack is an error', (t) => {
  const acks: Ack[] = [
    { EventType: 'BUFFERING', FragmentTimecode: 1_795_000_000_000 },
    { EventType: 'PERSISTED', FragmentTimecode: 1_795_000_000_000, FragmentNumber: '91343852333181432392682062599743490431920123456' },
    { EventType: 'ERROR', FragmentTimecode: 1_795_000_001_000, ErrorId: ACK_ERROR_IDS.INVALID_MKV_DATA },
    { EventType: 'IDLE', FragmentTimecode: 1_795_000_001_000 },
  ];
  const bytes = new TextEncoder().encode(acks.map(encodeAck).join(''));
  const random = prng(7);
  for (let round = 0; round < 50; round++) {
    const cuts = Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * bytes.length)).sort((a, b) => a - b);
    const reader = new AckLineReader();
    const read = [...chunksAt(bytes, cuts).flatMap((chunk) => reader.push(chunk)), ...reader.end()];
    t.deepEqual(read, acks, `cuts ${cuts.join(',')}`);
  }
  t.throws(() => new AckLineReader().push(new TextEncoder().encode('{"EventType":"NOPE"}\n')), { instanceOf: SyntaxError });
});
