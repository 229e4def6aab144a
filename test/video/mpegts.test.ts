// MPEG-TS segments from stored fragments: each segment decodes alone (PAT/PMT first, SPS/PPS
// before the IDR), the segments played back to back are one continuous stream for FFmpeg (no
// continuity or timestamp complaints), and the packet layer is checked byte by byte.

import test from 'ava';
import { TsMuxer, remuxFragmentOf, type MkvTrack, type RemuxFragment } from '../../video/index.js';
import { crc32Mpeg2 } from '../../video/mpegts/crc32.js';
import { probeVideo, scratchDir } from './media-tools.js';
import { PRODUCER_START_MS, decodeErrors, probePackets, recordFragments, writeScratch } from './remux-fixtures.js';

const FRAMES = 90;
const GOP = 30;
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

let dir: Awaited<ReturnType<typeof scratchDir>>;
let track: MkvTrack;
let fragments: RemuxFragment[];

test.before(async () => {
  dir = await scratchDir();
  const remuxed = (await recordFragments(dir.path, FRAMES, GOP)).fragments.map(remuxFragmentOf);
  track = remuxed[0]!.track;
  fragments = remuxed.map((part) => part.fragment);
});

test.after.always(async () => {
  await dir?.cleanup();
});

/** The 188-byte packets of a TS byte string. */
function packetsOf(bytes: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += 188) packets.push(bytes.subarray(offset, offset + 188));
  return packets;
}

const pidOf = (packet: Uint8Array): number => ((packet[1]! & 0x1f) << 8) | packet[2]!;

test('each segment decodes alone to its GOP\'s frames', async (t) => {
  const muxer = new TsMuxer(track);
  for (const [i, fragment] of fragments.entries()) {
    const file = await writeScratch(dir.path, `segment-${i}.ts`, muxer.segment(fragment));
    t.like(await probeVideo(file), { codec: 'h264', width: 320, height: 240, frames: GOP }, `segment ${i}`);
    t.is(await decodeErrors(file), '', `segment ${i}`);
  }
});

test('segments back to back play as one stream: every frame, timestamps continuing, no errors', async (t) => {
  const muxer = new TsMuxer(track);
  const file = await writeScratch(dir.path, 'stream.ts', Buffer.concat(fragments.map((fragment) => muxer.segment(fragment))));
  t.is(await decodeErrors(file), '');
  t.like(await probeVideo(file), { codec: 'h264', width: 320, height: 240, frames: FRAMES });
  const packets = await probePackets(file);
  t.is(packets.length, FRAMES);
  // PTS is the producer timestamp on the 33-bit 90 kHz clock.
  t.is(Math.round(packets[0]!.ptsTime * 90_000), (PRODUCER_START_MS * 90) % 2 ** 33);
  t.deepEqual(packets.flatMap((packet, i) => (packet.keyframe ? [i] : [])), [0, 30, 60]);
  for (let i = 1; i < packets.length; i++) {
    const gap = packets[i]!.ptsTime - packets[i - 1]!.ptsTime;
    t.true(gap > 0.0325 && gap < 0.0345, `frame ${i} comes ${gap} s after the one before`);
  }
});

test('packets: PAT and PMT first with valid CRCs, continuity counters running across segments, PCR on the video PID', (t) => {
  const muxer = new TsMuxer(track);
  const segments = fragments.map((fragment) => muxer.segment(fragment));
  const counters = new Map<number, number>();
  for (const segment of segments) {
    t.is(segment.length % 188, 0);
    const packets = packetsOf(segment);
    t.deepEqual(packets.slice(0, 2).map(pidOf), [0x0000, 0x1000]);
    for (const packet of packets) {
      t.is(packet[0], 0x47);
      const pid = pidOf(packet);
      const counter = packet[3]! & 0x0f;
      if (counters.has(pid)) t.is(counter, (counters.get(pid)! + 1) & 0x0f, `PID ${pid}`);
      counters.set(pid, counter);
    }
    const firstVideo = packets[2]!;
    // payload_unit_start, adaptation field with random_access_indicator and PCR, then the PES start code
    t.is(firstVideo[1]! & 0x40, 0x40);
    t.is(firstVideo[5], 0x50);
    t.is(toHex(firstVideo.subarray(4 + 1 + firstVideo[4]!, 4 + 1 + firstVideo[4]! + 4)), '000001e0');
  }
  t.deepEqual([...counters.keys()].sort(), [0x0000, 0x0100, 0x1000]);
  const pat = packetsOf(segments[0]!)[0]!;
  t.is(toHex(pat.subarray(0, 21)), '47400010' + '00' + '00b00d0001c10000' + '0001f000' + toHex(pat.subarray(17, 21)));
  const sectionOf = (packet: Uint8Array): Uint8Array => packet.subarray(5, 5 + 3 + (((packet[6]! & 0x0f) << 8) | packet[7]!));
  // A section with its CRC appended has a CRC-32/MPEG-2 remainder of 0.
  t.is(crc32Mpeg2(sectionOf(pat)), 0);
  const pmt = packetsOf(segments[0]!)[1]!;
  t.is(toHex(sectionOf(pmt).subarray(0, 17)), '02b0120001c10000' + 'e100f000' + '1be100f000');
  t.is(crc32Mpeg2(sectionOf(pmt)), 0);
});

test('CRC-32/MPEG-2 matches its check value', (t) => {
  t.is(crc32Mpeg2(Buffer.from('123456789')), 0x0376e6e7);
});

test('each access unit starts with an AUD, and the IDR with the avcC\'s SPS and PPS', (t) => {
  const segment = new TsMuxer(track).segment({ startMs: 0, durationMs: 33, blocks: fragments[0]!.blocks.slice(0, 1) });
  const videoPayload = Buffer.concat(
    packetsOf(segment)
      .filter((packet) => pidOf(packet) === 0x0100)
      .map((packet) => packet.subarray(packet[3]! & 0x20 ? 5 + packet[4]! : 4)),
  );
  const es = videoPayload.subarray(19);
  t.is(toHex(es.subarray(0, 6)), '0000000109f0');
  const record = track.codecPrivate!;
  const spsLength = (record[6]! << 8) | record[7]!;
  t.is(toHex(es.subarray(6, 10 + spsLength)), '00000001' + toHex(record.subarray(8, 8 + spsLength)));
  // PTS = DTS = 0 with their '0011' / '0001' prefixes
  t.is(toHex(videoPayload.subarray(0, 19)), '000001e0' + '0000' + '84c00a' + '3100010001' + '1100010001');
});
