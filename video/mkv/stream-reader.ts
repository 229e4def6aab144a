// A push parser that cuts a live Matroska byte stream (PutMedia bodies, matroskamux and kvssink
// output) into the stream header, Clusters and top-level Tags, whatever the chunk boundaries.
// Segments and Clusters may have unknown size, as streaming muxers write them: such a Cluster
// ends where the next top-level element (or a new EBML header, or the end of input) begins. Only
// the element being received is buffered — the header until the first Cluster (or Tags after
// Tracks), a Cluster until it is complete — and elements that are skipped are dropped as they
// arrive. Laced blocks are refused (MkvParseError): video producers never lace.

import { EbmlError } from '../ebml/errors.js';
import { MkvId, formatId } from '../ebml/ids.js';
import { encodeElementId, encodeVint, readElementId, readElementSize } from '../ebml/vint.js';
import { ByteWindow } from './byte-window.js';
import { MkvParseError } from './errors.js';
import type { MkvCluster, MkvEvent, MkvHeader, MkvTrack } from './model.js';
import { parseClusterContent, parseEbmlHeader, parseInfo, parseTags, parseTracks, type MkvInfo } from './parse.js';

/** Larger elements are refused rather than buffered: Kinesis Video caps a fragment at 50 MB. */
export const MAX_ELEMENT_BYTES = 64 * 1024 * 1024;

const NAMES = new Map<number, string>(Object.entries(MkvId).map(([name, id]) => [id, name]));
const SEGMENT_CHILDREN = new Set<number>([
  MkvId.SeekHead,
  MkvId.Info,
  MkvId.Tracks,
  MkvId.Cluster,
  MkvId.Cues,
  MkvId.Chapters,
  MkvId.Attachments,
  MkvId.Tags,
  MkvId.Void,
  MkvId.CRC32,
]);
const CLUSTER_CHILDREN = new Set<number>([
  MkvId.Timecode,
  MkvId.SilentTracks,
  MkvId.Position,
  MkvId.PrevSize,
  MkvId.SimpleBlock,
  MkvId.BlockGroup,
  MkvId.EncryptedBlock,
  MkvId.Void,
  MkvId.CRC32,
]);

/** An element's id and size field, read at stream offset `start`. */
interface ElementHead {
  id: number;
  start: number;
  /** Stream offset of the payload. */
  payload: number;
  /** Stream offset past the payload; Infinity for unknown size. */
  end: number;
  sizeLength: number;
}

const describe = (id: number): string => NAMES.get(id) ?? `element ${formatId(id)}`;

/** Splits a Matroska byte stream into header, cluster and tags events (see MkvEvent). */
export class MkvStreamReader {
  private readonly window = new ByteWindow();
  /** Stream offset of the next element header to read. */
  private cursor = 0;
  /** End of the Segment being read (Infinity: unknown size); undefined outside a Segment. */
  private segmentEnd: number | undefined;
  /** A header being received: from its EBML header up to the current cursor. */
  private pendingHeader: { start: number; info: MkvInfo; tracks: MkvTrack[]; tracksSeen: boolean } | undefined;
  /** The last header emitted; clusters are decoded with its tracks and timecode scale. */
  private header: MkvHeader | undefined;
  /** A Cluster of unknown size whose children are being received; the cursor is inside it. */
  private openCluster: ElementHead | undefined;
  private failure: MkvParseError | undefined;
  private ended = false;

  /**
   * Takes the next bytes and returns the events they complete. On malformed input it throws
   * MkvParseError — after first returning the events completed before the damage, if any.
   */
  push(chunk: Uint8Array): MkvEvent[] {
    this.checkUsable();
    this.window.append(chunk);
    return this.drain(false);
  }

  /**
   * Whether everything pushed so far has been handed out as events or skipped: no element is
   * part-way received. A consumer deciding whether more of a fragment may still come asks this.
   */
  get atElementBoundary(): boolean {
    return this.cursor === this.window.end && this.openCluster === undefined && this.pendingHeader === undefined;
  }

  /** Ends the stream: completes a trailing unknown-size Cluster; throws if an element was cut off. */
  end(): MkvEvent[] {
    this.checkUsable();
    this.ended = true;
    return this.drain(true);
  }

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.ended) throw new Error('MkvStreamReader used after end()');
  }

  private drain(atEnd: boolean): MkvEvent[] {
    const events: MkvEvent[] = [];
    try {
      while (this.step(events));
      if (atEnd) this.finish(events);
    } catch (error) {
      if (!(error instanceof MkvParseError)) throw error;
      this.failure = error;
      if (atEnd || events.length === 0) throw error;
    }
    this.window.discardTo(Math.min(this.cursor, this.pendingHeader?.start ?? Infinity, this.openCluster?.start ?? Infinity));
    return events;
  }

  /** Handles the element at the cursor if enough of it has arrived; false when waiting for bytes. */
  private step(events: MkvEvent[]): boolean {
    if (this.segmentEnd !== undefined && this.cursor === this.segmentEnd) {
      if (this.openCluster) this.closeCluster(events);
      this.segmentEnd = undefined;
      return true;
    }
    const head = this.readHead();
    if (!head) return false;
    if (this.openCluster) return this.stepInCluster(head, events);
    if (this.segmentEnd === undefined) return this.stepTopLevel(head, events);
    return this.stepInSegment(head, events);
  }

  private readHead(): ElementHead | undefined {
    const start = this.cursor;
    if (start >= this.window.end) return undefined;
    const bytes = this.window.view(start, Math.min(this.window.end, start + 12));
    let id, size;
    try {
      id = readElementId(bytes, 0);
      size = id && readElementSize(bytes, id.length);
    } catch (error) {
      if (error instanceof EbmlError) throw new MkvParseError(error.reason, start + error.offset);
      throw error;
    }
    if (!id || !size) return undefined;
    const payload = start + id.length + size.length;
    const head = { id: id.value, start, payload, end: size.value === null ? Infinity : payload + size.value, sizeLength: size.length };
    if (size.value === null && id.value !== MkvId.Segment && id.value !== MkvId.Cluster) {
      throw new MkvParseError(`${describe(id.value)} has unknown size (only Segment and Cluster may)`, start);
    }
    if (size.value !== null && size.value > MAX_ELEMENT_BYTES && id.value !== MkvId.Segment) {
      throw new MkvParseError(`${describe(id.value)} of ${size.value} bytes exceeds the ${MAX_ELEMENT_BYTES}-byte limit`, start);
    }
    const parentEnd = this.openCluster?.end ?? this.segmentEnd ?? Infinity;
    if (head.end !== Infinity && head.end > parentEnd) throw new MkvParseError(`${describe(id.value)} overruns its parent`, start);
    return head;
  }

  /** The payload of `head` once it has fully arrived. */
  private whole(head: ElementHead): Uint8Array | undefined {
    return this.window.end >= head.end ? this.window.view(head.payload, head.end) : undefined;
  }

  private stepTopLevel(head: ElementHead, events: MkvEvent[]): boolean {
    switch (head.id) {
      case MkvId.EBML: {
        const payload = this.whole(head);
        if (!payload) return false;
        parseEbmlHeader(payload, head.payload);
        this.emitHeader(events); // a previous sized Segment that held no Cluster
        this.pendingHeader = { start: head.start, info: parseInfo(new Uint8Array(0), head.payload), tracks: [], tracksSeen: false };
        this.cursor = head.end;
        return true;
      }
      case MkvId.Segment:
        if (!this.pendingHeader) throw new MkvParseError('Segment without an EBML header before it', head.start);
        this.segmentEnd = head.end;
        this.cursor = head.payload;
        return true;
      case MkvId.Void:
      case MkvId.CRC32:
        this.cursor = head.end;
        return true;
      default:
        throw new MkvParseError(`unexpected ${describe(head.id)} at top level`, head.start);
    }
  }

  private stepInSegment(head: ElementHead, events: MkvEvent[]): boolean {
    if (head.id === MkvId.EBML) {
      // A new stream (a producer restarting) without the end of the Segment being announced.
      this.emitHeader(events);
      this.segmentEnd = undefined;
      return true;
    }
    if (!SEGMENT_CHILDREN.has(head.id)) throw new MkvParseError(`unexpected ${describe(head.id)} in Segment`, head.start);
    // The header ends at the first Cluster, or at Tags once Tracks are known: matroskamux writes
    // its Tags before Info (they belong to the header), GetMedia writes fragment Tags after Tracks.
    const headerEnds = head.id === MkvId.Cluster || (head.id === MkvId.Tags && this.pendingHeader?.tracksSeen !== false);
    if (headerEnds) this.emitHeader(events);
    else if (head.id === MkvId.Tags) {
      this.cursor = head.end;
      return true;
    }
    switch (head.id) {
      case MkvId.Cluster:
        if (head.end === Infinity) {
          this.openCluster = head;
          this.cursor = head.payload;
          return true;
        }
        if (this.window.end < head.end) return false;
        events.push({ type: 'cluster', cluster: this.cluster(this.window.view(head.start, head.end).slice(), head.payload - head.start, head.payload) });
        break;
      case MkvId.Tags: {
        const payload = this.whole(head);
        if (!payload) return false;
        events.push({ type: 'tags', bytes: this.window.view(head.start, head.end).slice(), tags: parseTags(payload, head.payload) });
        break;
      }
      case MkvId.Info:
      case MkvId.Tracks: {
        if (!this.pendingHeader) break; // after the first Cluster the header is fixed: skip
        const payload = this.whole(head);
        if (!payload) return false;
        if (head.id === MkvId.Info) this.pendingHeader.info = parseInfo(payload, head.payload);
        else {
          this.pendingHeader.tracks = parseTracks(payload, head.payload);
          this.pendingHeader.tracksSeen = true;
        }
        break;
      }
    }
    // Anything else (SeekHead, Cues, Void, ...) is skipped; before the first Cluster its bytes stay in the header.
    this.cursor = head.end;
    return true;
  }

  private stepInCluster(head: ElementHead, events: MkvEvent[]): boolean {
    const endsCluster = head.id === MkvId.EBML || head.id === MkvId.Segment || (SEGMENT_CHILDREN.has(head.id) && !CLUSTER_CHILDREN.has(head.id));
    if (endsCluster) {
      this.closeCluster(events);
      return true;
    }
    if (!CLUSTER_CHILDREN.has(head.id)) throw new MkvParseError(`unexpected ${describe(head.id)} in Cluster`, head.start);
    if (head.end - this.openCluster!.start > MAX_ELEMENT_BYTES) {
      throw new MkvParseError(`Cluster exceeds the ${MAX_ELEMENT_BYTES}-byte limit`, this.openCluster!.start);
    }
    this.cursor = head.end;
    return true;
  }

  /** Completes the open unknown-size Cluster at the cursor, giving it its real size. */
  private closeCluster(events: MkvEvent[]): void {
    const open = this.openCluster!;
    this.openCluster = undefined;
    const content = this.window.view(open.payload, this.cursor);
    const fitsOriginal = content.length < 2 ** (7 * open.sizeLength) - 1;
    const id = encodeElementId(MkvId.Cluster);
    const size = encodeVint(content.length, fitsOriginal ? open.sizeLength : 8);
    const bytes = new Uint8Array(id.length + size.length + content.length);
    bytes.set(id);
    bytes.set(size, id.length);
    bytes.set(content, id.length + size.length);
    events.push({ type: 'cluster', cluster: this.cluster(bytes, id.length + size.length, open.payload) });
  }

  /** Decodes a sized Cluster element (`bytes`) whose payload starts at `payloadOffset` in it and at `at` in the stream. */
  private cluster(bytes: Uint8Array, payloadOffset: number, at: number): MkvCluster {
    const header = this.header!;
    const content = parseClusterContent(bytes.subarray(payloadOffset), at, header.tracks, header.timecodeScaleNs);
    return { timecode: content.timecode, bytes, blocks: content.blocks, durationUnits: content.durationUnits };
  }

  /** Emits the pending header: the bytes from its EBML header up to the cursor. */
  private emitHeader(events: MkvEvent[]): void {
    const pending = this.pendingHeader;
    if (!pending) return;
    this.pendingHeader = undefined;
    this.header = {
      bytes: this.window.view(pending.start, this.cursor).slice(),
      timecodeScaleNs: pending.info.timecodeScaleNs,
      tracks: pending.tracks,
      ...(pending.info.muxingApp !== undefined && { muxingApp: pending.info.muxingApp }),
      ...(pending.info.writingApp !== undefined && { writingApp: pending.info.writingApp }),
    };
    events.push({ type: 'header', header: this.header });
  }

  private finish(events: MkvEvent[]): void {
    if (this.cursor > this.window.end) throw new MkvParseError(`stream ended ${this.cursor - this.window.end} bytes before the end of an element`, this.window.end);
    if (this.cursor < this.window.end) {
      const head = this.readHead();
      throw new MkvParseError(`stream ended inside ${head ? describe(head.id) : 'an element header'}`, this.cursor);
    }
    if (this.openCluster) this.closeCluster(events);
    if (this.segmentEnd !== undefined && this.segmentEnd !== Infinity) {
      throw new MkvParseError(`stream ended ${this.segmentEnd - this.cursor} bytes before the end of its Segment`, this.cursor);
    }
    this.emitHeader(events);
  }
}
