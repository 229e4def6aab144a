// The streaming Matroska reader against what GStreamer's matroskamux writes (made here at test
// time): live-style unknown-size Segment and Clusters and the sized, seekable form, fed whole,
// byte by byte and in random chunks; frame counts checked with ffprobe; then damaged input, which
// must end in MkvParseError, never in another exception or a hang.

import { createHash } from 'node:crypto';
import test from 'ava';
import { element, uintElement } from '../../video/ebml/element.js';
import { MkvId } from '../../video/ebml/ids.js';
import { encodeElementId } from '../../video/ebml/vint.js';
import { MAX_ELEMENT_BYTES, MkvParseError, MkvStreamReader, writeCluster, writeMkvHeader, writeTags, type MkvCluster, type MkvEvent, type MkvHeader } from '../../video/index.js';
import { chunksAt, prng } from '../helpers/chunks.js';
import { bytesOf, gstH264, probeVideo, scratchDir } from './media-tools.js';

const FRAMES = 90;
const GOP = 30;

let dir: Awaited<ReturnType<typeof scratchDir>>;
let streamable: Uint8Array;
let sized: Uint8Array;
let liveProbe: Awaited<ReturnType<typeof probeVideo>>;

test.before(async () => {
  dir = await scratchDir();
  const options = { frames: FRAMES, gop: GOP };
  const [live, seekable] = await Promise.all([
    gstH264(dir.path, 'live.mkv', { ...options, streamable: true }),
    gstH264(dir.path, 'sized.mkv', { ...options, streamable: false }),
  ]);
  liveProbe = await probeVideo(live);
  streamable = await bytesOf(live);
  sized = await bytesOf(seekable);
});

test.after.always(async () => {
  await dir?.cleanup();
});

function readAll(chunks: Iterable<Uint8Array>): MkvEvent[] {
  const reader = new MkvStreamReader();
  const events: MkvEvent[] = [];
  for (const chunk of chunks) events.push(...reader.push(chunk));
  events.push(...reader.end());
  return events;
}

/** The events with every byte array replaced by its SHA-1, so comparisons of whole files stay fast. */
function digest(events: MkvEvent[]): unknown {
  return JSON.parse(JSON.stringify(events, (_key, value: unknown) => (value instanceof Uint8Array ? createHash('sha1').update(value).digest('hex') : typeof value === 'bigint' ? String(value) : value)));
}

const headersOf = (events: MkvEvent[]): MkvHeader[] => events.flatMap((event) => (event.type === 'header' ? [event.header] : []));
const clustersOf = (events: MkvEvent[]): MkvCluster[] => events.flatMap((event) => (event.type === 'cluster' ? [event.cluster] : []));
const indexOfBytes = (haystack: Uint8Array, needle: Uint8Array): number => Buffer.from(haystack).indexOf(Buffer.from(needle));
const CLUSTER_ID = encodeElementId(MkvId.Cluster);

for (const [form, file] of [
  ['live (unknown sizes)', () => streamable],
  ['sized', () => sized],
] as const) {
  test(`${form} matroskamux output splits into one header and a keyframe-led cluster per GOP`, (t) => {
    const events = readAll([file()]);
    t.is(events[0]?.type, 'header');
    const [header, ...otherHeaders] = headersOf(events);
    t.deepEqual(otherHeaders, []);
    t.is(header!.timecodeScaleNs, 1_000_000);
    t.regex(header!.muxingApp ?? '', /GStreamer matroskamux/);
    t.is(header!.tracks.length, 1);
    const track = header!.tracks[0]!;
    t.like(track, { number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC', width: 320, height: 240, defaultDurationNs: 33_333_333 });
    t.is(track.codecPrivate?.[0], 1, 'CodecPrivate is an AVCDecoderConfigurationRecord');
    // The header is exactly the bytes before the first Cluster, Segment size as written.
    t.deepEqual(header!.bytes, file().subarray(0, indexOfBytes(file(), CLUSTER_ID)));

    const clusters = clustersOf(events);
    t.is(clusters.length, FRAMES / GOP);
    t.deepEqual(clusters.map((cluster) => cluster.timecode), [0, 1000, 2000]);
    t.deepEqual(clusters.map((cluster) => cluster.durationUnits), [1000, 1000, 1000]);
    for (const cluster of clusters) {
      t.is(cluster.blocks.length, GOP);
      t.true(cluster.blocks[0]!.keyframe);
      t.is(cluster.blocks.filter((block) => block.keyframe).length, 1);
      t.deepEqual(cluster.blocks.map((block) => block.timecode), Array.from({ length: GOP }, (_, i) => Math.round((i * 1000) / 30)));
    }
    t.is(clusters.flatMap((cluster) => cluster.blocks).length, liveProbe.frames);
    t.is(liveProbe.frames, FRAMES);
  });
}

test('an unknown-size cluster given its size is byte-identical to the cluster the muxer sizes itself', (t) => {
  const live = clustersOf(readAll([streamable]));
  const known = clustersOf(readAll([sized]));
  t.is(live.length, known.length);
  for (let i = 0; i < live.length; i++) t.true(Buffer.from(live[i]!.bytes).equals(known[i]!.bytes), `cluster ${i}`);
  // Nothing else is in the live file: header + clusters are all of it.
  const [header] = headersOf(readAll([streamable]));
  t.is(header!.bytes.length + live.reduce((sum, cluster) => sum + cluster.bytes.length, 0), streamable.length);
});

test('each cluster stands alone after the header: ffprobe decodes a GOP from header + cluster', async (t) => {
  const events = readAll([streamable]);
  const [header] = headersOf(events);
  const last = clustersOf(events).at(-1)!;
  const probed = await probeVideo({ dir: dir.path, bytes: Buffer.concat([header!.bytes, last.bytes]) });
  t.like(probed, { codec: 'h264', width: 320, height: 240, frames: GOP });
});

test('byte-by-byte and random chunking give the same events as one push', (t) => {
  for (const file of [streamable, sized]) {
    const whole = digest(readAll([file]));
    t.deepEqual(digest(readAll(Array.from({ length: file.length }, (_, i) => file.subarray(i, i + 1)))), whole);
    for (const seed of [1, 2, 3, 4]) {
      const random = prng(seed);
      const cuts = Array.from({ length: 200 }, () => Math.floor(random() * file.length)).sort((a, b) => a - b);
      t.deepEqual(digest(readAll(chunksAt(file, cuts))), whole, `seed ${seed}`);
    }
  }
});

test('the sized file ends with its Tags as a tags event; Cues are skipped', (t) => {
  const events = readAll([sized]);
  t.deepEqual(events.map((event) => event.type), ['header', 'cluster', 'cluster', 'cluster', 'tags']);
  const tags = events.at(-1)!;
  t.true(tags.type === 'tags' && tags.tags.some((tag) => tag.name === 'ENCODER' && tag.value === 'x264'));
});

test('a new EBML header mid-stream starts a new header event (a producer restarting)', (t) => {
  const events = readAll([streamable, sized]);
  t.deepEqual(events.map((event) => event.type), ['header', 'cluster', 'cluster', 'cluster', 'header', 'cluster', 'cluster', 'cluster', 'tags']);
});

test('sized Segments without clusters still give one header each', (t) => {
  const stream = Buffer.concat([element(MkvId.EBML), element(MkvId.Segment, element(MkvId.Info, uintElement(MkvId.TimecodeScale, 1000)))]);
  const events = readAll([stream, stream]);
  t.deepEqual(events.map((event) => event.type), ['header', 'header']);
  t.true(events.every((event) => event.type === 'header' && event.header.timecodeScaleNs === 1000 && Buffer.from(event.header.bytes).equals(stream)));
});

test('BlockGroups are read too: a Block without ReferenceBlock is a keyframe', (t) => {
  const header = writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' }]);
  const block = (timecode: number, data: number): Uint8Array => Uint8Array.of(0x81, 0, timecode, 0, data);
  const cluster = element(
    MkvId.Cluster,
    uintElement(MkvId.Timecode, 5000),
    element(MkvId.BlockGroup, element(MkvId.Block, block(0, 0xaa)), uintElement(MkvId.BlockDuration, 40)),
    element(MkvId.BlockGroup, element(MkvId.Block, block(40, 0xbb)), element(MkvId.ReferenceBlock, Uint8Array.of(0xd8))),
  );
  const [, event] = readAll([header, cluster]);
  t.like(event, { type: 'cluster', cluster: { timecode: 5000, durationUnits: 80 } });
  const blocks = event!.type === 'cluster' ? event.cluster.blocks : [];
  t.deepEqual(blocks, [
    { track: 1, timecode: 0, keyframe: true, data: Uint8Array.of(0xaa) },
    { track: 1, timecode: 40, keyframe: false, data: Uint8Array.of(0xbb) },
  ]);
});

// ---- damaged input ---------------------------------------------------------------------------

function parseError(t: import('ava').ExecutionContext, chunks: Uint8Array[], message: RegExp): MkvParseError {
  return t.throws(() => readAll(chunks), { instanceOf: MkvParseError, message })!;
}

const smallHeader = (): Uint8Array => writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' }]);

test('a stream cut off inside an element ends in MkvParseError at end()', (t) => {
  for (const file of [streamable, sized]) {
    for (const cut of [10, 40, 300, 1000, 200_000]) {
      const reader = new MkvStreamReader();
      reader.push(file.subarray(0, cut));
      const error = t.throws(() => reader.end(), { instanceOf: MkvParseError, message: /stream ended/ });
      t.true(error!.offset <= cut);
    }
  }
});

test('garbage, bad ids and absurd sizes are MkvParseErrors naming the element and offset', (t) => {
  parseError(t, [Buffer.from('GET / HTTP/1.1\r\n\r\n')], /unexpected element 0x4745 at top level \(stream offset 0\)/);
  parseError(t, [Uint8Array.of(0, 0, 0, 0)], /invalid element id .*stream offset 0/);
  const header = smallHeader();
  const hugeCluster = Uint8Array.of(...encodeElementId(MkvId.Cluster), 0x01, 0, 0, 0x40, 0, 0, 0, 0);
  const huge = parseError(t, [header, hugeCluster], new RegExp(`Cluster of ${2 ** 38} bytes exceeds the ${MAX_ELEMENT_BYTES}-byte limit`));
  t.is(huge.offset, header.length);
  const laced = element(MkvId.SimpleBlock, Uint8Array.of(0x81, 0, 0, 0x86, 0, 1, 2)); // flags: keyframe, EBML lacing
  parseError(t, [header, element(MkvId.Cluster, uintElement(MkvId.Timecode, 0), laced)], /laced block on track 1/);
  parseError(t, [header, writeCluster(0, []).subarray(0, 5), element(MkvId.Info)], /bad Cluster: element header cut off by the end of its parent/);
  parseError(t, [header, element(MkvId.Cluster, uintElement(MkvId.SimpleBlock, 1))], /block shorter than its header/);
  parseError(t, [header, element(MkvId.Cluster, element(MkvId.Void))], /Cluster without a Timecode/);
  parseError(t, [element(MkvId.EBML, element(MkvId.DocType, Buffer.from('mp4'))), ], /DocType "mp4"/);
  parseError(t, [element(MkvId.Segment)], /Segment without an EBML header/);
});

test('events completed before damage are returned first, then the error is thrown', (t) => {
  const reader = new MkvStreamReader();
  // The last Cues id is the element itself; the first is a SeekHead entry pointing at it.
  const cues = Buffer.from(sized).lastIndexOf(Buffer.from(encodeElementId(MkvId.Cues)));
  const events = reader.push(Buffer.concat([sized.subarray(0, cues), Buffer.from('garbage')]));
  t.deepEqual(events.map((event) => event.type), ['header', 'cluster', 'cluster', 'cluster']);
  t.throws(() => reader.push(new Uint8Array(0)), { instanceOf: MkvParseError, message: /element 0x6761/ });
  t.throws(() => reader.end(), { instanceOf: MkvParseError });
});

test('random corruption never escapes as anything but MkvParseError, and never hangs', (t) => {
  const random = prng(42);
  const file = Buffer.concat([smallHeader(), writeTags([{ name: 'A', value: 'b' }]), ...clustersOf(readAll([streamable])).map((cluster) => cluster.bytes.subarray(0, 3000))]);
  let failures = 0;
  for (let round = 0; round < 1000; round++) {
    const damaged = Uint8Array.from(file.subarray(0, 4000 + Math.floor(random() * 5000)));
    // Mostly in the header and element headers near the start, where a flip changes structure.
    for (let flips = 0; flips < 3; flips++) damaged[Math.floor(random() * (flips === 0 ? damaged.length : 600))] = Math.floor(random() * 256);
    try {
      readAll(chunksAt(damaged, [Math.floor(random() * damaged.length)]));
    } catch (error) {
      if (!(error instanceof MkvParseError)) throw error;
      failures++;
    }
  }
  t.true(failures > 0);
});
