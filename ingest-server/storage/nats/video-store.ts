import { createHash, randomUUID } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsHandle } from './connection.js';
import { bucketKeys, openBucket } from './bucket.js';
import { retrying } from './retry.js';
import {
  StaleVideoStreamError,
  VideoStreamExistsError,
  type FragmentClock,
  type FragmentInfo,
  type NewFragment,
  type StoredFragment,
  type VideoStore,
  type VideoStreamState,
} from '../video-store.js';

// Kinesis Video on JetStream (nats-server 2.9 features only: KV, streams, STREAM.MSG.GET, purge
// with filter + seq).
//
// - Stream metadata: KV bucket `<prefix>_kvs`, key = base64url(name) (KV keys cannot hold every
//   name character safely), value = the state as JSON. Creation is kv.create (fails when the key
//   holds a value → VideoStreamExistsError); updates are kv.update at the read revision, so two
//   servers racing an UpdateStream cannot both win (→ StaleVideoStreamError).
// - Fragments of one video stream live in two JetStream streams named after its uid (a stream
//   deleted and created again gets fresh ones):
//   `<prefix>_kvs_<uid>` (the index): one message per fragment on `<prefix>.kvs.<uid>.f`, a small
//   JSON body with timestamps, sizes, the header's SHA-256 and the sequences of its chunks; and
//   each distinct stream header once on `<prefix>.kvs.<uid>.h.<sha256>` (read back with
//   last_by_subj). `<prefix>_kvs_<uid>_c` (the chunks): the Cluster then the producer Tags, cut into
//   messages under the default 1 MB max_payload. Chunks live in their own stream so that catching
//   up on the index reads only index messages, never fragment bytes.
// - appendFragment publishes all chunks at once (pipelined on one connection, each resolving on its
//   PubAck, i.e. once a quorum of replicas stored it), then the index message last: an index
//   message is only ever written after every byte it points at is durable. Its stream sequence,
//   20-digit zero-padded, is the fragment number (increasing per stream; header messages take
//   sequences too, so numbers have gaps). Chunks of a failed append are left for trim to remove.
// - Listing: each store keeps a per-stream in-memory copy of the index (~150 bytes a fragment;
//   a day of 2 s fragments is ~6 MB), loaded on first use by reading every index message by
//   sequence (O(fragments) requests, pipelined — the cost of a cold start), then caught up before
//   every query with one STREAM.INFO (first/last sequence, answered by the stream leader, so
//   another server's appends and trims are seen) plus one MSG.GET per new message.
// - trim purges the index prefix (subject `.f` only, headers stay) and the chunks that prefix
//   points at. Like retention, it removes the longest prefix (append order) of fragments whose
//   server timestamp is before the cut: server timestamps are taken on arrival, so they increase.
// - Node loss: while a stream or the meta group elects a new leader (a few seconds), requests time
//   out or get "JetStream system temporarily unavailable"; reads and publishes are retried for up to
//   RETRY_MS. Every publish carries a Nats-Msg-Id, so a retry of a publish that was in fact stored
//   gets the original PubAck back (duplicate window, 2 min by default) instead of a second copy.
// - watch is a core NATS subscription on `<prefix>.kvs.<uid>.durable` (not captured by any stream),
//   published after each index PubAck: every server's watchers wake, not only the appender's.
const NUMBER_DIGITS = 20;
/** Below the server's default 1 MB max_payload, leaving room for the publish headers. */
const CHUNK_BYTES = 1_000_000;
/** How long a request is retried while the cluster elects a leader. */
/** JetStream's "JetStream system temporarily unavailable" (no leader yet). */
/** How many MSG.GET requests one catch-up keeps in flight. */
const READ_WINDOW = 128;

/** What an index message holds (short keys: one is stored per fragment). */
interface IndexBody {
  /** Producer, server timestamps and duration, ms. */
  p: number;
  s: number;
  d: number;
  /** Cluster and producer Tags sizes. */
  cb: number;
  tb: number;
  /** SHA-256 (hex) of the header. */
  h: string;
  /** Chunk stream sequences, in byte order. */
  c: number[];
}

interface IndexEntry {
  seq: number;
  info: FragmentInfo;
  body: IndexBody;
}

/** A stream's index as this store last saw it; `next` is the first sequence not read yet. */
interface CachedIndex {
  entries: IndexEntry[];
  next: number;
  /** The catch-up in progress, shared by concurrent queries. */
  refreshing?: Promise<IndexEntry[]>;
}

/** The distributed Kinesis Video store: metadata in a KV bucket, fragments in per-stream JetStream streams. */
export class NatsVideoStore implements VideoStore {
  private readonly handle: NatsHandle;
  private kv!: KV;
  private readonly indexes = new Map<string, CachedIndex>();
  /** Header bytes by `<uid>/<sha256>`: known to be stored, and what readFragments returns. */
  private readonly headers = new Map<string, Uint8Array>();

  constructor(handle: NatsHandle) {
    this.handle = handle;
  }

  async open(): Promise<void> {
    this.kv = await openBucket(this.handle, `${this.handle.prefix}_kvs`);
  }

  /** Every write resolves only after its PubAck, so nothing is pending; the shared connection is the caller's. */
  async close(): Promise<void> {
    this.indexes.clear();
    this.headers.clear();
  }

  async listStreams(): Promise<VideoStreamState[]> {
    const keys = await bucketKeys(this.handle, `${this.handle.prefix}_kvs`);
    const states = await Promise.all(keys.map(async (key) => (await this.entryOf(key))?.state));
    return states.filter((state) => state !== undefined);
  }

  async getStream(name: string): Promise<VideoStreamState | undefined> {
    return (await this.entryOf(keyOf(name)))?.state;
  }

  async createStream(state: VideoStreamState): Promise<void> {
    // Fragment streams first: once the metadata is visible, appends must find them.
    await this.addStream(this.indexStream(state.uid), [this.subject(state.uid, 'f'), this.subject(state.uid, 'h.*')]);
    await this.addStream(this.chunkStream(state.uid), [this.subject(state.uid, 'c')]);
    try {
      await this.kv.create(keyOf(state.name), JSON.stringify(state));
    } catch (error) {
      await this.dropFragmentStreams(state.uid);
      if (isApiError(error, JetStreamApiCodes.StreamWrongLastSequence)) throw new VideoStreamExistsError(state.name);
      throw error;
    }
  }

  async updateStream(state: VideoStreamState, expectedVersion: string): Promise<void> {
    const stored = await this.entryOf(keyOf(state.name));
    if (!stored || stored.state.uid !== state.uid || stored.state.version !== expectedVersion) throw new StaleVideoStreamError(state.name);
    try {
      await this.kv.update(keyOf(state.name), JSON.stringify(state), stored.revision);
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamWrongLastSequence)) throw new StaleVideoStreamError(state.name);
      throw error;
    }
  }

  async deleteStream(name: string, uid: string): Promise<void> {
    const stored = await this.entryOf(keyOf(name));
    if (!stored || stored.state.uid !== uid) return;
    try {
      await this.kv.delete(keyOf(name), { previousSeq: stored.revision });
    } catch (error) {
      // Updated or deleted meanwhile by another server: deleting by uid still removes the right stream.
      if (!isApiError(error, JetStreamApiCodes.StreamWrongLastSequence)) throw error;
      const now = await this.entryOf(keyOf(name));
      if (now?.state.uid === uid) return this.deleteStream(name, uid);
    }
    await this.dropFragmentStreams(uid);
  }

  async appendFragment(streamUid: string, fragment: NewFragment): Promise<FragmentInfo> {
    const sha = await this.storeHeader(streamUid, fragment.header);
    const id = randomUUID();
    const pieces = [...split(fragment.cluster), ...split(fragment.producerTags)];
    const chunkSeqs = await Promise.all(pieces.map((piece, index) => this.publish(streamUid, this.chunkStream(streamUid), 'c', piece, `${id}.${index}`)));
    const body: IndexBody = {
      p: fragment.producerTimestampMs,
      s: fragment.serverTimestampMs,
      d: fragment.durationMs,
      cb: fragment.cluster.byteLength,
      tb: fragment.producerTags.byteLength,
      h: sha,
      c: chunkSeqs,
    };
    const seq = await this.publish(streamUid, this.indexStream(streamUid), 'f', JSON.stringify(body), id);
    this.handle.nc.publish(this.subject(streamUid, 'durable'));
    return infoOf(seq, body);
  }

  async listFragments(streamUid: string, range: { clock: FragmentClock; startMs: number; endMs: number }, limit: number, after?: string): Promise<FragmentInfo[]> {
    const from = afterSeq(after);
    const found: FragmentInfo[] = [];
    for (const entry of await this.index(streamUid)) {
      if (found.length >= limit) break;
      const at = clockOf(entry.info, range.clock);
      if (entry.seq > from && at >= range.startMs && at <= range.endMs) found.push(entry.info);
    }
    return found;
  }

  async fragmentsAfter(streamUid: string, after: string | undefined, limit: number): Promise<FragmentInfo[]> {
    const from = afterSeq(after);
    const found: FragmentInfo[] = [];
    for (const entry of await this.index(streamUid)) {
      if (found.length >= limit) break;
      if (entry.seq > from) found.push(entry.info);
    }
    return found;
  }

  async firstFragmentAt(streamUid: string, clock: FragmentClock, atMs: number): Promise<FragmentInfo | undefined> {
    return (await this.index(streamUid)).find((entry) => clockOf(entry.info, clock) >= atMs)?.info;
  }

  async lastFragment(streamUid: string): Promise<FragmentInfo | undefined> {
    return (await this.index(streamUid)).at(-1)?.info;
  }

  async readFragments(streamUid: string, numbers: string[]): Promise<StoredFragment[]> {
    const wanted = numbers.filter((number) => /^\d+$/.test(number)).map(Number);
    const fragments = await Promise.all(wanted.map((seq) => this.readFragment(streamUid, seq)));
    return fragments.filter((fragment) => fragment !== undefined);
  }

  async trim(streamUid: string, beforeMs: number): Promise<void> {
    const entries = await this.index(streamUid);
    const kept = entries.findIndex((entry) => entry.info.serverTimestampMs >= beforeMs);
    const removed = kept === -1 ? entries : entries.slice(0, kept);
    const last = removed.at(-1);
    if (!last) return;
    // Up to the removed fragments only: chunks of appends in flight come after them and stay.
    const chunkEnd = Math.max(0, ...removed.flatMap((entry) => entry.body.c));
    try {
      await this.handle.jsm.streams.purge(this.indexStream(streamUid), { filter: this.subject(streamUid, 'f'), seq: last.seq + 1 });
      if (chunkEnd > 0) await this.handle.jsm.streams.purge(this.chunkStream(streamUid), { seq: chunkEnd + 1 });
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
    const cached = this.indexes.get(streamUid);
    if (cached) cached.entries = cached.entries.filter((entry) => entry.seq > last.seq);
  }

  watch(streamUid: string, listener: () => void): () => void {
    const subscription = this.handle.nc.subscribe(this.subject(streamUid, 'durable'), {
      callback: (error) => {
        if (!error) listener();
      },
    });
    return () => subscription.unsubscribe();
  }

  /** The metadata stored under a key, with its revision, or undefined when there is none (or it was deleted). */
  private async entryOf(key: string): Promise<{ state: VideoStreamState; revision: number } | undefined> {
    const entry = await retrying(() => this.kv.get(key));
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { state: entry.json<VideoStreamState>(), revision: entry.revision };
  }

  /** Stores the header once per stream; returns its SHA-256 (hex). */
  private async storeHeader(uid: string, header: Uint8Array): Promise<string> {
    const sha = createHash('sha256').update(header).digest('hex');
    const key = `${uid}/${sha}`;
    if (this.headers.has(key)) return sha;
    // Another server may have stored it already; a second copy under the same subject is harmless.
    await this.publish(uid, this.indexStream(uid), `h.${sha}`, header, `${uid}.${sha}`);
    this.headers.set(key, new Uint8Array(header));
    return sha;
  }

  private async headerOf(uid: string, sha: string): Promise<Uint8Array | undefined> {
    const key = `${uid}/${sha}`;
    const known = this.headers.get(key);
    if (known) return known;
    const message = await retrying(() => this.handle.jsm.streams.getMessage(this.indexStream(uid), { last_by_subj: this.subject(uid, `h.${sha}`) }));
    if (!message) return undefined;
    this.headers.set(key, message.data);
    return message.data;
  }

  /** The fragment whose index message is at `seq`, or undefined when it is not there (trimmed, never a fragment). */
  private async readFragment(uid: string, seq: number): Promise<StoredFragment | undefined> {
    try {
      const message = await retrying(() => this.handle.jsm.streams.getMessage(this.indexStream(uid), { seq }));
      if (!message || message.subject !== this.subject(uid, 'f')) return undefined;
      const body = message.json<IndexBody>();
      const [header, ...chunks] = await Promise.all([
        this.headerOf(uid, body.h),
        ...body.c.map((chunkSeq) => retrying(() => this.handle.jsm.streams.getMessage(this.chunkStream(uid), { seq: chunkSeq }))),
      ]);
      // Trimmed between reading the index message and its chunks.
      if (!header || chunks.some((chunk) => !chunk)) return undefined;
      const bytes = Buffer.concat(chunks.map((chunk) => chunk!.data));
      return {
        ...infoOf(seq, body),
        header,
        cluster: bytes.subarray(0, body.cb),
        producerTags: bytes.subarray(body.cb, body.cb + body.tb),
      };
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return undefined;
      throw error;
    }
  }

  /** The stream's fragments in append order, caught up with the cluster. */
  private index(uid: string): Promise<IndexEntry[]> {
    let cached = this.indexes.get(uid);
    if (!cached) {
      cached = { entries: [], next: 1 };
      this.indexes.set(uid, cached);
    }
    const index = cached;
    // Shared by the queries that arrive while it runs: they all see what it reads.
    index.refreshing ??= this.catchUp(uid, index).finally(() => delete index.refreshing);
    return index.refreshing;
  }

  private async catchUp(uid: string, index: CachedIndex): Promise<IndexEntry[]> {
    let state;
    try {
      state = (await retrying(() => this.handle.jsm.streams.info(this.indexStream(uid)))).state;
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
      this.indexes.delete(uid);
      return [];
    }
    // Trimmed, possibly by another server.
    index.entries = index.entries.filter((entry) => entry.seq >= state.first_seq);
    index.next = Math.max(index.next, state.first_seq);
    const indexSubject = this.subject(uid, 'f');
    for (let start = index.next; start <= state.last_seq; start += READ_WINDOW) {
      const seqs = Array.from({ length: Math.min(READ_WINDOW, state.last_seq - start + 1) }, (_, offset) => start + offset);
      const messages = await Promise.all(seqs.map((seq) => retrying(() => this.handle.jsm.streams.getMessage(this.indexStream(uid), { seq }))));
      for (const message of messages) {
        if (message?.subject !== indexSubject) continue;
        const body = message.json<IndexBody>();
        index.entries.push({ seq: message.seq, info: infoOf(message.seq, body), body });
      }
    }
    index.next = Math.max(index.next, state.last_seq + 1);
    return index.entries;
  }

  /** Publishes to one of the stream's JetStream streams; resolves with the sequence once a quorum stored it. */
  private async publish(uid: string, stream: string, suffix: string, payload: Uint8Array | string, msgID: string): Promise<number> {
    return retrying(async () => {
      try {
        return (await this.handle.js.publish(this.subject(uid, suffix), payload, { msgID, expect: { streamName: stream } })).seq;
      } catch (error) {
        // No stream takes the subject any more: the video stream was deleted (not worth retrying).
        if (!(await this.streamExists(stream))) throw new StaleVideoStreamError(`no stream with uid ${uid}`);
        throw error;
      }
    });
  }

  private async addStream(name: string, subjects: string[]): Promise<void> {
    // The same add is idempotent: sent again while the meta leader is slow to answer.
    await retrying(() => this.handle.jsm.streams.add({ name, subjects, num_replicas: this.handle.replicas }));
  }

  private async dropFragmentStreams(uid: string): Promise<void> {
    for (const name of [this.indexStream(uid), this.chunkStream(uid)]) {
      await this.handle.jsm.streams.delete(name).catch((error: unknown) => {
        if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
      });
    }
    this.indexes.delete(uid);
    for (const key of this.headers.keys()) if (key.startsWith(`${uid}/`)) this.headers.delete(key);
  }

  private async streamExists(name: string): Promise<boolean> {
    try {
      await retrying(() => this.handle.jsm.streams.info(name));
      return true;
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return false;
      throw error;
    }
  }

  private indexStream(uid: string): string {
    return `${this.handle.prefix}_kvs_${uid}`;
  }

  private chunkStream(uid: string): string {
    return `${this.handle.prefix}_kvs_${uid}_c`;
  }

  private subject(uid: string, suffix: string): string {
    return `${this.handle.prefix}.kvs.${uid}.${suffix}`;
  }
}

function keyOf(name: string): string {
  return Buffer.from(name).toString('base64url');
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** Pieces of at most CHUNK_BYTES, without copying. */
function split(bytes: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) pieces.push(bytes.subarray(offset, offset + CHUNK_BYTES));
  return pieces;
}

function afterSeq(after: string | undefined): number {
  return after === undefined ? 0 : Number(after);
}

function clockOf(info: FragmentInfo, clock: FragmentClock): number {
  return clock === 'producer' ? info.producerTimestampMs : info.serverTimestampMs;
}

function infoOf(seq: number, body: IndexBody): FragmentInfo {
  return {
    number: String(seq).padStart(NUMBER_DIGITS, '0'),
    producerTimestampMs: body.p,
    serverTimestampMs: body.s,
    durationMs: body.d,
    sizeBytes: body.cb,
  };
}
