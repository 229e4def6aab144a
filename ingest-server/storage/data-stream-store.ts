import type { AppendEntry, AppendResult, StoredRecord, StreamState } from '../data-streams/model.js';

/**
 * Where Data Streams keep stream metadata and shard logs. The API layer depends only on this,
 * so the embedded SQLite store and a distributed one are interchangeable.
 *
 * Positions are per-shard integers that only increase; the API layer turns them into sequence
 * numbers. A promise from append() resolves only once the entries are durable.
 */
export interface DataStreamStore {
  open(): Promise<void>;
  /** Flushes pending writes and releases files and connections. */
  close(): Promise<void>;

  listStreams(): Promise<StreamState[]>;
  getStream(name: string): Promise<StreamState | undefined>;
  /** Allocates uid; rejects with StreamExistsError when the name is taken. */
  createStream(state: Omit<StreamState, 'uid' | 'version'>): Promise<StreamState>;
  /** Writes a new version; rejects with StaleStreamError unless the stored version is state.version - 1. */
  updateStream(state: StreamState): Promise<void>;
  /** Removes the stream and its records. */
  deleteStream(name: string, uid: number): Promise<void>;

  /** Stores entries, skipping any whose producer id and sequence this stream already holds. */
  append(entries: AppendEntry[]): Promise<AppendResult[]>;
  /** Records with position >= from, in order, stopping at limit records or once maxBytes of data is reached. */
  read(streamUid: number, shardIndex: number, from: number, limit: number, maxBytes: number): Promise<StoredRecord[]>;
  /** The position the next record appended to this shard will get at the earliest. */
  nextPosition(streamUid: number, shardIndex: number): Promise<number>;
  /** The position below which every record appended so far is durable, and so readable unless trimmed. */
  durablePosition(streamUid: number, shardIndex: number): Promise<number>;
  /** The first position whose arrival is at or after atMs (nextPosition when none is). */
  positionAtTime(streamUid: number, shardIndex: number, atMs: number): Promise<number>;
  /** Deletes records that arrived before beforeMs. */
  trim(streamUid: number, shardIndex: number, beforeMs: number): Promise<void>;
  /** Calls listener after records for the shard become durable or the stream's metadata changes (a reshard closing it); returns the unsubscribe function. */
  watch(streamUid: number, shardIndex: number, listener: () => void): () => void;

  /** A random secret shared by every node on this store, created on first use. */
  secret(name: string): Promise<Buffer>;
}

/** Thrown by createStream when the name is taken. */
export class StreamExistsError extends Error {}
/** Thrown by updateStream when another writer got there first. */
export class StaleStreamError extends Error {}
