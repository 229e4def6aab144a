// MPEG-TS (ISO/IEC 13818-1) segments from Matroska H.264 fragments, for HLS players that want TS:
// every segment opens with PAT and PMT so it decodes alone; each access unit becomes one PES with
// PTS = DTS on the 90 kHz clock (no B-frames) and a PCR, in Annex-B with an access unit delimiter
// and, before an IDR, the SPS/PPS of the track's avcC. Continuity counters run on across segments
// so a player appending them sees one continuous stream.

import { NalType, splitAvcc, type AvcDecoderConfig } from '../h264/avcc.js';
import type { MkvBlock, MkvTrack } from '../mkv/model.js';
import { avcConfigOf } from '../mp4/avc-track.js';
import { toTicks, type RemuxFragment } from '../mp4/fmp4.js';
import { crc32Mpeg2 } from './crc32.js';

const PACKET_BYTES = 188;
const PACKET_PAYLOAD_BYTES = 184;
const SYNC_BYTE = 0x47;
const PAT_PID = 0x0000;
const PMT_PID = 0x1000;
const VIDEO_PID = 0x0100;
const STREAM_TYPE_H264 = 0x1b;
const PROGRAM_NUMBER = 1;
/** PTS, DTS and PCR base are 33-bit counters that wrap. */
const CLOCK_WRAP = 2 ** 33;
// 00 00 01 E0, PES_packet_length 0 (unbounded, allowed for video), '10' + data_alignment_indicator,
// PTS_DTS_flags '11', PES_header_data_length 10, then PTS and DTS (5 bytes each).
const PES_HEADER_BYTES = 19;
// adaptation_field_length + flags + PCR (6 bytes)
const PCR_ADAPTATION_BYTES = 8;
const START_CODE = Uint8Array.of(0, 0, 0, 1);
// primary_pic_type 7 (any slice type) + rbsp stop bit
const ACCESS_UNIT_DELIMITER = Uint8Array.of(0, 0, 0, 1, NalType.AccessUnitDelimiter, 0xf0);

/** A PSI section (PAT or PMT) in one TS packet: pointer field, section, CRC, 0xFF fill; the continuity counter is set per use. */
function psiPacket(pid: number, section: number[]): Uint8Array {
  const packet = new Uint8Array(PACKET_BYTES).fill(0xff);
  packet.set([SYNC_BYTE, 0x40 | (pid >> 8), pid & 0xff, 0x10, 0x00], 0);
  // section_length counts what follows it, CRC included
  const sectionLength = section.length - 1 + 4;
  const withLength = [section[0]!, 0xb0 | (sectionLength >> 8), sectionLength & 0xff, ...section.slice(1)];
  const body = Uint8Array.from(withLength);
  const crc = crc32Mpeg2(body);
  packet.set(body, 5);
  packet.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], 5 + body.length);
  return packet;
}

const PAT_PACKET = psiPacket(PAT_PID, [
  0x00, 0x00, 0x01, 0xc1, 0x00, 0x00, // table_id, transport_stream_id 1, version 0 current, section 0 of 0
  PROGRAM_NUMBER >> 8, PROGRAM_NUMBER & 0xff, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff,
]);
const PMT_PACKET = psiPacket(PMT_PID, [
  0x02, PROGRAM_NUMBER >> 8, PROGRAM_NUMBER & 0xff, 0xc1, 0x00, 0x00,
  0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0x00, // PCR_PID, program_info_length 0
  STREAM_TYPE_H264, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0x00, // ES_info_length 0
]);

/** TS packets a PES of `pesBytes` takes: the first carries the PCR, the last is stuffed. */
const packetsFor = (pesBytes: number): number =>
  pesBytes <= PACKET_PAYLOAD_BYTES - PCR_ADAPTATION_BYTES ? 1 : 1 + Math.ceil((pesBytes - (PACKET_PAYLOAD_BYTES - PCR_ADAPTATION_BYTES)) / PACKET_PAYLOAD_BYTES);

/** Writes a 33-bit timestamp as the 5-byte PTS/DTS field with its 4-bit prefix. */
function writeTimestamp(out: Uint8Array, at: number, prefix: number, ticks: number): void {
  const high = Math.floor(ticks / 2 ** 30);
  const low = ticks % 2 ** 30;
  out[at] = (prefix << 4) | (high << 1) | 1;
  out[at + 1] = low >>> 22;
  out[at + 2] = ((low >>> 14) & 0xfe) | 1;
  out[at + 3] = (low >>> 7) & 0xff;
  out[at + 4] = ((low << 1) & 0xfe) | 1;
}

/** Writes the 6-byte PCR field: 33-bit base, 6 reserved bits, extension 0. */
function writePcr(out: Uint8Array, at: number, base: number): void {
  const high = Math.floor(base / 2 ** 25);
  const low = base % 2 ** 25;
  out[at] = high;
  out[at + 1] = low >>> 17;
  out[at + 2] = (low >>> 9) & 0xff;
  out[at + 3] = (low >>> 1) & 0xff;
  out[at + 4] = ((low & 1) << 7) | 0x7e;
  out[at + 5] = 0;
}

/** Remuxes fragments of one H.264 track into MPEG-TS segments that play back to back. */
export class TsMuxer {
  private readonly config: AvcDecoderConfig;
  private readonly parameterSets: Uint8Array[];
  private readonly parameterSetBytes: number;
  private patCounter = 0;
  private pmtCounter = 0;
  private videoCounter = 0;
  /** One PES at a time is assembled here before being cut into packets; grown, never shrunk. */
  private pes = new Uint8Array(1 << 16);

  constructor(track: MkvTrack) {
    this.config = avcConfigOf(track).config;
    this.parameterSets = [...this.config.sps, ...this.config.pps];
    this.parameterSetBytes = this.parameterSets.reduce((sum, unit) => sum + START_CODE.length + unit.length, 0);
  }

  /** One segment: PAT, PMT and a PES per block, timestamps startMs + block timecode on 90 kHz. */
  segment(fragment: RemuxFragment): Uint8Array {
    const { blocks } = fragment;
    const pesSizes = new Int32Array(blocks.length);
    const withParameterSets = new Uint8Array(blocks.length);
    let packets = 2;
    for (let i = 0; i < blocks.length; i++) {
      const { bytes, needsParameterSets } = this.accessUnitLayout(blocks[i]!);
      withParameterSets[i] = needsParameterSets ? 1 : 0;
      pesSizes[i] = PES_HEADER_BYTES + bytes;
      packets += packetsFor(pesSizes[i]!);
    }
    const out = new Uint8Array(packets * PACKET_BYTES);
    out.set(PAT_PACKET, 0);
    out[3] = 0x10 | this.patCounter;
    this.patCounter = (this.patCounter + 1) & 0x0f;
    out.set(PMT_PACKET, PACKET_BYTES);
    out[PACKET_BYTES + 3] = 0x10 | this.pmtCounter;
    this.pmtCounter = (this.pmtCounter + 1) & 0x0f;

    const startTicks = toTicks(fragment.startMs);
    let offset = 2 * PACKET_BYTES;
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      const ticks = (startTicks + toTicks(block.timecode)) % CLOCK_WRAP;
      this.writePes(block, ticks, pesSizes[i]!, withParameterSets[i] === 1);
      offset = this.packetize(out, offset, pesSizes[i]!, ticks, block.keyframe);
    }
    return out;
  }

  /**
   * Size of a block as an Annex-B access unit: AUD, SPS/PPS before an IDR unless the sample
   * carries its own, then its NAL units (their own AUDs dropped: an AU has one, first).
   */
  private accessUnitLayout(block: MkvBlock): { bytes: number; needsParameterSets: boolean } {
    let bytes = ACCESS_UNIT_DELIMITER.length;
    let hasSps = false;
    for (const nal of this.nalsOf(block)) {
      const type = nal[0]! & 0x1f;
      if (type === NalType.AccessUnitDelimiter) continue;
      if (type === NalType.Sps) hasSps = true;
      bytes += START_CODE.length + nal.length;
    }
    const needsParameterSets = block.keyframe && !hasSps;
    if (needsParameterSets) bytes += this.parameterSetBytes;
    return { bytes, needsParameterSets };
  }

  /** The NAL units of a block (views, not copies), empty ones left out. */
  private nalsOf(block: MkvBlock): Uint8Array[] {
    return splitAvcc(block.data, this.config.nalLengthSize).filter((nal) => nal.length > 0);
  }

  /** Assembles the PES (header + Annex-B access unit) of a block in this.pes. */
  private writePes(block: MkvBlock, ticks: number, pesBytes: number, withParameterSets: boolean): void {
    if (this.pes.length < pesBytes) this.pes = new Uint8Array(Math.max(pesBytes, this.pes.length * 2));
    const pes = this.pes;
    pes.set([0, 0, 1, 0xe0, 0, 0, 0x84, 0xc0, 10], 0);
    writeTimestamp(pes, 9, 0b0011, ticks);
    writeTimestamp(pes, 14, 0b0001, ticks);
    let at = PES_HEADER_BYTES;
    pes.set(ACCESS_UNIT_DELIMITER, at);
    at += ACCESS_UNIT_DELIMITER.length;
    if (withParameterSets) {
      for (const unit of this.parameterSets) {
        pes.set(START_CODE, at);
        pes.set(unit, at + START_CODE.length);
        at += START_CODE.length + unit.length;
      }
    }
    for (const nal of this.nalsOf(block)) {
      if ((nal[0]! & 0x1f) === NalType.AccessUnitDelimiter) continue;
      pes.set(START_CODE, at);
      pes.set(nal, at + START_CODE.length);
      at += START_CODE.length + nal.length;
    }
  }

  /** Cuts this.pes into TS packets at `offset` in out; returns the offset past them. */
  private packetize(out: Uint8Array, offset: number, pesBytes: number, ticks: number, randomAccess: boolean): number {
    let sent = 0;
    let first = true;
    while (sent < pesBytes) {
      const remaining = pesBytes - sent;
      const adaptationMin = first ? PCR_ADAPTATION_BYTES : 0;
      const payload = Math.min(remaining, PACKET_PAYLOAD_BYTES - adaptationMin);
      const adaptation = PACKET_PAYLOAD_BYTES - payload;
      out[offset] = SYNC_BYTE;
      out[offset + 1] = (first ? 0x40 : 0) | (VIDEO_PID >> 8);
      out[offset + 2] = VIDEO_PID & 0xff;
      out[offset + 3] = (adaptation > 0 ? 0x30 : 0x10) | this.videoCounter;
      this.videoCounter = (this.videoCounter + 1) & 0x0f;
      if (adaptation > 0) {
        // adaptation_field_length excludes itself; a single byte is a length of 0 (pure stuffing)
        out[offset + 4] = adaptation - 1;
        if (adaptation > 1) {
          // random_access_indicator on a keyframe's first packet, PCR_flag on every PES's first
          out[offset + 5] = first ? (randomAccess ? 0x50 : 0x10) : 0x00;
          let at = offset + 6;
          if (first) {
            writePcr(out, at, ticks);
            at += 6;
          }
          out.fill(0xff, at, offset + 4 + adaptation);
        }
      }
      out.set(this.pes.subarray(sent, sent + payload), offset + 4 + adaptation);
      sent += payload;
      offset += PACKET_BYTES;
      first = false;
    }
    return offset;
  }
}
