// From a stored fragment (its stream header + Cluster bytes) to the remuxers' input: the H.264
// track is picked among others, only its blocks are kept, and block times become milliseconds from
// the producer timestamp whatever the stream's TimecodeScale.

import test from 'ava';
import { UnsupportedStreamMediaTypeError, remuxFragmentOf, writeCluster, writeMkvHeader, type MkvBlock, type MkvTrack } from '../../video/index.js';
import { scratchDir } from './media-tools.js';
import { recordFragments, type StoredRecording } from './remux-fixtures.js';

let dir: Awaited<ReturnType<typeof scratchDir>>;
let recording: StoredRecording;

test.before(async () => {
  dir = await scratchDir();
  recording = await recordFragments(dir.path, 60, 30);
});

test.after.always(async () => {
  await dir?.cleanup();
});

const audio: MkvTrack = { number: 1, type: 2, codecId: 'A_AAC', codecPrivate: Uint8Array.of(0x12, 0x10) };
const block = (track: number, timecode: number, keyframe: boolean, byte: number): MkvBlock => ({ track, timecode, keyframe, data: Uint8Array.of(0, 0, 0, 1, byte) });

test('a stored fragment gives its H.264 track and its frames from the producer timestamp', (t) => {
  const stored = recording.fragments[1]!;
  const { track, fragment } = remuxFragmentOf(stored);
  t.is(track.codecId, 'V_MPEG4/ISO/AVC');
  t.deepEqual(track.codecPrivate, recording.track.codecPrivate);
  t.like(track, { width: 320, height: 240 });
  t.is(fragment.startMs, stored.producerTimestampMs);
  t.is(fragment.durationMs, stored.durationMs);
  t.is(fragment.blocks.length, 30);
  t.true(fragment.blocks[0]!.keyframe);
  t.is(fragment.blocks[0]!.timecode, 0);
  t.is(fragment.blocks.at(-1)!.timecode, stored.durationMs);
  t.is(fragment.blocks.filter((frame) => frame.keyframe).length, 1);
});

test('the video track is picked among others and only its blocks are kept', (t) => {
  const video: MkvTrack = { ...recording.track, number: 2 };
  const { track, fragment } = remuxFragmentOf({
    header: writeMkvHeader([audio, video]),
    cluster: writeCluster(5000, [block(1, 0, true, 0xa0), block(2, 0, true, 0x65), block(1, 21, true, 0xa1), block(2, 33, false, 0x41)]),
    producerTimestampMs: 5000,
    durationMs: 66,
  });
  t.is(track.number, 2);
  t.deepEqual(
    fragment.blocks.map((frame) => [frame.timecode, frame.keyframe, frame.data[4]]),
    [
      [0, true, 0x65],
      [33, false, 0x41],
    ],
  );
});

test('block timecodes in another TimecodeScale become milliseconds', (t) => {
  const { fragment } = remuxFragmentOf({
    // 100 µs units: 333 units = 33.3 ms
    header: writeMkvHeader([recording.track], { timecodeScaleNs: 100_000 }),
    cluster: writeCluster(0, [block(1, 0, true, 0x65), block(1, 333, false, 0x41), block(1, 667, false, 0x41)]),
    producerTimestampMs: 1000,
    durationMs: 100,
  });
  t.deepEqual(fragment.blocks.map((frame) => frame.timecode), [0, 33.3, 66.7]);
});

test('a stream without video is refused as an unsupported media type', (t) => {
  t.throws(
    () => remuxFragmentOf({ header: writeMkvHeader([audio]), cluster: writeCluster(0, [block(1, 0, true, 0xa0)]), producerTimestampMs: 0, durationMs: 21 }),
    { instanceOf: UnsupportedStreamMediaTypeError, message: /no video track/ },
  );
});
