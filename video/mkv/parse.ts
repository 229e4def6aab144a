// Decoding complete Matroska elements — EBML header, Info, Tracks, Tags, Cluster — into the
// model. The streaming reader hands each one over once it holds all of its bytes. `at` is the
// stream offset of the payload, so errors point into the stream the producer sent.

import { children, type EbmlChild } from '../ebml/element.js';
import { EbmlError } from '../ebml/errors.js';
import { MkvId } from '../ebml/ids.js';
import { readBigUint, readString, readUint } from '../ebml/values.js';
import { readVint } from '../ebml/vint.js';
import { MkvParseError } from './errors.js';
import type { MkvBlock, MkvTrack, SimpleTag } from './model.js';

/** The stream-level settings from Info. */
export interface MkvInfo {
  timecodeScaleNs: number;
  muxingApp?: string;
  writingApp?: string;
}

/** A Cluster's decoded content. */
export interface MkvClusterContent {
  timecode: number;
  blocks: MkvBlock[];
  durationUnits: number;
}

const DEFAULT_TIMECODE_SCALE_NS = 1_000_000;

/** Runs `decode`, turning EBML damage into an MkvParseError that names `what` and the stream offset. */
function decoding<T>(what: string, at: number, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof EbmlError) throw new MkvParseError(`bad ${what}: ${error.reason}`, at + error.offset);
    throw error;
  }
}

/** Children of `payload` with their payload's stream offset. */
function* childrenAt(payload: Uint8Array, at: number): Generator<EbmlChild & { at: number }> {
  for (const child of children(payload)) yield { ...child, at: at + child.payloadOffset };
}

/** The EBML header's DocType; only Matroska (and its WebM subset) is accepted. */
export function parseEbmlHeader(payload: Uint8Array, at: number): string {
  return decoding('EBML header', at, () => {
    let docType = 'matroska'; // the EBML default when DocType is absent
    for (const child of children(payload)) {
      if (child.id === MkvId.DocType) docType = readString(child.payload);
      if (child.id === MkvId.EBMLMaxIDLength && readUint(child.payload) > 4) {
        throw new MkvParseError('EBMLMaxIDLength above 4 is not Matroska', at + child.offset);
      }
    }
    if (docType !== 'matroska' && docType !== 'webm') throw new MkvParseError(`DocType "${docType}" is not matroska or webm`, at);
    return docType;
  });
}

/** Segment/Info: the timecode scale and the apps that wrote the stream. */
export function parseInfo(payload: Uint8Array, at: number): MkvInfo {
  return decoding('Info', at, () => {
    const info: MkvInfo = { timecodeScaleNs: DEFAULT_TIMECODE_SCALE_NS };
    for (const child of childrenAt(payload, at)) {
      if (child.id === MkvId.TimecodeScale) {
        info.timecodeScaleNs = readUint(child.payload);
        if (info.timecodeScaleNs === 0) throw new MkvParseError('TimecodeScale is 0', child.at);
      } else if (child.id === MkvId.MuxingApp) info.muxingApp = readString(child.payload);
      else if (child.id === MkvId.WritingApp) info.writingApp = readString(child.payload);
    }
    return info;
  });
}

/** Segment/Tracks: one MkvTrack per TrackEntry. */
export function parseTracks(payload: Uint8Array, at: number): MkvTrack[] {
  return decoding('Tracks', at, () => {
    const tracks: MkvTrack[] = [];
    for (const entry of childrenAt(payload, at)) {
      if (entry.id === MkvId.TrackEntry) tracks.push(parseTrackEntry(entry.payload, entry.at));
    }
    return tracks;
  });
}

function parseTrackEntry(payload: Uint8Array, at: number): MkvTrack {
  const track: Partial<MkvTrack> = {};
  for (const child of children(payload)) {
    switch (child.id) {
      case MkvId.TrackNumber:
        track.number = readUint(child.payload);
        break;
      case MkvId.TrackUID: {
        const uid = readBigUint(child.payload);
        track.uid = uid <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(uid) : uid;
        break;
      }
      case MkvId.TrackType:
        track.type = readUint(child.payload);
        break;
      case MkvId.CodecID:
        track.codecId = readString(child.payload);
        break;
      case MkvId.CodecPrivate:
        track.codecPrivate = child.payload;
        break;
      case MkvId.Name:
        track.name = readString(child.payload);
        break;
      case MkvId.DefaultDuration:
        track.defaultDurationNs = readUint(child.payload);
        break;
      case MkvId.Video:
        for (const video of children(child.payload)) {
          if (video.id === MkvId.PixelWidth) track.width = readUint(video.payload);
          if (video.id === MkvId.PixelHeight) track.height = readUint(video.payload);
        }
        break;
    }
  }
  if (track.number === undefined || track.number === 0) throw new MkvParseError('TrackEntry without a TrackNumber', at);
  if (track.type === undefined) throw new MkvParseError(`track ${track.number} has no TrackType`, at);
  if (track.codecId === undefined) throw new MkvParseError(`track ${track.number} has no CodecID`, at);
  return track as MkvTrack;
}

/** A top-level Tags element: every SimpleTag of every Tag, in order (nested SimpleTags are not read). */
export function parseTags(payload: Uint8Array, at: number): SimpleTag[] {
  return decoding('Tags', at, () => {
    const tags: SimpleTag[] = [];
    for (const tag of childrenAt(payload, at)) {
      if (tag.id !== MkvId.Tag) continue;
      for (const simple of childrenAt(tag.payload, tag.at)) {
        if (simple.id !== MkvId.SimpleTag) continue;
        let name: string | undefined;
        let value: string | Uint8Array | undefined;
        for (const field of children(simple.payload)) {
          if (field.id === MkvId.TagName) name = readString(field.payload);
          else if (field.id === MkvId.TagString) value = readString(field.payload);
          else if (field.id === MkvId.TagBinary) value = field.payload;
        }
        if (name === undefined) throw new MkvParseError('SimpleTag without a TagName', simple.at);
        tags.push({ name, value: value ?? '' });
      }
    }
    return tags;
  });
}

/** A block's header and frame; lacing is rejected because no video producer uses it. */
function parseBlock(payload: Uint8Array, at: number, keyframe: (flags: number) => boolean): MkvBlock {
  const track = readVint(payload, 0);
  if (!track || payload.length < track.length + 3) throw new MkvParseError('block shorter than its header', at);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const timecode = view.getInt16(track.length);
  const flags = payload[track.length + 2]!;
  if ((flags & 0x06) !== 0) throw new MkvParseError(`laced block on track ${track.value} (lacing is not supported)`, at);
  return { track: track.value, timecode, keyframe: keyframe(flags), data: payload.subarray(track.length + 3) };
}

/**
 * A Cluster's payload: its Timecode and blocks. The duration is the span of the block timecodes
 * plus one frame — the last block's track DefaultDuration when the header gives one, else the
 * average gap between blocks — so consecutive clusters tile the timeline without gaps.
 */
export function parseClusterContent(content: Uint8Array, at: number, tracks: readonly MkvTrack[], timecodeScaleNs: number): MkvClusterContent {
  return decoding('Cluster', at, () => {
    let timecode: number | undefined;
    const blocks: MkvBlock[] = [];
    for (const child of childrenAt(content, at)) {
      if (child.id === MkvId.Timecode) timecode = readUint(child.payload);
      else if (child.id === MkvId.SimpleBlock) blocks.push(parseBlock(child.payload, child.at, (flags) => (flags & 0x80) !== 0));
      else if (child.id === MkvId.BlockGroup) blocks.push(parseBlockGroup(child.payload, child.at));
      else if (child.id === MkvId.EncryptedBlock) throw new MkvParseError('EncryptedBlock is not supported', child.at);
    }
    if (timecode === undefined) throw new MkvParseError('Cluster without a Timecode', at);
    return { timecode, blocks, durationUnits: blockSpan(blocks, tracks, timecodeScaleNs) };
  });
}

function parseBlockGroup(payload: Uint8Array, at: number): MkvBlock {
  let block: { payload: Uint8Array; at: number } | undefined;
  let referenced = false;
  for (const child of childrenAt(payload, at)) {
    if (child.id === MkvId.Block) block = { payload: child.payload, at: child.at };
    else if (child.id === MkvId.ReferenceBlock) referenced = true;
  }
  if (!block) throw new MkvParseError('BlockGroup without a Block', at);
  // A Block's flag bits carry no keyframe bit: a block that references no other one is a keyframe.
  return parseBlock(block.payload, block.at, () => !referenced);
}

function blockSpan(blocks: readonly MkvBlock[], tracks: readonly MkvTrack[], timecodeScaleNs: number): number {
  if (blocks.length === 0) return 0;
  let first = Infinity;
  let last = -Infinity;
  let lastBlock = blocks[0]!;
  for (const block of blocks) {
    first = Math.min(first, block.timecode);
    if (block.timecode >= last) {
      last = block.timecode;
      lastBlock = block;
    }
  }
  const defaultDurationNs = tracks.find((track) => track.number === lastBlock.track)?.defaultDurationNs;
  const frame = defaultDurationNs !== undefined ? defaultDurationNs / timecodeScaleNs : blocks.length > 1 ? (last - first) / (blocks.length - 1) : 0;
  return Math.round(last - first + frame);
}
