// Where Kinesis Video keeps stream metadata and fragments. The API layer (ingest-server/video-streams/)
// depends only on this, so the embedded store (SQLite index + fragment files) and a distributed
// one are interchangeable. appendFragment() resolves only once the fragment is durable (fsynced):
// PutMedia sends PERSISTED after that, and the producer then deletes its copy.

/** A Kinesis Video stream's metadata (what DescribeStream shows, plus tags). */
export interface VideoStreamState {
  name: string;
  arn: string;
  /** Random per creation: a stream deleted and created again under its name is a new stream. */
  uid: string;
  /** Opaque; changes on every update (UpdateStream's CurrentVersion). */
  version: string;
  status: 'CREATING' | 'ACTIVE' | 'UPDATING' | 'DELETING';
  creationTimeMs: number;
  deviceName?: string;
  mediaType?: string;
  kmsKeyId: string;
  dataRetentionInHours: number;
  tags: Record<string, string>;
}

/** A fragment as listed (ListFragments) and located (GetMedia). */
export interface FragmentInfo {
  /** Decimal, increasing within a stream in append order. */
  number: string;
  producerTimestampMs: number;
  serverTimestampMs: number;
  durationMs: number;
  /** Size of the Cluster element (what ListFragments reports as FragmentSizeInBytes). */
  sizeBytes: number;
}

/** A fragment with its bytes, ready to be wrapped for GetMedia / GetMediaForFragmentList. */
export interface StoredFragment extends FragmentInfo {
  /** The stream header it was put under (EBML header … Tracks), as the producer sent it. */
  header: Uint8Array;
  /** The Cluster element as received (sized). */
  cluster: Uint8Array;
  /** Top-level Tags elements the producer sent after this cluster (GPS, device tags), as received; empty when none. */
  producerTags: Uint8Array;
}

export interface NewFragment {
  /** Same bytes as the previous fragment's header are stored once. */
  header: Uint8Array;
  cluster: Uint8Array;
  producerTags: Uint8Array;
  producerTimestampMs: number;
  serverTimestampMs: number;
  durationMs: number;
}

/** Which clock a time range or start point refers to. */
export type FragmentClock = 'producer' | 'server';

export class VideoStreamExistsError extends Error {
  override readonly name = 'VideoStreamExistsError';
}
export class StaleVideoStreamError extends Error {
  override readonly name = 'StaleVideoStreamError';
}

export interface VideoStore {
  open(): Promise<void>;
  /** Finishes pending writes and releases files and connections. */
  close(): Promise<void>;

  listStreams(): Promise<VideoStreamState[]>;
  getStream(name: string): Promise<VideoStreamState | undefined>;
  /** Rejects with VideoStreamExistsError when the name is taken. */
  createStream(state: VideoStreamState): Promise<void>;
  /** Replaces the state; rejects with StaleVideoStreamError unless the stored version is `expectedVersion`. */
  updateStream(state: VideoStreamState, expectedVersion: string): Promise<void>;
  /** Removes the stream and its fragments. */
  deleteStream(name: string, uid: string): Promise<void>;

  /** Stores a fragment durably and gives it the stream's next fragment number. */
  appendFragment(streamUid: string, fragment: NewFragment): Promise<FragmentInfo>;
  /** Fragments in append order whose `clock` timestamp is in [startMs, endMs], after fragment `after` (exclusive) when given. */
  listFragments(streamUid: string, range: { clock: FragmentClock; startMs: number; endMs: number }, limit: number, after?: string): Promise<FragmentInfo[]>;
  /** Fragments in append order after `after` (exclusive; from the oldest kept when undefined), at most `limit`. */
  fragmentsAfter(streamUid: string, after: string | undefined, limit: number): Promise<FragmentInfo[]>;
  /** The first fragment (append order) whose `clock` timestamp is at or after atMs. */
  firstFragmentAt(streamUid: string, clock: FragmentClock, atMs: number): Promise<FragmentInfo | undefined>;
  /** The newest fragment, if any. */
  lastFragment(streamUid: string): Promise<FragmentInfo | undefined>;
  /** Fragments by number, with their bytes; numbers the stream does not hold are left out. */
  readFragments(streamUid: string, numbers: string[]): Promise<StoredFragment[]>;
  /** Deletes fragments whose server timestamp is before beforeMs. */
  trim(streamUid: string, beforeMs: number): Promise<void>;
  /** Calls listener after a fragment of the stream becomes durable; returns the unsubscribe function. */
  watch(streamUid: string, listener: () => void): () => void;
}
