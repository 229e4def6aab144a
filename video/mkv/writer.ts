// Writing Matroska the way Kinesis Video streams it: a header (EBML header, a Segment of unknown
// size, Info, Tracks), then sized Clusters of SimpleBlocks, and top-level Tags between them.
// Pure functions: each returns the bytes of its part, to be concatenated in stream order.

import { concatBytes, element, stringElement, uintElement } from '../ebml/element.js';
import { MkvId } from '../ebml/ids.js';
import { UNKNOWN_SIZE, encodeElementId, encodeVint } from '../ebml/vint.js';
import type { MkvBlock, MkvTrack, SimpleTag } from './model.js';

/** Options of writeMkvHeader. */
export interface MkvHeaderOptions {
  /** ns per timecode unit; 1,000,000 (ms), as Kinesis Video expects. */
  timecodeScaleNs?: number;
  muxingApp?: string;
  writingApp?: string;
}

/** The stream header: EBML header, Segment of unknown size, Info and Tracks. */
export function writeMkvHeader(tracks: readonly MkvTrack[], options: MkvHeaderOptions = {}): Uint8Array {
  if (tracks.length === 0) throw new RangeError('tracks must not be empty');
  const ebml = element(
    MkvId.EBML,
    uintElement(MkvId.EBMLVersion, 1),
    uintElement(MkvId.EBMLReadVersion, 1),
    uintElement(MkvId.EBMLMaxIDLength, 4),
    uintElement(MkvId.EBMLMaxSizeLength, 8),
    stringElement(MkvId.DocType, 'matroska'),
    uintElement(MkvId.DocTypeVersion, 4),
    // SimpleBlock needs a reader of version 2 or later.
    uintElement(MkvId.DocTypeReadVersion, 2),
  );
  const info = element(
    MkvId.Info,
    uintElement(MkvId.TimecodeScale, options.timecodeScaleNs ?? 1_000_000),
    stringElement(MkvId.MuxingApp, options.muxingApp ?? 'rivulet'),
    stringElement(MkvId.WritingApp, options.writingApp ?? 'rivulet'),
  );
  const entries = tracks.map((track, index) => trackEntry(track, `tracks[${index}]`));
  return concatBytes([ebml, encodeElementId(MkvId.Segment), UNKNOWN_SIZE, info, element(MkvId.Tracks, ...entries)]);
}

function trackEntry(track: MkvTrack, field: string): Uint8Array {
  if (!Number.isInteger(track.number) || track.number < 1 || track.number > 126) {
    throw new RangeError(`${field}.number must be an integer from 1 to 126, got ${track.number}`);
  }
  const parts = [
    uintElement(MkvId.TrackNumber, track.number),
    uintElement(MkvId.TrackUID, track.uid ?? track.number),
    uintElement(MkvId.TrackType, track.type),
    // Rivulet never laces; saying so lets players skip lacing checks.
    uintElement(MkvId.FlagLacing, 0),
    stringElement(MkvId.CodecID, track.codecId),
  ];
  if (track.name !== undefined) parts.push(stringElement(MkvId.Name, track.name));
  if (track.codecPrivate !== undefined) parts.push(element(MkvId.CodecPrivate, track.codecPrivate));
  if (track.defaultDurationNs !== undefined) parts.push(uintElement(MkvId.DefaultDuration, track.defaultDurationNs));
  if (track.width !== undefined || track.height !== undefined) {
    if (track.width === undefined || track.height === undefined) throw new RangeError(`${field}.width and .height must be given together`);
    parts.push(element(MkvId.Video, uintElement(MkvId.PixelWidth, track.width), uintElement(MkvId.PixelHeight, track.height)));
  }
  return element(MkvId.TrackEntry, ...parts);
}

/** A sized Cluster: Timecode, then one SimpleBlock per block (timecodes relative to `timecode`). */
export function writeCluster(timecode: number, blocks: readonly MkvBlock[]): Uint8Array {
  if (!Number.isSafeInteger(timecode) || timecode < 0) throw new RangeError(`timecode must be a non-negative integer, got ${timecode}`);
  return element(MkvId.Cluster, uintElement(MkvId.Timecode, timecode), ...blocks.map((block, index) => simpleBlock(block, `blocks[${index}]`)));
}

function simpleBlock(block: MkvBlock, field: string): Uint8Array {
  if (!Number.isInteger(block.timecode) || block.timecode < -32768 || block.timecode > 32767) {
    throw new RangeError(`${field}.timecode must be a 16-bit signed integer relative to the cluster, got ${block.timecode}`);
  }
  const track = encodeVint(block.track);
  const header = new Uint8Array(track.length + 3);
  header.set(track);
  new DataView(header.buffer).setInt16(track.length, block.timecode);
  header[track.length + 2] = block.keyframe ? 0x80 : 0;
  return element(MkvId.SimpleBlock, header, block.data);
}

/** One top-level Tags element: a Tag with empty Targets (the whole segment) and a SimpleTag per entry. */
export function writeTags(tags: readonly SimpleTag[]): Uint8Array {
  const simpleTags = tags.map((tag) =>
    element(
      MkvId.SimpleTag,
      stringElement(MkvId.TagName, tag.name),
      typeof tag.value === 'string' ? stringElement(MkvId.TagString, tag.value) : element(MkvId.TagBinary, tag.value),
    ),
  );
  return element(MkvId.Tags, element(MkvId.Tag, element(MkvId.Targets), ...simpleTags));
}
