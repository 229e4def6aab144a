// The Matroska writer: byte-exact small cases, then a round trip of the frames GStreamer encoded
// (read from matroskamux output, written again by writeMkvHeader/writeCluster/writeTags) that
// ffprobe must decode with the right codec, size and frame count, and that our reader reads back.

import test from 'ava';
import { MkvStreamReader, writeCluster, writeMkvHeader, writeTags, type MkvCluster, type MkvEvent, type MkvHeader } from '../../video/index.js';
import { bytesOf, gstH264, probeVideo, scratchDir } from './media-tools.js';

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

let dir: Awaited<ReturnType<typeof scratchDir>>;
let source: { header: MkvHeader; clusters: MkvCluster[] };

function readAll(bytes: Uint8Array): MkvEvent[] {
  const reader = new MkvStreamReader();
  return [...reader.push(bytes), ...reader.end()];
}

test.before(async () => {
  dir = await scratchDir();
  const events = readAll(await bytesOf(await gstH264(dir.path, 'source.mkv', { frames: 60, gop: 30, streamable: true })));
  const header = events.find((event) => event.type === 'header');
  if (header?.type !== 'header') throw new Error('gst output has no header');
  source = { header: header.header, clusters: events.flatMap((event) => (event.type === 'cluster' ? [event.cluster] : [])) };
});

test.after.always(async () => {
  await dir?.cleanup();
});

test('clusters and tags are written byte for byte', (t) => {
  t.is(toHex(writeCluster(1000, [{ track: 1, timecode: 0, keyframe: true, data: Uint8Array.of(0xaa) }])), '1f43b675' + '8b' + 'e78203e8' + 'a385' + '81' + '0000' + '80' + 'aa');
  t.is(toHex(writeCluster(0, [{ track: 2, timecode: -2, keyframe: false, data: new Uint8Array(0) }])), '1f43b675' + '89' + 'e78100' + 'a384' + '82' + 'fffe' + '00');
  t.is(toHex(writeTags([{ name: 'A', value: 'b' }])), '1254c367' + '91' + '7373' + '8e' + '63c080' + '67c8' + '88' + '45a38141' + '44878162');
  t.is(toHex(writeTags([{ name: 'A', value: Uint8Array.of(7) }]).subarray(-4)), '44858107');
});

test('the header starts with an EBML header and opens a Segment of unknown size', (t) => {
  const header = writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MJPEG', width: 640, height: 480 }]);
  t.is(toHex(header.subarray(0, 4)), '1a45dfa3');
  t.true(toHex(header).includes('18538067' + '01ffffffffffffff'));
  const [event] = readAll(header);
  t.like(event, { type: 'header', header: { timecodeScaleNs: 1_000_000, muxingApp: 'rivulet', writingApp: 'rivulet', tracks: [{ number: 1, uid: 1, type: 1, codecId: 'V_MJPEG', width: 640, height: 480 }] } });
  t.true(event?.type === 'header' && Buffer.from(event.header.bytes).equals(header));
});

test('bad arguments are refused with the field named', (t) => {
  t.throws(() => writeMkvHeader([]), { instanceOf: RangeError, message: /tracks must not be empty/ });
  t.throws(() => writeMkvHeader([{ number: 0, type: 1, codecId: 'V_MJPEG' }]), { instanceOf: RangeError, message: /tracks\[0\]\.number/ });
  t.throws(() => writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MJPEG', width: 640 }]), { instanceOf: RangeError, message: /tracks\[0\]\.width and \.height/ });
  t.throws(() => writeCluster(0, [{ track: 1, timecode: 40_000, keyframe: true, data: new Uint8Array(1) }]), { instanceOf: RangeError, message: /blocks\[0\]\.timecode/ });
  t.throws(() => writeCluster(-1, []), { instanceOf: RangeError, message: /timecode must be a non-negative integer/ });
});

test('frames from GStreamer written again play in ffprobe and read back identically', async (t) => {
  const [track] = source.header.tracks;
  const tags = [
    { name: 'DEVICE', value: 'camera-1' },
    { name: 'CALIBRATION', value: Uint8Array.of(1, 2, 3) },
  ];
  const start = 1_795_347_940_485; // epoch ms, as ABSOLUTE PutMedia timecodes are
  const written = Buffer.concat([
    writeMkvHeader([track!], { writingApp: 'rivulet-test' }),
    writeTags(tags),
    ...source.clusters.map((cluster) => writeCluster(start + cluster.timecode, cluster.blocks)),
  ]);

  const probed = await probeVideo({ dir: dir.path, bytes: written });
  t.like(probed, { codec: 'h264', width: 320, height: 240, frames: 60 });
  t.is(probed.formatTags['DEVICE'], 'camera-1');

  const events = readAll(written);
  t.deepEqual(events.map((event) => event.type), ['header', 'tags', 'cluster', 'cluster']);
  t.like(events[0], { header: { writingApp: 'rivulet-test', tracks: [{ codecId: 'V_MPEG4/ISO/AVC', width: 320, height: 240, defaultDurationNs: 33_333_333 }] } });
  t.deepEqual(events[1]!.type === 'tags' && events[1].tags, tags);
  const clusters = events.flatMap((event) => (event.type === 'cluster' ? [event.cluster] : []));
  clusters.forEach((cluster, i) => {
    const original = source.clusters[i]!;
    t.is(cluster.timecode, start + original.timecode);
    t.is(cluster.durationUnits, original.durationUnits);
    t.deepEqual(cluster.blocks.map(({ track, timecode, keyframe }) => ({ track, timecode, keyframe })), original.blocks.map(({ track, timecode, keyframe }) => ({ track, timecode, keyframe })));
    t.true(cluster.blocks.every((block, j) => Buffer.from(block.data).equals(original.blocks[j]!.data)));
  });
});
