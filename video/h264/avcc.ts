// H.264 as it travels in two framings: Annex-B (start codes, what encoders and RTSP cameras emit)
// and AVCC (length-prefixed NAL units with an AVCDecoderConfigurationRecord describing SPS/PPS,
// what Matroska's V_MPEG4/ISO/AVC and MP4 carry). Pure functions over bytes.

import { H264FormatError } from './errors.js';

/** NAL unit types Rivulet looks at (ITU-T H.264 table 7-1). */
export const NalType = {
  NonIdrSlice: 1,
  IdrSlice: 5,
  Sei: 6,
  Sps: 7,
  Pps: 8,
  AccessUnitDelimiter: 9,
} as const;

/** An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), i.e. avcC / Matroska CodecPrivate. */
export interface AvcDecoderConfig {
  /** AVCProfileIndication, e.g. 66 baseline, 77 main, 100 high. */
  profile: number;
  /** profile_compatibility (the constraint flags byte). */
  compatibility: number;
  /** AVCLevelIndication, e.g. 31 for level 3.1. */
  level: number;
  /** Bytes of each NAL unit's length prefix: 1, 2 or 4. */
  nalLengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
}

/** The type of a NAL unit (its first byte's low five bits). */
export function nalType(nal: Uint8Array): number {
  if (nal.length === 0) throw new H264FormatError('empty NAL unit');
  return nal[0]! & 0x1f;
}

/** Whether the NAL units of one access unit make a keyframe: it holds an IDR slice. */
export function isIdrAccessUnit(nals: readonly Uint8Array[]): boolean {
  return nals.some((nal) => nal.length > 0 && nalType(nal) === NalType.IdrSlice);
}

/** Decodes an AVCDecoderConfigurationRecord; trailing high-profile extension bytes are ignored. */
export function parseAvcDecoderConfig(bytes: Uint8Array): AvcDecoderConfig {
  if (bytes.length < 7) throw new H264FormatError(`AVCDecoderConfigurationRecord of ${bytes.length} bytes is too short`);
  if (bytes[0] !== 1) throw new H264FormatError(`AVCDecoderConfigurationRecord version ${bytes[0]} (expected 1)`);
  const nalLengthSize = (bytes[4]! & 0x03) + 1;
  if (nalLengthSize === 3) throw new H264FormatError('NAL length size 3 is not allowed');
  let offset = 5;
  const readSet = (count: number, what: string): Uint8Array[] => {
    const units: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (offset + 2 > bytes.length) throw new H264FormatError(`AVCDecoderConfigurationRecord ends inside ${what} ${i}`);
      const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
      if (offset + 2 + length > bytes.length) throw new H264FormatError(`${what} ${i} of ${length} bytes overruns the record`);
      units.push(bytes.slice(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    return units;
  };
  const sps = readSet(bytes[offset++]! & 0x1f, 'SPS');
  if (offset >= bytes.length) throw new H264FormatError('AVCDecoderConfigurationRecord ends before its PPS count');
  const pps = readSet(bytes[offset++]!, 'PPS');
  return { profile: bytes[1]!, compatibility: bytes[2]!, level: bytes[3]!, nalLengthSize, sps, pps };
}

/**
 * Builds an AVCDecoderConfigurationRecord with 4-byte NAL lengths; profile, compatibility and
 * level come from the first SPS. The high-profile extension (chroma format, bit depths) is left
 * out, as h264parse and kvssink leave it out; decoders read those from the SPS itself.
 */
export function buildAvcDecoderConfig(sps: Uint8Array | readonly Uint8Array[], pps: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const spsList = sps instanceof Uint8Array ? [sps] : [...sps];
  const ppsList = pps instanceof Uint8Array ? [pps] : [...pps];
  const first = spsList[0];
  if (!first || first.length < 4) throw new H264FormatError('an SPS of at least 4 bytes is required');
  if (ppsList.length === 0) throw new H264FormatError('a PPS is required');
  if (spsList.length > 31 || ppsList.length > 255) throw new H264FormatError('too many SPS (max 31) or PPS (max 255)');
  const out: number[] = [1, first[1]!, first[2]!, first[3]!, 0xfc | 3, 0xe0 | spsList.length];
  const pushUnit = (unit: Uint8Array): void => {
    if (unit.length > 0xffff) throw new H264FormatError(`parameter set of ${unit.length} bytes is too long`);
    out.push(unit.length >> 8, unit.length & 0xff, ...unit);
  };
  spsList.forEach(pushUnit);
  out.push(ppsList.length);
  ppsList.forEach(pushUnit);
  return Uint8Array.from(out);
}

/** The NAL units of an Annex-B byte stream (3- or 4-byte start codes), without start codes or trailing zeros. */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const starts: { code: number; nal: number }[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      starts.push({ code: i > 0 && data[i - 1] === 0 ? i - 1 : i, nal: i + 3 });
      i += 2;
    }
  }
  if (starts.length === 0) throw new H264FormatError('no Annex-B start code found');
  const nals: Uint8Array[] = [];
  for (let k = 0; k < starts.length; k++) {
    let end = k + 1 < starts.length ? starts[k + 1]!.code : data.length;
    // trailing_zero_8bits belong to no NAL unit
    while (end > starts[k]!.nal && data[end - 1] === 0) end--;
    if (end > starts[k]!.nal) nals.push(data.subarray(starts[k]!.nal, end));
  }
  return nals;
}

/** Joins NAL units with big-endian length prefixes of `nalLengthSize` bytes (AVCC framing). */
export function joinAvcc(nals: readonly Uint8Array[], nalLengthSize = 4): Uint8Array {
  if (nalLengthSize !== 1 && nalLengthSize !== 2 && nalLengthSize !== 4) throw new RangeError(`nalLengthSize must be 1, 2 or 4, got ${nalLengthSize}`);
  let total = 0;
  for (const nal of nals) total += nalLengthSize + nal.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const nal of nals) {
    if (nal.length >= 2 ** (8 * nalLengthSize)) throw new H264FormatError(`NAL unit of ${nal.length} bytes does not fit a ${nalLengthSize}-byte length`);
    if (nalLengthSize === 4) view.setUint32(offset, nal.length);
    else if (nalLengthSize === 2) view.setUint16(offset, nal.length);
    else view.setUint8(offset, nal.length);
    out.set(nal, offset + nalLengthSize);
    offset += nalLengthSize + nal.length;
  }
  return out;
}

/** Converts an Annex-B access unit to AVCC framing. */
export function annexBToAvcc(data: Uint8Array, nalLengthSize = 4): Uint8Array {
  return joinAvcc(splitAnnexB(data), nalLengthSize);
}

/** The NAL units of an AVCC-framed access unit (e.g. a Matroska block's data). */
export function splitAvcc(data: Uint8Array, nalLengthSize = 4): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (offset + nalLengthSize > data.length) throw new H264FormatError(`AVCC data ends inside a NAL length at byte ${offset}`);
    let length = 0;
    for (let i = 0; i < nalLengthSize; i++) length = length * 256 + data[offset + i]!;
    const start = offset + nalLengthSize;
    if (start + length > data.length) throw new H264FormatError(`NAL unit of ${length} bytes at byte ${offset} overruns the data`);
    nals.push(data.subarray(start, start + length));
    offset = start + length;
  }
  return nals;
}
