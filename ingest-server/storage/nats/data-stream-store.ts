import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { headers, nanos, type MsgHdrs, type QueuedIterator, type Subscription } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, type MsgRequest, type StoredMsg } from '@nats-io/jetstream';
import { KvWatchInclude, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import type { AppendEntry, AppendResult, StoredRecord, StreamState } from '../../data-streams/model.js';
import { StaleStreamError, StreamExistsError, type DataStreamStore } from '../data-stream-store.js';
import type { NatsHandle } from './connection.js';
import { BATCH_SLOTS, batchesOf, decodeBatch, encodeBatch, jsSeqOf, positionOf, type Batch } from './record-batch.js';
import { bucketKeys, onBucket, openBucket } from './bucket.js';
import { retrying } from './retry.js';

// Layout on JetStream (every name starts with the handle's prefix, written P here):
// - KV bucket P_streams: key `stream.<base64url(name)>` holds the StreamState JSON (base64url
//   because Kinesis names may hold dots, which KV keys treat as token separators). The bucket
//   revision is the optimistic-concurrency check: createStream is kv.create, updateStream is
//   kv.update at the revision whose version it read. Reads go to the stream leader (no direct
//   get), so a node always sees its own writes. Key `uid` is written once per createStream: its
//   revision is a number no other stream, on any node, ever got — that is the stream's uid.
// - KV bucket P_secrets: one key per secret, created if absent, so every node reads the same.
// - One JetStream stream P_ds_<uid> per Kinesis stream, subjects P.ds.<uid>.<shardIndex>,
//   replicas from the handle, file storage. A message holds the records one append() call put
//   in one shard (record-batch.ts: payload, and positions jsSeq * BATCH_SLOTS + index), with
//   arrival ms and record count in headers. Positions increase within each shard's subject (with
//   gaps: the shards share one sequence), which is all the API layer relies on. A publish is
//   acknowledged once a quorum of replicas stored it: that acknowledgement is append()'s
//   durability. Publishes are not retried (without a message id a retry could store a batch
//   twice): a put that fails is reported failed and its client retries it.
// - Reads use only single-message gets by subject, answered by the stream's leader: no consumer,
//   so no request to the JetStream meta leader, which nats-server 2.9 takes tens of seconds to
//   elect again after a node loss while stream leaders move within seconds.
// - Producer de-duplication is JetStream's Nats-Msg-Id (`<producer id>/<sequence>`), so such a
//   record is a message of its own: a repeat within DUPLICATE_WINDOW is not stored and its
//   PubAck carries the original's sequence. The bound: a retry arriving more than
//   DUPLICATE_WINDOW after the original is stored again.
// - Wake-ups: after the acks of an append, a core message on P.dsw.<uid>.<shardIndex> tells
//   every node's watchers (plain subscribers of P.ds.* would hear a record before it is durable);
//   a watch of the streams bucket tells them about reshards.
// - Arrival times come from this node's clock (options.now) and never go backwards within a
//   shard on one node; nodes with skewed clocks can interleave, so AT_TIMESTAMP and trims,
//   which binary-search arrivals, are as approximate as the clocks.

/** How long a producer's (id, sequence) is remembered: Kinesis' default retention. */
const DUPLICATE_WINDOW_MS = 24 * 3600 * 1000;

const ARRIVAL = 'Rivulet-Arrival';
/** Records in the message: the shard's next position follows from its last message's headers. */
const COUNT = 'Rivulet-Count';
/** An empty shard's next position, as the embedded store has it: a closed empty shard then ends at position 0. */
const EMPTY_SHARD_NEXT_POSITION = 1;
const UID_KEY = 'uid';
const STREAM_KEYS = 'stream.>';

/** Options of NatsDataStreamStore. */
export interface NatsDataStreamStoreOptions {
  now?: () => number;
}

/** Data Streams on NATS JetStream: metadata in KV, one replicated JetStream stream per Kinesis stream. */
export class NatsDataStreamStore implements DataStreamStore {
  private readonly now: () => number;
  private readonly prefix: string;
  private readonly streamsBucket: string;
  private streamsKv!: KV;
  private secretsKv!: KV;
  private wakeups?: Subscription;
  private metadataWatch?: QueuedIterator<KvWatchEntry>;
  private readonly changed = new EventEmitter();
  private readonly lastArrival = new Map<string, number>();

  constructor(private readonly handle: NatsHandle, options: NatsDataStreamStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.prefix = handle.prefix;
    this.streamsBucket = `${handle.prefix}_streams`;
    this.changed.setMaxListeners(0);
  }

  async open(): Promise<void> {
    this.streamsKv = await openBucket(this.handle, this.streamsBucket);
    this.secretsKv = await openBucket(this.handle, `${this.prefix}_secrets`);
    this.wakeups = this.handle.nc.subscribe(`${this.prefix}.dsw.>`, {
      callback: (error, msg) => {
        if (error) return;
        const tokens = msg.subject.split('.');
        this.changed.emit(slotName(Number(tokens[tokens.length - 2]), Number(tokens[tokens.length - 1])));
      },
    });
    this.metadataWatch = await onBucket(() => this.streamsKv.watch({ key: STREAM_KEYS, include: KvWatchInclude.UpdatesOnly }));
    void this.forwardMetadataChanges(this.metadataWatch);
  }

  /** Does not close the handle: the video store may share it. */
  async close(): Promise<void> {
    this.metadataWatch?.stop();
    this.wakeups?.unsubscribe();
  }

  async listStreams(): Promise<StreamState[]> {
    const keys = await bucketKeys(this.handle, this.streamsBucket, STREAM_KEYS);
    const states = await Promise.all(keys.map(async (key) => stateOf(await this.streamsKv.get(key))));
    return states.filter((state): state is StreamState => state !== undefined);
  }

  async getStream(name: string): Promise<StreamState | undefined> {
    return stateOf(await this.streamsKv.get(streamKey(name)));
  }

  async createStream(initial: Omit<StreamState, 'uid' | 'version'>): Promise<StreamState> {
    // Checked first so a taken name costs one read, not a JetStream stream made and dropped.
    if (await this.getStream(initial.name)) throw new StreamExistsError(initial.name);
    const uid = await this.streamsKv.put(UID_KEY, '');
    const state: StreamState = { ...initial, uid, version: 1 };
    // The same add is idempotent: sent again while the meta leader is slow to answer.
    await retrying(() =>
      this.handle.jsm.streams.add({
        name: this.recordStream(uid),
        subjects: [`${this.prefix}.ds.${uid}.*`],
        num_replicas: this.handle.replicas,
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      }),
    );
    try {
      await this.streamsKv.create(streamKey(initial.name), JSON.stringify(state));
    } catch (error) {
      await this.dropRecordStream(uid);
      if (isWrongLastSequence(error)) throw new StreamExistsError(initial.name);
      throw error;
    }
    return state;
  }

  async updateStream(state: StreamState): Promise<void> {
    const entry = await this.streamsKv.get(streamKey(state.name));
    const stored = stateOf(entry);
    if (!entry || !stored || stored.uid !== state.uid || stored.version !== state.version - 1) throw new StaleStreamError(state.name);
    try {
      await this.streamsKv.update(streamKey(state.name), JSON.stringify(state), entry.revision);
    } catch (error) {
      if (isWrongLastSequence(error)) throw new StaleStreamError(state.name);
      throw error;
    }
  }

  async deleteStream(name: string, uid: number): Promise<void> {
    const entry = await this.streamsKv.get(streamKey(name));
    if (!entry || stateOf(entry)?.uid !== uid) return;
    try {
      await this.streamsKv.delete(streamKey(name), { previousSeq: entry.revision });
    } catch (error) {
      // A metadata write slipped in between: look again, it may still be this stream.
      if (isWrongLastSequence(error)) return this.deleteStream(name, uid);
      throw error;
    }
    await this.dropRecordStream(uid);
    for (const slot of this.lastArrival.keys()) if (slot.startsWith(`${uid}:`)) this.lastArrival.delete(slot);
  }

  async append(entries: AppendEntry[]): Promise<AppendResult[]> {
    const now = this.now();
    const results: AppendResult[] = new Array(entries.length);
    // Publishes are pipelined: every batch is in flight at once and the call waits for all acks.
    await Promise.all(
      batchesOf(entries).map(async (batch) => {
        const stored = await this.publish(batch, now);
        batch.callIndexes.forEach((callIndex, index) => (results[callIndex] = { ...stored, position: stored.position + index }));
      }),
    );
    const shards = new Set(entries.map((entry) => `${this.prefix}.dsw.${entry.streamUid}.${entry.shardIndex}`));
    for (const subject of shards) this.handle.nc.publish(subject);
    return results;
  }

  async read(streamUid: number, shardIndex: number, from: number, limit: number, maxBytes: number): Promise<StoredRecord[]> {
    const stream = this.recordStream(streamUid);
    const subject = this.shardSubject(streamUid, shardIndex);
    const records: StoredRecord[] = [];
    let bytes = 0;
    for (let jsSeq = jsSeqOf(from); records.length < limit; ) {
      const msg = await this.nextMessage(stream, subject, jsSeq);
      if (!msg) return records;
      for (const record of recordsOf(msg)) {
        if (record.position < from) continue;
        const size = (record.dataBase64.length * 3) / 4;
        if (records.length === limit || (records.length > 0 && bytes + size > maxBytes)) return records;
        bytes += size;
        records.push(record);
      }
      jsSeq = msg.seq + 1;
    }
    return records;
  }

  async nextPosition(streamUid: number, shardIndex: number): Promise<number> {
    const last = await this.getMessage(this.recordStream(streamUid), { last_by_subj: this.shardSubject(streamUid, shardIndex) });
    return last ? positionOf(last.seq, Number(last.header.get(COUNT))) : EMPTY_SHARD_NEXT_POSITION;
  }

  /** Every acknowledged publish is durable, so this is nextPosition. */
  durablePosition(streamUid: number, shardIndex: number): Promise<number> {
    return this.nextPosition(streamUid, shardIndex);
  }

  async positionAtTime(streamUid: number, shardIndex: number, atMs: number): Promise<number> {
    const stream = this.recordStream(streamUid);
    const subject = this.shardSubject(streamUid, shardIndex);
    const target = Math.ceil(atMs);
    const last = await this.getMessage(stream, { last_by_subj: subject });
    if (!last) return EMPTY_SHARD_NEXT_POSITION;
    if (arrivalOf(last.header) < target) return positionOf(last.seq, Number(last.header.get(COUNT)));
    // Binary search over message sequences for the shard's first message arriving at or after
    // target (last is one); a probe returns the shard's first message at or after a sequence.
    let lo = 1;
    let hi = last.seq;
    let found = last.seq;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const probe = await this.nextMessage(stream, subject, mid);
      if (!probe || probe.seq >= hi) {
        hi = mid;
      } else if (arrivalOf(probe.header) >= target) {
        // Nothing of this shard lies in [mid, probe.seq): the answer is probe or before mid.
        found = probe.seq;
        hi = mid;
      } else {
        lo = probe.seq + 1;
      }
    }
    return positionOf(found, 0);
  }

  async trim(streamUid: number, shardIndex: number, beforeMs: number): Promise<void> {
    // A cut inside a message (only at the shard's end) removes that message too.
    const keepFrom = Math.ceil((await this.positionAtTime(streamUid, shardIndex, beforeMs)) / BATCH_SLOTS);
    if (keepFrom <= 1) return;
    try {
      await this.handle.jsm.streams.purge(this.recordStream(streamUid), { filter: this.shardSubject(streamUid, shardIndex), seq: keepFrom });
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
  }

  watch(streamUid: number, shardIndex: number, listener: () => void): () => void {
    const event = slotName(streamUid, shardIndex);
    this.changed.on(event, listener);
    return () => this.changed.off(event, listener);
  }

  async secret(name: string): Promise<Buffer> {
    const stored = await this.secretsKv.get(name);
    if (stored?.operation === 'PUT') return Buffer.from(stored.value);
    try {
      await this.secretsKv.create(name, randomBytes(32));
    } catch (error) {
      // Another node created it first: every node must use that one.
      if (!isWrongLastSequence(error)) throw error;
    }
    return this.secret(name);
  }

  /** Stores a batch; answers the position of its first record (the original's, for a producer's duplicate). */
  private async publish(batch: Batch, now: number): Promise<AppendResult> {
    const arrivalMs = this.arrival(batch.streamUid, batch.shardIndex, now);
    const header = headers();
    header.set(ARRIVAL, String(arrivalMs));
    header.set(COUNT, String(batch.entries.length));
    const producer = batch.entries[0]!.producer;
    const ack = await this.handle.js.publish(this.shardSubject(batch.streamUid, batch.shardIndex), encodeBatch(batch.entries), {
      headers: header,
      ...(producer ? { msgID: `${encodeURIComponent(producer.id)}/${producer.sequence}` } : {}),
    });
    const position = positionOf(ack.seq, 0);
    if (!ack.duplicate) return { shardIndex: batch.shardIndex, position, arrivalMs, duplicate: false };
    // The ack names the original's sequence; its shard and arrival are in the stored message.
    const original = await this.getMessage(this.recordStream(batch.streamUid), { seq: ack.seq });
    if (!original) return { shardIndex: batch.shardIndex, position, arrivalMs, duplicate: true };
    return { shardIndex: shardIndexOf(original.subject), position, arrivalMs: arrivalOf(original.header), duplicate: true };
  }

  /** Arrival ms that never go backwards within a shard on this node. */
  private arrival(streamUid: number, shardIndex: number, now: number): number {
    const slot = slotName(streamUid, shardIndex);
    const arrivalMs = Math.max(this.lastArrival.get(slot) ?? 0, now);
    this.lastArrival.set(slot, arrivalMs);
    return arrivalMs;
  }

  /** The shard's first message at or after seq. */
  private nextMessage(stream: string, subject: string, seq: number): Promise<StoredMsg | null> {
    // next_by_subj exists in the server's STREAM.MSG.GET since 2.9.0; the client's type lists
    // it only for direct gets, which would read from possibly lagging followers.
    return this.getMessage(stream, { seq: Math.max(seq, 1), next_by_subj: subject } as unknown as MsgRequest);
  }

  /** A stored message, or null when there is none (or no stream: it was deleted). */
  private async getMessage(stream: string, query: MsgRequest): Promise<StoredMsg | null> {
    try {
      // Retried while the stream has no leader (a node was lost): a get changes nothing.
      return await retrying(() => this.handle.jsm.streams.getMessage(stream, query));
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return null;
      throw error;
    }
  }

  private async dropRecordStream(uid: number): Promise<void> {
    try {
      await this.handle.jsm.streams.delete(this.recordStream(uid));
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
  }

  private async forwardMetadataChanges(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    for await (const entry of watch) {
      const state = stateOf(entry);
      if (!state) continue;
      for (const shard of state.shards) this.changed.emit(slotName(state.uid, shard.index));
    }
  }

  private recordStream(uid: number): string {
    return `${this.prefix}_ds_${uid}`;
  }

  private shardSubject(uid: number, shardIndex: number): string {
    return `${this.prefix}.ds.${uid}.${shardIndex}`;
  }
}

function stateOf(entry: KvEntry | null): StreamState | undefined {
  return entry?.operation === 'PUT' ? (entry.json() as StreamState) : undefined;
}

function recordsOf(msg: StoredMsg): StoredRecord[] {
  return decodeBatch(msg.seq, msg.string(), arrivalOf(msg.header));
}

function arrivalOf(header: MsgHdrs | undefined): number {
  return Number(header?.get(ARRIVAL) ?? 0);
}

function shardIndexOf(subject: string): number {
  return Number(subject.slice(subject.lastIndexOf('.') + 1));
}

function streamKey(name: string): string {
  return `stream.${Buffer.from(name).toString('base64url')}`;
}

function slotName(streamUid: number, shardIndex: number): string {
  return `${streamUid}:${shardIndex}`;
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** Whether a KV create/update lost to another writer (the key is not at the revision it expected). */
export function isWrongLastSequence(error: unknown): boolean {
  return isApiError(error, JetStreamApiCodes.StreamWrongLastSequence) || isApiError(error, JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
