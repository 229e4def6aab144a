// The fragmenter's cuts on synthetic frame sequences: GOP-aligned cuts at fragmentMs, frames
// before the first keyframe dropped and counted, the 10 s ceiling closing a fragment and
// dropping until the next keyframe, and fragments written as Clusters that read back as the
// same fragments.

import test from 'ava';
import { Fragmenter, MkvStreamReader, writeCluster, writeMkvHeader, type Fragment, type FragmenterFrame } from '../../video/index.js';

/** Frames every `gapMs` from `startMs`; frame i is a keyframe when (i + offset) is a multiple of `keyEvery`. */
function frames(count: number, options: { startMs?: number; gapMs?: number; keyEvery?: number; offset?: number }): FragmenterFrame[] {
  const { startMs = 1_700_000_000_000, gapMs = 40, keyEvery = 25, offset = 0 } = options;
  return Array.from({ length: count }, (_, i) => ({
    timestampMs: startMs + i * gapMs,
    keyframe: (i + offset) % keyEvery === 0,
    track: 1,
    data: Uint8Array.of(i & 0xff),
  }));
}

function run(fragmenter: Fragmenter, input: FragmenterFrame[]): Fragment[] {
  return [...input.flatMap((frame) => fragmenter.push(frame)), ...fragmenter.flush()];
}

const shape = (fragments: Fragment[]) => fragments.map((f) => ({ start: f.timestampMs - 1_700_000_000_000, durationMs: f.durationMs, frames: f.blocks.length }));

test('fragments are cut at the first keyframe once fragmentMs has passed', (t) => {
  // 25 fps, a keyframe every second (25 frames), 2 s fragments: two GOPs per fragment.
  const fragmenter = new Fragmenter({ fragmentMs: 2000 });
  const fragments = run(fragmenter, frames(250, {}));
  t.deepEqual(shape(fragments), [
    { start: 0, durationMs: 2000, frames: 50 },
    { start: 2000, durationMs: 2000, frames: 50 },
    { start: 4000, durationMs: 2000, frames: 50 },
    { start: 6000, durationMs: 2000, frames: 50 },
    { start: 8000, durationMs: 2000, frames: 50 },
  ]);
  for (const fragment of fragments) {
    t.true(fragment.blocks[0]!.keyframe);
    t.deepEqual(fragment.blocks.map((block) => block.timecode), Array.from({ length: 50 }, (_, i) => i * 40));
  }
  t.is(fragmenter.droppedBeforeKeyframe, 0);
});

test('a keyframe before fragmentMs does not cut; the next one after it does', (t) => {
  // keyframes every 0.6 s, 1 s fragments: cuts at 1.2 s, 2.4 s, ...
  const fragments = run(new Fragmenter({ fragmentMs: 1000 }), frames(60, { keyEvery: 15 }));
  t.deepEqual(shape(fragments), [
    { start: 0, durationMs: 1200, frames: 30 },
    { start: 1200, durationMs: 1200, frames: 30 },
  ]);
});

test('frames before the first keyframe are dropped and counted', (t) => {
  const fragmenter = new Fragmenter({ fragmentMs: 1000 });
  const fragments = run(fragmenter, frames(50, { offset: 15 })); // first keyframe is frame 10
  t.is(fragmenter.droppedBeforeKeyframe, 10);
  t.deepEqual(shape(fragments), [
    { start: 400, durationMs: 1000, frames: 25 },
    { start: 1400, durationMs: 600, frames: 15 },
  ]);
  t.true(fragments[0]!.blocks[0]!.keyframe);
});

test('without a keyframe within maxFragmentMs the fragment closes and frames are dropped until the next keyframe', (t) => {
  const fragmenter = new Fragmenter({ fragmentMs: 1000, maxFragmentMs: 2000 });
  // one keyframe at 0, the next at 3 s (frame 75)
  const input = frames(100, { keyEvery: 75 });
  const fragments = run(fragmenter, input);
  t.deepEqual(shape(fragments), [
    { start: 0, durationMs: 2000, frames: 50 },
    { start: 3000, durationMs: 1000, frames: 25 },
  ]);
  t.is(fragmenter.droppedBeforeKeyframe, 25);
  t.true(fragments.every((fragment) => fragment.blocks[0]!.keyframe));
  t.true(fragments.every((fragment) => fragment.blocks.every((block) => block.timecode < 2000)));
});

test('flush returns the fragment in progress once, with one frame gap added to its span', (t) => {
  const fragmenter = new Fragmenter({ fragmentMs: 5000 });
  t.deepEqual(frames(10, {}).flatMap((frame) => fragmenter.push(frame)), []);
  t.deepEqual(shape(fragmenter.flush()), [{ start: 0, durationMs: 400, frames: 10 }]);
  t.deepEqual(fragmenter.flush(), []);
});

test('options outside what Kinesis and 16-bit block timecodes allow are refused', (t) => {
  t.throws(() => new Fragmenter({ fragmentMs: 0 }), { instanceOf: RangeError, message: /fragmentMs/ });
  t.throws(() => new Fragmenter({ fragmentMs: 3000, maxFragmentMs: 2000 }), { instanceOf: RangeError, message: /fragmentMs/ });
  t.throws(() => new Fragmenter({ fragmentMs: 1000, maxFragmentMs: 40_000 }), { instanceOf: RangeError, message: /maxFragmentMs/ });
  t.throws(() => new Fragmenter({ fragmentMs: 1000 }).push({ timestampMs: Number.NaN, keyframe: true, track: 1, data: new Uint8Array(0) }), { instanceOf: RangeError });
});

test('fragments written as clusters read back with their timestamps, durations and blocks', (t) => {
  const fragments = run(new Fragmenter({ fragmentMs: 2000 }), frames(125, {}));
  const reader = new MkvStreamReader();
  const stream = Buffer.concat([
    writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC', defaultDurationNs: 40_000_000 }]),
    ...fragments.map((fragment) => writeCluster(fragment.timestampMs, fragment.blocks)),
  ]);
  const clusters = [...reader.push(stream), ...reader.end()].flatMap((event) => (event.type === 'cluster' ? [event.cluster] : []));
  t.deepEqual(
    clusters.map((cluster) => ({ timestampMs: cluster.timecode, durationMs: cluster.durationUnits, blocks: cluster.blocks })),
    fragments,
  );
});
