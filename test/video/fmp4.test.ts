// Fragmented MP4 from stored fragments: GStreamer's H.264 cut into one fragment per GOP, remuxed
// to an init segment + one moof/mdat per fragment, must be what ffprobe reads as the same 90
// frames at their producer timestamps; GetClip's single MP4 starts at 0; a few boxes byte for byte.

import test from 'ava';
import {
  MissingCodecPrivateDataError,
  UnsupportedStreamMediaTypeError,
  avcCodecString,
  remuxFragmentOf,
  writeFmp4Init,
  writeFmp4Segment,
  writeMp4File,
  type MkvTrack,
  type RemuxFragment,
} from '../../video/index.js';
import { openConsole } from '../console/browser.js';
import { probeVideo, scratchDir } from './media-tools.js';
import { PRODUCER_START_MS, probeFormat, probePackets, recordFragments, writeScratch, type StoredRecording } from './remux-fixtures.js';

const FRAMES = 90;
const GOP = 30;
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

let dir: Awaited<ReturnType<typeof scratchDir>>;
let recording: StoredRecording;
let track: MkvTrack;
let fragments: RemuxFragment[];

test.before(async () => {
  dir = await scratchDir();
  recording = await recordFragments(dir.path, FRAMES, GOP);
  const remuxed = recording.fragments.map(remuxFragmentOf);
  track = remuxed[0]!.track;
  fragments = remuxed.map((part) => part.fragment);
});

test.after.always(async () => {
  await dir?.cleanup();
});

/** The payload of the box at `path` (e.g. ['moov', 'trak', 'tkhd']), walking container boxes. */
function boxAt(bytes: Uint8Array, path: string[]): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    const size = view.getUint32(offset);
    const type = Buffer.from(bytes.subarray(offset + 4, offset + 8)).toString('latin1');
    if (type === path[0]) {
      const payload = bytes.subarray(offset + 8, offset + size);
      if (path.length === 1) return payload;
      // stsd and avc1 have fields before their child boxes
      const skip = type === 'stsd' ? 8 : type === 'avc1' ? 78 : 0;
      return boxAt(payload.subarray(skip), path.slice(1));
    }
    offset += size;
  }
  throw new Error(`no ${path[0]} box`);
}

test('init and segments concatenated play as the recording, frame for frame at producer time', async (t) => {
  t.is(fragments.length, FRAMES / GOP);
  const file = await writeScratch(dir.path, 'stream.mp4', Buffer.concat([writeFmp4Init(track), ...fragments.map((fragment, i) => writeFmp4Segment(i + 1, fragment))]));
  t.like(await probeVideo(file), { codec: 'h264', width: 320, height: 240, frames: FRAMES, formatTags: { major_brand: 'iso6' } });
  const packets = await probePackets(file);
  t.is(packets.length, FRAMES);
  t.is(packets[0]!.ptsTime, PRODUCER_START_MS / 1000);
  t.deepEqual(packets.flatMap((packet, i) => (packet.keyframe ? [i] : [])), [0, 30, 60]);
  for (let i = 1; i < packets.length; i++) {
    const gap = packets[i]!.dtsTime - packets[i - 1]!.dtsTime;
    t.true(gap > 0.0325 && gap < 0.0345, `frame ${i} comes ${gap} s after the one before`);
    t.is(packets[i]!.ptsTime, packets[i]!.dtsTime);
  }
});

test('Chromium\'s Media Source Extensions take the init segment and segments and buffer the whole recording', async (t) => {
  const { page, errors } = await openConsole(t, 'about:blank');
  const base64 = [writeFmp4Init(track), ...fragments.map((fragment, i) => writeFmp4Segment(i + 1, fragment))].map((bytes) => Buffer.from(bytes).toString('base64'));
  const buffered = await page.evaluate(
    async ({ parts, codec }) => {
      const type = `video/mp4; codecs="${codec}"`;
      if (!MediaSource.isTypeSupported(type)) return `unsupported: ${type}`;
      const source = new MediaSource();
      const video = document.createElement('video');
      video.src = URL.createObjectURL(source);
      await new Promise((resolve) => source.addEventListener('sourceopen', resolve, { once: true }));
      const buffer = source.addSourceBuffer(type);
      for (const part of parts) {
        const bytes = Uint8Array.from(atob(part), (char) => char.charCodeAt(0));
        await new Promise((resolve, reject) => {
          buffer.addEventListener('updateend', resolve, { once: true });
          video.addEventListener('error', () => reject(new Error(video.error?.message ?? 'media error')), { once: true });
          buffer.appendBuffer(bytes);
        });
      }
      return Array.from({ length: buffer.buffered.length }, (_, i) => [buffer.buffered.start(i), buffer.buffered.end(i)]);
    },
    { parts: base64, codec: avcCodecString(track) },
  );
  t.deepEqual(errors, []);
  if (typeof buffered === 'string') return t.fail(buffered);
  t.is(buffered.length, 1, 'one continuous buffered range');
  const [start, end] = buffered[0]!;
  t.true(Math.abs(start! - PRODUCER_START_MS / 1000) < 0.001, `buffered from ${start}`);
  t.true(Math.abs(end! - start! - FRAMES / 30) < 0.01, `buffered ${end! - start!} s`);
});

test('the init segment describes the track: 90 kHz, its size, its avcC as is, one trex', (t) => {
  const init = writeFmp4Init(track);
  t.is(toHex(boxAt(init, ['ftyp']).subarray(0, 8)), toHex(Buffer.from('iso6\0\0\0\0', 'latin1')));
  const mdhd = boxAt(init, ['moov', 'trak', 'mdia', 'mdhd']);
  t.is(new DataView(mdhd.buffer, mdhd.byteOffset).getUint32(12), 90_000);
  const tkhd = boxAt(init, ['moov', 'trak', 'tkhd']);
  t.is(toHex(tkhd.subarray(-8)), '01400000' + '00f00000');
  t.is(toHex(boxAt(init, ['moov', 'trak', 'mdia', 'hdlr']).subarray(8, 12)), toHex(Buffer.from('vide')));
  t.is(toHex(boxAt(init, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd', 'avc1', 'avcC'])), toHex(track.codecPrivate!));
  t.is(toHex(boxAt(init, ['moov', 'mvex', 'trex'])), '00000000' + '00000001' + '00000001' + '00000000'.repeat(3));
});

test('a segment is written byte for byte: mfhd sequence, tfdt in 90 kHz, trun, mdat', (t) => {
  const segment = writeFmp4Segment(7, {
    startMs: 1000,
    durationMs: 100,
    blocks: [
      { track: 1, timecode: 0, keyframe: true, data: Uint8Array.of(0, 0, 0, 2, 0x65, 0x88) },
      { track: 1, timecode: 40, keyframe: false, data: Uint8Array.of(0, 0, 0, 1, 0x41) },
    ],
  });
  t.is(
    toHex(segment),
    '00000078' + '6d6f6f66' +
      '00000010' + '6d666864' + '00000000' + '00000007' +
      '00000060' + '74726166' +
      '00000010' + '74666864' + '00020000' + '00000001' +
      '00000014' + '74666474' + '01000000' + '0000000000015f90' +
      '00000034' + '7472756e' + '00000f01' + '00000002' + '00000080' +
      '00000e10' + '00000006' + '02000000' + '00000000' +
      '00001518' + '00000005' + '01010000' + '00000000' +
      '00000013' + '6d646174' + '000000026588' + '0000000141',
  );
  // Epoch-millisecond start times need all 64 bits of tfdt.
  const tfdt = boxAt(writeFmp4Segment(1, { ...fragments[0]!, startMs: PRODUCER_START_MS }), ['moof', 'traf', 'tfdt']);
  t.is(toHex(tfdt), '01000000' + (PRODUCER_START_MS * 90).toString(16).padStart(16, '0'));
});

test('writeMp4File makes one MP4 starting at 0 with every frame and the fragments\' duration', async (t) => {
  const file = await writeScratch(dir.path, 'clip.mp4', writeMp4File(track, fragments));
  t.like(await probeVideo(file), { codec: 'h264', width: 320, height: 240, frames: FRAMES });
  const format = await probeFormat(file);
  t.is(format.startS, 0);
  t.true(Math.abs(format.durationS - FRAMES / 30) < 0.01, `duration ${format.durationS} s`);
});

test('the codec string comes from the avcC and agrees with ffprobe\'s profile and level', async (t) => {
  const codec = avcCodecString(track);
  const record = track.codecPrivate!;
  t.is(codec, `avc1.${toHex(record.subarray(1, 4))}`);
  const probed = await probeFormat(await writeScratch(dir.path, 'codec.mp4', writeMp4File(track, fragments.slice(0, 1))));
  t.is(probed.profile, 'High');
  t.is(codec, `avc1.6400${probed.level.toString(16).padStart(2, '0')}`);
});

test('tracks that are not H.264 with a CodecPrivate are refused with the archived-media error', (t) => {
  t.throws(() => writeFmp4Init({ number: 1, type: 1, codecId: 'V_MJPEG' }), { instanceOf: UnsupportedStreamMediaTypeError });
  t.throws(() => writeFmp4Init({ ...track, codecPrivate: undefined }), { instanceOf: MissingCodecPrivateDataError });
  t.throws(() => avcCodecString({ ...track, codecPrivate: Uint8Array.of(2, 0, 0) }), { name: 'InvalidCodecPrivateDataError' });
});
