// Fragmented MP4 (ISO/IEC 14496-12 with CMAF-style brands) from Matroska H.264 fragments: an init
// segment (ftyp + moov with mvex) per track and one moof + mdat per Kinesis Video fragment, what
// HLS (fMP4), DASH and GetClip serve. Matroska blocks already hold AVCC samples, so sample data is
// copied as is; each segment is written into a single buffer sized up front.

import type { MkvBlock, MkvTrack } from '../mkv/model.js';
import { avcConfigOf } from './avc-track.js';
import { BoxWriter } from './boxes.js';

/** One fragment to remux: its blocks' timecodes are ms relative to startMs, in decode order (no B-frames). */
export interface RemuxFragment {
  /** Media time of the fragment (the producer timestamp, epoch ms, for stored fragments). */
  startMs: number;
  durationMs: number;
  blocks: MkvBlock[];
}

/** Media timescale: the 90 kHz clock MPEG-TS also uses, so both outputs share sample times. */
export const TIMESCALE = 90_000;
const TICKS_PER_MS = TIMESCALE / 1000;
const TRACK_ID = 1;
/** When a fragment's only sample has no duration to go by: one frame at 30 fps. */
const FALLBACK_SAMPLE_TICKS = 3000;

const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];
// sample_depends_on = 2 (an I picture) vs sample_depends_on = 1 + sample_is_non_sync_sample.
const SYNC_SAMPLE_FLAGS = 0x02000000;
const NON_SYNC_SAMPLE_FLAGS = 0x01010000;
// trun: data-offset, and per sample duration, size, flags and composition time offset.
const TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
const TRUN_SAMPLE_BYTES = 16;
// moof(8) + mfhd(16) + traf(8) + tfhd(16) + tfdt v1(20) + trun header(20), before the samples.
const MOOF_FIXED_BYTES = 8 + 16 + 8 + 16 + 20 + 20;
const MDAT_HEADER_BYTES = 8;

// Samples live in the fragments, so the moov's sample tables are empty: entry counts of 0
// (stsz also has its sample_size field first).
const EMPTY_SAMPLE_TABLES: [string, number][] = [['stts', 1], ['stsc', 1], ['stsz', 2], ['stco', 1]];

/** Milliseconds to 90 kHz ticks, rounded the same way by every remux output. */
export const toTicks = (ms: number): number => Math.round(ms * TICKS_PER_MS);

function writeMatrix(out: BoxWriter): void {
  for (const value of UNITY_MATRIX) out.u32(value);
}

/** The init segment (ftyp + moov) of an H.264 track, media timescale 90 kHz. */
export function writeFmp4Init(track: MkvTrack): Uint8Array {
  const { record } = avcConfigOf(track);
  const width = track.width ?? 0;
  const height = track.height ?? 0;
  const out = new BoxWriter(1024 + record.length);

  const ftyp = out.begin('ftyp');
  out.fourcc('iso6').u32(0);
  for (const brand of ['iso6', 'cmfc', 'isom', 'avc1', 'mp41']) out.fourcc(brand);
  out.end(ftyp);

  const moov = out.begin('moov');
  const mvhd = out.beginFull('mvhd', 0, 0);
  out.u32(0).u32(0).u32(1000).u32(0).u32(0x00010000).u16(0x0100).zeros(10);
  writeMatrix(out);
  out.zeros(24).u32(TRACK_ID + 1);
  out.end(mvhd);

  const trak = out.begin('trak');
  // flags: track_enabled | track_in_movie
  const tkhd = out.beginFull('tkhd', 0, 3);
  out.u32(0).u32(0).u32(TRACK_ID).u32(0).u32(0).zeros(8).u16(0).u16(0).u16(0).u16(0);
  writeMatrix(out);
  out.u32(width * 0x10000).u32(height * 0x10000);
  out.end(tkhd);

  const mdia = out.begin('mdia');
  const mdhd = out.beginFull('mdhd', 0, 0);
  // language 'und' packed as three 5-bit letters
  out.u32(0).u32(0).u32(TIMESCALE).u32(0).u16(0x55c4).u16(0);
  out.end(mdhd);
  const hdlr = out.beginFull('hdlr', 0, 0);
  out.u32(0).fourcc('vide').zeros(12).data(new TextEncoder().encode('VideoHandler\0'));
  out.end(hdlr);

  const minf = out.begin('minf');
  const vmhd = out.beginFull('vmhd', 0, 1);
  out.u16(0).zeros(6);
  out.end(vmhd);
  const dinf = out.begin('dinf');
  const dref = out.beginFull('dref', 0, 0);
  out.u32(1);
  // flags 1: the media is in this file
  out.end(out.beginFull('url ', 0, 1));
  out.end(dref);
  out.end(dinf);

  const stbl = out.begin('stbl');
  const stsd = out.beginFull('stsd', 0, 0);
  out.u32(1);
  const avc1 = out.begin('avc1');
  out.zeros(6).u16(1).zeros(16).u16(width).u16(height).u32(0x00480000).u32(0x00480000).u32(0).u16(1).zeros(32).u16(0x0018).u16(0xffff);
  const avcC = out.begin('avcC');
  out.data(record);
  out.end(avcC);
  out.end(avc1);
  out.end(stsd);
  // Samples live in the fragments: the sample tables stay empty.
  for (const [type, zeroFields] of EMPTY_SAMPLE_TABLES) {
    const table = out.beginFull(type, 0, 0);
    out.zeros(4 * zeroFields);
    out.end(table);
  }
  out.end(stbl);
  out.end(minf);
  out.end(mdia);
  out.end(trak);

  const mvex = out.begin('mvex');
  const trex = out.beginFull('trex', 0, 0);
  out.u32(TRACK_ID).u32(1).u32(0).u32(0).u32(0);
  out.end(trex);
  out.end(mvex);
  out.end(moov);
  return out.finish();
}

/** Sample durations in 90 kHz ticks: the gap to the next block; the last runs to the fragment's end. */
function sampleDurations(fragment: RemuxFragment): Int32Array {
  const { blocks } = fragment;
  const durations = new Int32Array(blocks.length);
  let previous = toTicks(blocks[0]?.timecode ?? 0);
  for (let i = 1; i < blocks.length; i++) {
    const time = toTicks(blocks[i]!.timecode);
    durations[i - 1] = time - previous;
    previous = time;
  }
  if (blocks.length > 0) {
    // Producers that write no BlockDuration leave the fragment ending at its last block's timecode.
    const toEnd = toTicks(fragment.durationMs) - previous;
    const fallback = blocks.length > 1 ? durations[blocks.length - 2]! : FALLBACK_SAMPLE_TICKS;
    durations[blocks.length - 1] = toEnd > 0 ? toEnd : fallback;
  }
  return durations;
}

/** A media segment (moof + mdat) for one fragment; tfdt is startMs on the 90 kHz clock. */
export function writeFmp4Segment(sequenceNumber: number, fragment: RemuxFragment): Uint8Array {
  return writeSegment(sequenceNumber, fragment, toTicks(fragment.startMs));
}

function writeSegment(sequenceNumber: number, fragment: RemuxFragment, baseMediaDecodeTime: number): Uint8Array {
  const { blocks } = fragment;
  const durations = sampleDurations(fragment);
  let mediaBytes = 0;
  for (const block of blocks) mediaBytes += block.data.length;
  const moofBytes = MOOF_FIXED_BYTES + TRUN_SAMPLE_BYTES * blocks.length;
  const out = new BoxWriter(moofBytes + MDAT_HEADER_BYTES + mediaBytes);

  const moof = out.begin('moof');
  const mfhd = out.beginFull('mfhd', 0, 0);
  out.u32(sequenceNumber);
  out.end(mfhd);
  const traf = out.begin('traf');
  // default-base-is-moof: data offsets count from the moof's first byte
  const tfhd = out.beginFull('tfhd', 0, 0x020000);
  out.u32(TRACK_ID);
  out.end(tfhd);
  const tfdt = out.beginFull('tfdt', 1, 0);
  out.u64(baseMediaDecodeTime);
  out.end(tfdt);
  const trun = out.beginFull('trun', 0, TRUN_FLAGS);
  out.u32(blocks.length).u32(moofBytes + MDAT_HEADER_BYTES);
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    out.u32(durations[i]!).u32(block.data.length).u32(block.keyframe ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS).u32(0);
  }
  out.end(trun);
  out.end(traf);
  out.end(moof);

  const mdat = out.begin('mdat');
  for (const block of blocks) out.data(block.data);
  out.end(mdat);
  return out.finish();
}

/**
 * One playable MP4 (GetClip): the init segment followed by a segment per fragment, its timeline
 * starting at 0 at the first fragment (a clip's players expect that, not epoch time).
 */
export function writeMp4File(track: MkvTrack, fragments: RemuxFragment[]): Uint8Array {
  const init = writeFmp4Init(track);
  const originMs = fragments[0]?.startMs ?? 0;
  const segments = fragments.map((fragment, i) => writeSegment(i + 1, fragment, toTicks(fragment.startMs - originMs)));
  const out = new Uint8Array(init.length + segments.reduce((sum, segment) => sum + segment.length, 0));
  out.set(init, 0);
  let offset = init.length;
  for (const segment of segments) {
    out.set(segment, offset);
    offset += segment.length;
  }
  return out;
}
