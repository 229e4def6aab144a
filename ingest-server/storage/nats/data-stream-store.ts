import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { headers, nanos, type MsgHdrs, type QueuedIterator, type Subscription } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type MsgRequest, type StoredMsg } from '@nats-io/jetstream';
import { KvWatchInclude, Kvm, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import type { AppendEntry, AppendResult, StoredRecord, StreamState } from '../../data-streams/model.js';
import { StaleStreamError, StreamExistsError, type DataStreamStore } from '../data-stream-store.js';
import type { NatsHandle } from './connection.js';
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
//   replicas from the handle, file storage. A record is one message: the data's base64 text as
//   payload, arrival ms, partition key and key id in headers. Its position is the message's
//   stream sequence, which increases within each shard's subject (with gaps: the shards share
//   one sequence), which is all the API layer relies on. A publish is acknowledged once a
//   quorum of replicas stored it: that acknowledgement is append()'s durability.
// - Producer de-duplication is JetStream's Nats-Msg-Id (`<producer id>/<sequence>`): a repeat
//   within DUPLICATE_WINDOW is not stored and its PubAck carries the original's sequence. The
//   bound: a retry arriving more than DUPLICATE_WINDOW after the original is stored again.
// - Wake-ups: after the acks of an append, a core message on P.dsw.<uid>.<shardIndex> tells
//   every node's watchers (plain subscribers of P.ds.* would hear a record before it is durable);
//   a watch of the streams bucket tells them about reshards.
// - Arrival times come from this node's clock (options.now) and never go backwards within a
//   shard on one node; nodes with skewed clocks can interleave, so AT_TIMESTAMP and trims,
//   which binary-search arrivals, are as approximate as the clocks.

/** How long a producer's (id, sequence) is remembered: Kinesis' default retention. */
const DUPLICATE_WINDOW_MS = 24 * 3600 * 1000;
/** How long a read's consumer outlives a reader that vanished before deleting it. */
const READ_CONSUMER_IDLE_MS = 30_000;
/** How long a read waits for messages the consumer reported pending (only a racing trim delays). */
const READ_EXPIRES_MS = 1_000;

const ARRIVAL = 'Rivulet-Arrival';
const PARTITION_KEY = 'Rivulet-Partition-Key';
const KEY_ID = 'Rivulet-Key-Id';
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
    const kvm = new Kvm(this.handle.js);
    // allow_direct off: direct gets may be answered by a follower that has not applied the
    // latest write, and metadata reads must see every acknowledged update.
    this.streamsKv = await kvm.create(this.streamsBucket, { replicas: this.handle.replicas, history: 1, allow_direct: false });
    this.secretsKv = await kvm.create(`${this.prefix}_secrets`, { replicas: this.handle.replicas, history: 1, allow_direct: false });
    this.wakeups = this.handle.nc.subscribe(`${this.prefix}.dsw.>`, {
      callback: (error, msg) => {
        if (error) return;
        const tokens = msg.subject.split('.');
        this.changed.emit(slotName(Number(tokens[tokens.length - 2]), Number(tokens[tokens.length - 1])));
      },
    });
    this.metadataWatch = await this.streamsKv.watch({ key: STREAM_KEYS, include: KvWatchInclude.UpdatesOnly });
    void this.forwardMetadataChanges(this.metadataWatch);
  }

  /** Does not close the handle: the video store may share it. */
  async close(): Promise<void> {
    this.metadataWatch?.stop();
    this.wakeups?.unsubscribe();
  }

  async listStreams(): Promise<StreamState[]> {
    // The bucket stream's leader lists the subjects it holds; KV's keys() lister runs a
    // consumer that was seen to miss a just-created key on a cluster.
    const info = await this.handle.jsm.streams.info(`KV_${this.streamsBucket}`, { subjects_filter: `$KV.${this.streamsBucket}.${STREAM_KEYS}` });
    const subjectPrefix = `$KV.${this.streamsBucket}.`;
    const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(subjectPrefix.length));
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
    await this.handle.jsm.streams.add({
      name: this.recordStream(uid),
      subjects: [`${this.prefix}.ds.${uid}.*`],
      num_replicas: this.handle.replicas,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
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
    // Publishes are pipelined: every entry is in flight at once and the call waits for all acks.
    const results = await Promise.all(entries.map((entry) => this.publish(entry, now)));
    const shards = new Set(entries.map((entry) => `${this.prefix}.dsw.${entry.streamUid}.${entry.shardIndex}`));
    for (const subject of shards) this.handle.nc.publish(subject);
    return results;
  }

  async read(streamUid: number, shardIndex: number, from: number, limit: number, maxBytes: number): Promise<StoredRecord[]> {
    const stream = this.recordStream(streamUid);
    const subject = this.shardSubject(streamUid, shardIndex);
    // A reader polling at the tip finds nothing: one request, no consumer made.
    const first = await this.nextMessage(stream, subject, from);
    if (!first) return [];
    // Creating a consumer needs the cluster's meta leader: after a node is lost nats-server 2.9
    // took up to ~30 s here to elect one (publishes to stream leaders went on meanwhile), longer
    // than a read may wait, so such reads still fail with InternalFailure; see docs/scale-out.md.
    const info = await retrying(() => this.handle.jsm.consumers.add(stream, {
      filter_subject: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: first.seq,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(READ_CONSUMER_IDLE_MS),
    }));
    const records: StoredRecord[] = [];
    try {
      // num_pending bounds each fetch, so it ends when the last pending message arrives instead
      // of waiting for its expiry. The client cannot bound a fetch by both count and bytes, so
      // rounds ask for about as many records as the bytes left hold at the sizes seen so far.
      const count = Math.min(info.num_pending, limit);
      const consumer = this.handle.js.consumers.getConsumerFromInfo(info);
      let bytes = 0;
      let averageSize = (first.data.length * 3) / 4;
      while (records.length < count) {
        const wanted = Math.min(count - records.length, Math.max(1, Math.floor((maxBytes - bytes) / Math.max(averageSize, 1))));
        const before = records.length;
        for await (const msg of await consumer.fetch({ max_messages: wanted, expires: READ_EXPIRES_MS })) {
          const dataBase64 = msg.string();
          const size = (dataBase64.length * 3) / 4;
          if (records.length > 0 && bytes + size > maxBytes) return records;
          bytes += size;
          records.push(recordOf(msg.seq, msg.headers, dataBase64));
          if (records.length - before >= wanted) break;
        }
        // Fewer than pending arrived: a trim removed them meanwhile.
        if (records.length - before < wanted) return records;
        averageSize = bytes / records.length;
      }
      return records;
    } finally {
      // Not awaited: the consumer's idle threshold removes it should this request be lost.
      this.handle.jsm.consumers.delete(stream, info.name).catch(() => {});
    }
  }

  async nextPosition(streamUid: number, shardIndex: number): Promise<number> {
    const last = await this.getMessage(this.recordStream(streamUid), { last_by_subj: this.shardSubject(streamUid, shardIndex) });
    return (last?.seq ?? 0) + 1;
  }

  /** Every acknowledged publish is durable, so this is nextPosition. */
  durablePosition(streamUid: number, shardIndex: number): Promise<number> {
    return this.nextPosition(streamUid, shardIndex);
  }

  async positionAtTime(streamUid: number, shardIndex: number, atMs: number): Promise<number> {
    const stream = this.recordStream(streamUid);
    const subject = this.shardSubject(streamUid, shardIndex);
    const target = Math.ceil(atMs);
    // Binary search over sequence numbers for the shard's first message arriving at or after
    // target; a probe returns the first message of the shard at or after a sequence.
    let lo = 1;
    let hi = await this.nextPosition(streamUid, shardIndex);
    let found = hi;
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
    return found;
  }

  async trim(streamUid: number, shardIndex: number, beforeMs: number): Promise<void> {
    const cut = await this.positionAtTime(streamUid, shardIndex, beforeMs);
    if (cut <= 1) return;
    try {
      await this.handle.jsm.streams.purge(this.recordStream(streamUid), { filter: this.shardSubject(streamUid, shardIndex), seq: cut });
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

  private async publish(entry: AppendEntry, now: number): Promise<AppendResult> {
    const arrivalMs = this.arrival(entry.streamUid, entry.shardIndex, now);
    const header = headers();
    header.set(ARRIVAL, String(arrivalMs));
    // Header values are one line of text; a partition key or key id may hold anything.
    header.set(PARTITION_KEY, encodeURIComponent(entry.partitionKey));
    if (entry.keyId !== undefined) header.set(KEY_ID, encodeURIComponent(entry.keyId));
    const ack = await this.handle.js.publish(this.shardSubject(entry.streamUid, entry.shardIndex), entry.dataBase64, {
      headers: header,
      ...(entry.producer ? { msgID: `${encodeURIComponent(entry.producer.id)}/${entry.producer.sequence}` } : {}),
    });
    if (!ack.duplicate) return { shardIndex: entry.shardIndex, position: ack.seq, arrivalMs, duplicate: false };
    // The ack names the original's sequence; its shard and arrival are in the stored message.
    const original = await this.getMessage(this.recordStream(entry.streamUid), { seq: ack.seq });
    if (!original) return { shardIndex: entry.shardIndex, position: ack.seq, arrivalMs, duplicate: true };
    return { shardIndex: shardIndexOf(original.subject), position: ack.seq, arrivalMs: arrivalOf(original.header), duplicate: true };
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
      return await this.handle.jsm.streams.getMessage(stream, query);
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

function recordOf(position: number, header: MsgHdrs | undefined, dataBase64: string): StoredRecord {
  const partitionKey = decodeURIComponent(header?.get(PARTITION_KEY) ?? '');
  const keyId = header?.get(KEY_ID);
  const arrivalMs = arrivalOf(header);
  return keyId ? { position, arrivalMs, partitionKey, dataBase64, keyId: decodeURIComponent(keyId) } : { position, arrivalMs, partitionKey, dataBase64 };
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

function isWrongLastSequence(error: unknown): boolean {
  return isApiError(error, JetStreamApiCodes.StreamWrongLastSequence) || isApiError(error, JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
