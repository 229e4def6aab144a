import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppendEntry, AppendResult, StoredRecord, StreamState } from '../../data-streams/model.js';
import { StaleStreamError, StreamExistsError, type DataStreamStore } from '../data-stream-store.js';
import { Database, type PreparedStatement } from '../../../lib/sqlite.js';

// A shard's log is stored as chunks: runs of consecutive records, one SQLite row each, written
// by one group commit. SQLite's cost is per row, so a commit of thousands of records costs a few
// row inserts. A chunk's rowid packs (shard key, first position), which makes a shard's log one
// contiguous rowid range: reads and trims are range scans on the table's own b-tree, with no
// index to maintain. The arithmetic happens in SQL, where integers are 64-bit.
const SHARD_SPAN = 8796093022208; // 2^43 positions per shard, 2^20 shards
const CHUNK_RECORDS = 1000;
const CHUNK_CHARS = 1024 * 1024;
const CHUNKS_PER_STATEMENT = 64;
const CHUNKS_PER_READ = 16;

const FIND_PRODUCED = `SELECT batch.key AS row, produced.shard_index, produced.position, produced.arrival_ms
  FROM json_each(?) AS batch JOIN producer_records AS produced
  ON produced.stream_uid = batch.value ->> 0 AND produced.producer_id = batch.value ->> 1 AND produced.sequence = batch.value ->> 2`;
const INSERT_PRODUCED = `INSERT INTO producer_records (stream_uid, producer_id, sequence, shard_index, position, arrival_ms)
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?)`;
const INSERT_ARRIVALS = `INSERT OR IGNORE INTO arrivals (shard_key, arrival_ms, position) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)`;
const UPDATE_POSITIONS = `UPDATE shard_keys SET next_position = batch.value ->> 1 FROM json_each(?) AS batch WHERE shard_keys.key = batch.value ->> 0`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (uid INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shard_keys (
  key INTEGER PRIMARY KEY AUTOINCREMENT, stream_uid INTEGER NOT NULL, shard_index INTEGER NOT NULL,
  next_position INTEGER NOT NULL DEFAULT 1, UNIQUE (stream_uid, shard_index));
-- body: JSON [[arrival_ms, partition_key, data_base64, key_id or 0], ...] for positions id - shard start onwards
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, count INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS arrivals (shard_key INTEGER NOT NULL, arrival_ms INTEGER NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (shard_key, arrival_ms)) WITHOUT ROWID;
-- Which record each (stream, producer, producer sequence) became, so a retried put is not stored twice.
CREATE TABLE IF NOT EXISTS producer_records (
  stream_uid INTEGER NOT NULL, producer_id TEXT NOT NULL, sequence INTEGER NOT NULL,
  shard_index INTEGER NOT NULL, position INTEGER NOT NULL, arrival_ms INTEGER NOT NULL,
  PRIMARY KEY (stream_uid, producer_id, sequence)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS producer_records_age ON producer_records (stream_uid, shard_index, arrival_ms);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
`;

interface ShardSlot {
  key: number;
  nextPosition: number;
  /** Positions below this are committed; nextPosition also counts appends still pending. */
  durablePosition: number;
  lastArrival: number;
}

interface PendingRow {
  slot: ShardSlot;
  position: number;
  arrivalMs: number;
  entry: AppendEntry;
  /** Set at commit when the producer's sequence is already stored: the row is not written. */
  original?: { shardIndex: number; position: number; arrivalMs: number };
}

interface PendingAppend {
  rows: PendingRow[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface SqliteStoreOptions {
  now?: () => number;
}

/**
 * The embedded store: one SQLite database in WAL mode with synchronous=FULL, so a commit is on
 * disk before it returns. Appends from concurrent requests are grouped into one transaction
 * (group commit): durability costs one fsync per batch, not per request.
 */
export class SqliteDataStreamStore implements DataStreamStore {
  private writer!: Database;
  private reader!: Database;
  private readonly now: () => number;
  private readonly streams = new Map<string, StreamState>();
  private readonly slots = new Map<string, ShardSlot>();
  private statements!: { insertArrivals: PreparedStatement; updatePositions: PreparedStatement; findProduced: PreparedStatement; insertProduced: PreparedStatement };
  private readonly chunkInserts = new Map<number, PreparedStatement>();
  private readonly appended = new EventEmitter();
  private pending: PendingAppend[] = [];
  private flushQueued = false;
  private writeChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string, options: SqliteStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.appended.setMaxListeners(0);
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, 'data-streams.sqlite');
    this.writer = await Database.open(file);
    await this.writer.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;');
    await this.writer.exec(SCHEMA);
    this.statements = {
      insertArrivals: this.writer.prepare(INSERT_ARRIVALS),
      updatePositions: this.writer.prepare(UPDATE_POSITIONS),
      findProduced: this.writer.prepare(FIND_PRODUCED),
      insertProduced: this.writer.prepare(INSERT_PRODUCED),
    };
    this.reader = await Database.open(file);
    await this.reader.exec('PRAGMA busy_timeout=5000; PRAGMA query_only=1;');
    for (const row of await this.writer.all<{ doc: string }>('SELECT doc FROM streams')) {
      const state = JSON.parse(row.doc) as StreamState;
      this.streams.set(state.name, state);
    }
    const keys = await this.writer.all<{ key: number; stream_uid: number; shard_index: number; next_position: number }>(
      'SELECT key, stream_uid, shard_index, next_position FROM shard_keys',
    );
    for (const row of keys) {
      this.slots.set(slotName(row.stream_uid, row.shard_index), { key: row.key, nextPosition: row.next_position, durablePosition: row.next_position, lastArrival: 0 });
    }
  }

  async close(): Promise<void> {
    await this.serially(async () => {});
    for (const statement of [...Object.values(this.statements), ...this.chunkInserts.values()]) await statement.finalize();
    await this.reader.close();
    await this.writer.close();
  }

  async listStreams(): Promise<StreamState[]> {
    return [...this.streams.values()];
  }

  async getStream(name: string): Promise<StreamState | undefined> {
    return this.streams.get(name);
  }

  createStream(initial: Omit<StreamState, 'uid' | 'version'>): Promise<StreamState> {
    return this.serially(async () => {
      if (this.streams.has(initial.name)) throw new StreamExistsError(initial.name);
      await this.writer.exec('BEGIN IMMEDIATE');
      try {
        const { lastID } = await this.writer.run('INSERT INTO streams (name, doc) VALUES (?, ?)', [initial.name, '{}']);
        const state: StreamState = { ...initial, uid: lastID, version: 1 };
        await this.writer.run('UPDATE streams SET doc = ? WHERE uid = ?', [JSON.stringify(state), lastID]);
        const added = await this.addShardSlots(state);
        await this.writer.exec('COMMIT');
        this.commitSlots(added);
        this.streams.set(state.name, state);
        return state;
      } catch (error) {
        await this.writer.exec('ROLLBACK');
        throw error;
      }
    });
  }

  updateStream(state: StreamState): Promise<void> {
    return this.serially(async () => {
      const stored = this.streams.get(state.name);
      if (!stored || stored.uid !== state.uid || stored.version !== state.version - 1) throw new StaleStreamError(state.name);
      await this.writer.exec('BEGIN IMMEDIATE');
      try {
        await this.writer.run('UPDATE streams SET doc = ? WHERE uid = ?', [JSON.stringify(state), state.uid]);
        const added = await this.addShardSlots(state);
        await this.writer.exec('COMMIT');
        this.commitSlots(added);
        this.streams.set(state.name, state);
      } catch (error) {
        await this.writer.exec('ROLLBACK');
        throw error;
      }
      for (const shard of state.shards) this.appended.emit(slotName(state.uid, shard.index));
    });
  }

  deleteStream(name: string, uid: number): Promise<void> {
    return this.serially(async () => {
      const stored = this.streams.get(name);
      if (!stored || stored.uid !== uid) return;
      await this.writer.exec('BEGIN IMMEDIATE');
      try {
        await this.writer.run('DELETE FROM streams WHERE uid = ?', [uid]);
        for (const shard of stored.shards) {
          const slot = this.slots.get(slotName(uid, shard.index));
          if (!slot) continue;
          await this.writer.run(`DELETE FROM chunks WHERE id >= ${shardStart('?1')} AND id < ${shardStart('?1 + 1')}`, [slot.key]);
          await this.writer.run('DELETE FROM arrivals WHERE shard_key = ?', [slot.key]);
        }
        await this.writer.run('DELETE FROM shard_keys WHERE stream_uid = ?', [uid]);
        await this.writer.run('DELETE FROM producer_records WHERE stream_uid = ?', [uid]);
        await this.writer.exec('COMMIT');
      } catch (error) {
        await this.writer.exec('ROLLBACK');
        throw error;
      }
      this.streams.delete(name);
      for (const shard of stored.shards) this.slots.delete(slotName(uid, shard.index));
    });
  }

  append(entries: AppendEntry[]): Promise<AppendResult[]> {
    const now = this.now();
    const rows = entries.map((entry): PendingRow => {
      const slot = this.slot(entry.streamUid, entry.shardIndex);
      // Arrival times never go backwards within a shard, so "first record at or after T" is a
      // simple lookup even when the wall clock steps back.
      slot.lastArrival = Math.max(slot.lastArrival, now);
      return { slot, position: slot.nextPosition++, arrivalMs: slot.lastArrival, entry };
    });
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ rows, resolve, reject });
      if (!this.flushQueued) {
        this.flushQueued = true;
        void this.serially(() => this.flush()).catch(() => {});
      }
    }).then(() =>
      rows.map((row) =>
        row.original ? { ...row.original, duplicate: true } : { shardIndex: row.entry.shardIndex, position: row.position, arrivalMs: row.arrivalMs, duplicate: false },
      ),
    );
  }

  async read(streamUid: number, shardIndex: number, from: number, limit: number, maxBytes: number): Promise<StoredRecord[]> {
    const slot = this.slots.get(slotName(streamUid, shardIndex));
    if (!slot) return [];
    const records: StoredRecord[] = [];
    let bytes = 0;
    // The first query starts at the chunk holding `from` (the last one starting at or before it).
    let lower = `(SELECT coalesce(max(id), ${shardStart('?1')}) FROM chunks WHERE id >= ${shardStart('?1')} AND id <= ${shardStart('?1')} + CAST(?2 AS INTEGER))`;
    let after = from;
    for (;;) {
      const chunks = await this.reader.all<{ first: number; body: string }>(
        `SELECT id - ${shardStart('?1')} AS first, body FROM chunks WHERE id >= ${lower} AND id < ${shardStart('?1 + 1')} ORDER BY id LIMIT ${CHUNKS_PER_READ}`,
        [slot.key, after],
      );
      for (const chunk of chunks) {
        const entries = JSON.parse(chunk.body) as [number, string, string, string | 0][];
        for (let offset = 0; offset < entries.length; offset++) {
          const position = chunk.first + offset;
          if (position < from) continue;
          const [arrivalMs, partitionKey, dataBase64, keyId] = entries[offset]!;
          const size = (dataBase64.length * 3) / 4;
          if (records.length >= limit || (records.length > 0 && bytes + size > maxBytes)) return records;
          bytes += size;
          records.push(keyId === 0 ? { position, arrivalMs, partitionKey, dataBase64 } : { position, arrivalMs, partitionKey, dataBase64, keyId });
        }
      }
      if (chunks.length < CHUNKS_PER_READ) return records;
      lower = `${shardStart('?1')} + CAST(?2 AS INTEGER)`;
      after = chunks[chunks.length - 1]!.first + 1;
    }
  }

  async nextPosition(streamUid: number, shardIndex: number): Promise<number> {
    return this.slots.get(slotName(streamUid, shardIndex))?.nextPosition ?? 1;
  }

  async durablePosition(streamUid: number, shardIndex: number): Promise<number> {
    return this.slots.get(slotName(streamUid, shardIndex))?.durablePosition ?? 1;
  }

  async positionAtTime(streamUid: number, shardIndex: number, atMs: number): Promise<number> {
    const slot = this.slots.get(slotName(streamUid, shardIndex));
    if (!slot) return 1;
    const row = await this.reader.get<{ position: number }>(
      'SELECT position FROM arrivals WHERE shard_key = ? AND arrival_ms >= ? ORDER BY arrival_ms LIMIT 1',
      [slot.key, Math.ceil(atMs)],
    );
    return row?.position ?? slot.nextPosition;
  }

  trim(streamUid: number, shardIndex: number, beforeMs: number): Promise<void> {
    return this.serially(async () => {
      const slot = this.slots.get(slotName(streamUid, shardIndex));
      if (!slot) return;
      const keep = await this.writer.get<{ position: number }>(
        'SELECT position FROM arrivals WHERE shard_key = ? AND arrival_ms >= ? ORDER BY arrival_ms LIMIT 1',
        [slot.key, beforeMs],
      );
      const cut = keep?.position ?? slot.nextPosition;
      await this.writer.exec('BEGIN IMMEDIATE');
      try {
        await this.writer.run(
          `DELETE FROM chunks WHERE id >= ${shardStart('?1')} AND id < ${shardStart('?1')} + CAST(?2 AS INTEGER) AND id + count <= ${shardStart('?1')} + CAST(?2 AS INTEGER)`,
          [slot.key, cut],
        );
        await this.writer.run('DELETE FROM arrivals WHERE shard_key = ? AND arrival_ms < ?', [slot.key, beforeMs]);
        await this.writer.run('DELETE FROM producer_records WHERE stream_uid = ? AND shard_index = ? AND arrival_ms < ?', [streamUid, shardIndex, beforeMs]);
        await this.writer.exec('COMMIT');
      } catch (error) {
        await this.writer.exec('ROLLBACK');
        throw error;
      }
    });
  }

  watch(streamUid: number, shardIndex: number, listener: () => void): () => void {
    const event = slotName(streamUid, shardIndex);
    this.appended.on(event, listener);
    return () => this.appended.off(event, listener);
  }

  secret(name: string): Promise<Buffer> {
    return this.serially(async () => {
      const row = await this.writer.get<{ value: Buffer }>('SELECT value FROM secrets WHERE name = ?', [name]);
      if (row) return row.value;
      const value = randomBytes(32);
      await this.writer.run('INSERT INTO secrets (name, value) VALUES (?, ?)', [name, value]);
      return value;
    });
  }

  private slot(streamUid: number, shardIndex: number): ShardSlot {
    const slot = this.slots.get(slotName(streamUid, shardIndex));
    // The API layer routes only to shards of a stream it just read, whose slots exist.
    if (!slot) throw new Error(`no shard ${shardIndex} in stream ${streamUid}`);
    return slot;
  }

  private async addShardSlots(state: StreamState): Promise<[string, ShardSlot][]> {
    const added: [string, ShardSlot][] = [];
    for (const shard of state.shards) {
      const name = slotName(state.uid, shard.index);
      if (this.slots.has(name)) continue;
      const { lastID } = await this.writer.run('INSERT INTO shard_keys (stream_uid, shard_index) VALUES (?, ?)', [state.uid, shard.index]);
      added.push([name, { key: lastID, nextPosition: 1, durablePosition: 1, lastArrival: 0 }]);
    }
    return added;
  }

  private commitSlots(added: [string, ShardSlot][]): void {
    for (const [name, slot] of added) this.slots.set(name, slot);
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const all = batch.flatMap((append) => append.rows);
    // A batch gathers appends made over several milliseconds; each millisecond needs its own
    // arrivals entry, or AT_TIMESTAMP and trims would jump past the later ones to the next batch.
    // Arrivals never decrease within a shard, so a change from the shard's previous row marks
    // the first position of a new millisecond.
    const positions = [...new Set(all.map((row) => row.slot))].map((slot) => [slot.key, slot.nextPosition]);
    try {
      await this.writer.exec('BEGIN IMMEDIATE');
      const rows = await this.withoutProduced(all);
      const chunks = chunksOf(rows);
      const arrivals: [number, number, number][] = [];
      const lastArrival = new Map<ShardSlot, number>();
      for (const { slot, position, arrivalMs } of rows) {
        if (lastArrival.get(slot) === arrivalMs) continue;
        lastArrival.set(slot, arrivalMs);
        arrivals.push([slot.key, arrivalMs, position]);
      }
      for (let start = 0; start < chunks.length; start += CHUNKS_PER_STATEMENT) {
        const group = chunks.slice(start, start + CHUNKS_PER_STATEMENT);
        await this.chunkInsert(group.length).run(group.flatMap((chunk) => [chunk.key, chunk.first, chunk.count, chunk.body]));
      }
      await this.statements.insertArrivals.run([JSON.stringify(arrivals)]);
      await this.statements.updatePositions.run([JSON.stringify(positions)]);
      await this.writer.exec('COMMIT');
    } catch (error) {
      await this.writer.exec('ROLLBACK').catch(() => {});
      for (const append of batch) append.reject(error);
      return;
    }
    for (const { slot, position } of all) slot.durablePosition = position + 1;
    for (const append of batch) append.resolve();
    const notified = new Set<string>();
    for (const { entry } of all) notified.add(slotName(entry.streamUid, entry.shardIndex));
    for (const event of notified) this.appended.emit(event);
  }

  /**
   * Marks the rows whose producer sequence is already stored (or repeated earlier in the batch)
   * with the original's place, records the place of the others, and returns the rows to write.
   * Runs inside the commit's transaction, so the records and their producer entries are durable
   * together: a retry after a crash finds the entry exactly when it finds the record.
   */
  private async withoutProduced(rows: PendingRow[]): Promise<PendingRow[]> {
    const produced = rows.filter((row) => row.entry.producer);
    if (produced.length === 0) return rows;
    const keys = produced.map(({ entry }) => [entry.streamUid, entry.producer!.id, entry.producer!.sequence]);
    const found = await this.statements.findProduced.all<{ row: number; shard_index: number; position: number; arrival_ms: number }>([JSON.stringify(keys)]);
    for (const match of found) produced[match.row]!.original = { shardIndex: match.shard_index, position: match.position, arrivalMs: match.arrival_ms };
    const firstInBatch = new Map<string, PendingRow>();
    const entries: unknown[] = [];
    for (const row of produced) {
      if (row.original) continue;
      const key = JSON.stringify([row.entry.streamUid, row.entry.producer!.id, row.entry.producer!.sequence]);
      const first = firstInBatch.get(key);
      if (first) {
        row.original = { shardIndex: first.entry.shardIndex, position: first.position, arrivalMs: first.arrivalMs };
        continue;
      }
      firstInBatch.set(key, row);
      entries.push([row.entry.streamUid, row.entry.producer!.id, row.entry.producer!.sequence, row.entry.shardIndex, row.position, row.arrivalMs]);
    }
    await this.statements.insertProduced.run([JSON.stringify(entries)]);
    return rows.filter((row) => !row.original);
  }

  private chunkInsert(rowCount: number): PreparedStatement {
    let statement = this.chunkInserts.get(rowCount);
    if (!statement) {
      const values = new Array(rowCount).fill(`(${shardStart('?')} + CAST(? AS INTEGER), ?, ?)`);
      statement = this.writer.prepare(`INSERT INTO chunks (id, count, body) VALUES ${values.join(', ')}`);
      this.chunkInserts.set(rowCount, statement);
    }
    return statement;
  }

  /** Runs write work one piece at a time, in call order, on the single writer connection. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.writeChain.then(work);
    this.writeChain = result.catch(() => {});
    return result;
  }
}

interface Chunk {
  key: number;
  first: number;
  count: number;
  body: string;
}

/** Groups a batch's rows into chunks: consecutive positions of one shard, bounded in count and size. */
function chunksOf(rows: PendingRow[]): Chunk[] {
  const open = new Map<ShardSlot, Chunk>();
  const chunks: Chunk[] = [];
  for (const { slot, position, arrivalMs, entry } of rows) {
    let chunk = open.get(slot);
    // Positions are handed out in order, but a failed commit leaves a gap: start a new chunk there.
    if (!chunk || chunk.count >= CHUNK_RECORDS || chunk.body.length >= CHUNK_CHARS || chunk.first + chunk.count !== position) {
      if (chunk) chunk.body += ']';
      chunk = { key: slot.key, first: position, count: 0, body: '[' };
      open.set(slot, chunk);
      chunks.push(chunk);
    }
    if (chunk.count > 0) chunk.body += ',';
    chunk.body += `[${arrivalMs},${JSON.stringify(entry.partitionKey)},"${entry.dataBase64}",${entry.keyId === undefined ? 0 : JSON.stringify(entry.keyId)}]`;
    chunk.count++;
  }
  for (const chunk of open.values()) chunk.body += ']';
  return chunks;
}

/** SQL for the first record id of the shard whose key the expression gives. */
function shardStart(keyExpression: string): string {
  return `CAST(${keyExpression} AS INTEGER) * ${SHARD_SPAN}`;
}

function slotName(streamUid: number, shardIndex: number): string {
  return `${streamUid}:${shardIndex}`;
}
