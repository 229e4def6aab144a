// What a Matroska stream is made of, as the rest of Rivulet sees it. Kinesis Video's unit is the
// fragment: one Cluster (a GOP, keyframe first) under the stream's header (EBML header, Segment,
// Info, Tracks). Bytes are kept as received wherever they are passed on, so a fragment read back
// is the fragment that was put.

/** One track of the stream (Tracks/TrackEntry). */
export interface MkvTrack {
  number: number;
  /** TrackUID; defaults to the number when written. */
  uid?: bigint | number;
  /** 1 video, 2 audio, 0x11 subtitle (TrackType). */
  type: number;
  /** e.g. V_MPEG4/ISO/AVC, V_MJPEG, A_AAC. */
  codecId: string;
  codecPrivate?: Uint8Array;
  name?: string;
  /** Video PixelWidth / PixelHeight. */
  width?: number;
  height?: number;
  /** DefaultDuration in ns, when known (frame rate). */
  defaultDurationNs?: number;
}

/** One frame: a SimpleBlock (or a Block in a BlockGroup). */
export interface MkvBlock {
  track: number;
  /** Relative to its Cluster's timecode, in TimecodeScale units (signed 16 bits on the wire). */
  timecode: number;
  keyframe: boolean;
  data: Uint8Array;
}

/** A tag name and value: Tags/Tag/SimpleTag with TagName and TagString (or TagBinary). */
export interface SimpleTag {
  name: string;
  value: string | Uint8Array;
}

/** The stream's header: everything from the EBML header up to the first Cluster. */
export interface MkvHeader {
  /** The bytes as received (EBML header, Segment ID and size, Info, Tracks, ...). */
  bytes: Uint8Array;
  /** ns per timecode unit (Info/TimecodeScale); 1,000,000 (ms) unless given. */
  timecodeScaleNs: number;
  tracks: MkvTrack[];
  /** Info/Duration and Segment/Title etc. are not needed; MuxingApp/WritingApp for logs. */
  muxingApp?: string;
  writingApp?: string;
}

/** One Cluster: a fragment. */
export interface MkvCluster {
  /** Cluster/Timecode in TimecodeScale units (epoch ms with ABSOLUTE timecodes). */
  timecode: number;
  /**
   * The whole Cluster element as received; a Cluster of unknown size is given its size here
   * (the size field rewritten, the content untouched), so the bytes stand on their own.
   */
  bytes: Uint8Array;
  blocks: MkvBlock[];
  /** Timecode of the last block minus the first, plus that block's duration when known (ms for the default scale). */
  durationUnits: number;
}

/** What the streaming reader yields, in stream order. */
export type MkvEvent =
  | { type: 'header'; header: MkvHeader }
  | { type: 'cluster'; cluster: MkvCluster }
  /** A top-level Tags element (producers put their tags between clusters); bytes as received. */
  | { type: 'tags'; bytes: Uint8Array; tags: SimpleTag[] };
