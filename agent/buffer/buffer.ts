// The agent's store-and-forward buffer: every reading is appended here, durably, before the
// uploader may send it, and leaves only when the server acknowledged it (remove), when it is
// evicted to make room (drop-oldest), or when it outlived maxAgeMs (expiry).
//
// Layout (one SQLite file):
// - `sources`: one row per (source name, target stream): priority, backlog (records, bytes),
//   lifetime counters, the consumed-through watermark and the next sequence number. Backlog
//   totals live here, changed in the same transaction as the records they count, so opening a
//   full buffer costs no table scan.
// - `records_<source>_<slot>`: a ring of SLOTS segment tables per source, rowid = sequence.
//   Appends go to the current slot (end of its b-tree: full pages, no index to maintain).
//   Sequences are global to the buffer, so "oldest first" across slots and sources is a merge of
//   rowid scans (a compound SELECT ordered by seq).
// - Records leave mostly from the front of a source (drains, evictions and expiry all take the
//   oldest): that only moves the source's watermark — every sequence at or below it is gone —
//   and a slot whose records are all below it is emptied with `DELETE FROM` (no WHERE), which
//   SQLite turns into freeing the table's pages. Deleting rows one by one instead rewrites every
//   page they were on; with secure_delete=FAST freed pages are not even zeroed. Only records
//   removed out of order (a partial upload failure) are deleted row by row. A slot is rotated
//   when it holds more than 2/SLOTS of the source's backlog (at least a minimum), so the dead
//   rows awaiting a slot's truncation stay a small fraction of the backlog.
// - Each record keeps its reading timestamp and `lag`, its arrival in the buffer minus that
//   timestamp (one or two bytes for live readings). Arrival (`ts + lag`) is the buffer's clock,
//   never going backwards, also across restarts; expiry counts from it, so a source's expired
//   records are a prefix of its sequences.
//
// Disk use: the file holds the backlog (~1.25 × its payload + key bytes for 100-byte readings:
// row headers, keys, timestamps), the dead rows of partly consumed slots (at most about 2/SLOTS
// of the backlog plus MIN_SEGMENT_BYTES per source), a few pages per table (SLOTS × 2 KiB per
// source), and the WAL (about 2 MiB between automatic checkpoints: 1000 pages). Freed pages are reused, the
// file does not shrink: size the data partition for its high-water mark.
//
// Every change happens in write turns on the one connection: all the work that arrived while the
// previous turn ran (appends, removes, expiry) is applied in one transaction (group commit), with
// set-based statements: a turn's new rows for a slot are one INSERT … SELECT over json_each(),
// their payloads one blob parameter cut with substr() (SQLite 3.40 has no unhex(), and base64
// text would cost a third more disk). Admission decisions (byte bounds, rejections, evictions)
// are made in memory, in call order, against exact backlog totals, so the bounds hold at every
// commit.
//
// Durability: WAL mode with locking_mode=EXCLUSIVE (one process owns the buffer; a second agent
// on the same file fails to open instead of interleaving sequences).
// - synchronous=FULL (default): the WAL is fsynced at every commit, so every append that
//   resolved survives a power cut. Costs one fsync per write turn, shared by all its appends.
// - synchronous=NORMAL: the WAL is fsynced only at checkpoints. A power cut never corrupts the
//   database (WAL frames are checksummed; recovery stops at the first torn frame) but may roll
//   back the last commits: appends that had already resolved, readings already reported as
//   buffered, are lost. Fewer fsyncs, which matters on slow SD cards.
// A process crash (kill -9, OOM kill) loses nothing in either mode: committed pages are in the
// kernel's page cache; only power loss or a kernel crash can lose unsynced ones.

import { randomBytes } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Database, type PreparedStatement } from '../../lib/sqlite.js';
import { BufferClosedError, BufferLockedError, UnknownSourceError } from './errors.js';

export type OnFull = 'reject-new' | 'drop-oldest';
export type SynchronousMode = 'FULL' | 'NORMAL';

/** Kinesis limits a record (data + partition key) to 1 MiB and a partition key to 256 characters. */
export const MAX_RECORD_BYTES = 1024 * 1024;
export const MAX_PARTITION_KEY_CHARS = 256;
/** A PutRecords call takes at most 500 records and 5 MiB. */
export const DEFAULT_PEEK_RECORDS = 500;
export const DEFAULT_PEEK_BYTES = 5 * 1024 * 1024;

/** Segment tables per source. */
const SLOTS = 16;
/** A slot is rotated once it holds this much (capped by the source's bound / 16). */
const MIN_SEGMENT_BYTES = 256 * 1024;
const SMALLEST_SEGMENT_BYTES = 4 * 1024;
// SQLite builds limit a compound SELECT to 500 terms; a peek statement covers at most this many
// sources (SLOTS terms each), more sources take several statements.
const SOURCES_PER_PEEK_STATEMENT = Math.floor(480 / SLOTS);
// A write turn takes at most this many new records; the rest wait for the next turn, so one
// turn's memory and latency stay bounded during a burst.
const RECORDS_PER_TURN = 20_000;
// Evictions read a victim source's oldest record sizes in pages of this many rows.
const VICTIM_PAGE = 512;
// Pages of a new buffer file (an existing file keeps its own). Every commit rewrites the last,
// partly filled leaf page and the interior pages of each table it appended to, and a checkpoint
// writes every page again: at a live agent's pace (a few KiB per source per commit) that fixed
// cost per commit is most of the writes, so smaller pages than SQLite's 4 KiB cut disk writes
// (measured with bench/agent: 3.3 → 2.6 bytes per payload byte) at ~5% of burst ingest speed.
const PAGE_SIZE = 2048;
// SQLite's page cache, in KiB (its default is 2000). Appends touch the tail of each table and
// peeks its head; both stay cached, and a miss is a read from the OS page cache. Small, because
// on a device RSS is what counts.
const CACHE_KIB = 512;
// After a checkpoint the WAL file is cut back to this size (WAL files are reused, not deleted).
const WAL_SIZE_LIMIT = 8 * 1024 * 1024;
// The peek map (sequence → source, so remove() knows each record's tables) is cleared past this
// size; remove() then asks every source which of the sequences it does not know are its own.
const PEEKED_LIMIT = 100_000;
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sources (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  stream TEXT NOT NULL,
  priority INTEGER NOT NULL,
  records INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  accepted INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0,
  dropped INTEGER NOT NULL DEFAULT 0,
  expired INTEGER NOT NULL DEFAULT 0,
  removed INTEGER NOT NULL DEFAULT 0,
  -- every record of this source with a sequence at or below this one is gone
  consumed INTEGER NOT NULL DEFAULT 0,
  -- the same value in every row, written with each commit: sequences keep increasing even when
  -- every table is empty
  next_sequence INTEGER NOT NULL DEFAULT 1,
  UNIQUE (name, stream)
);
-- producer_epoch: a random id made when the file is created, so an uploader can tell a
-- recreated buffer (whose sequences start again at 1) from this one
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** A source of readings and how the buffer treats it. */
export interface BufferSourceOptions {
  /** Unique among the sources; appends name it. */
  name: string;
  /** The Data Streams stream its records go to. */
  stream: string;
  /** Higher drains first and is evicted last. */
  priority: number;
  /** What an append does when its source or the buffer is full. */
  onFull: OnFull;
  /** This source's own bound on backlog bytes (payload + partition key), within the buffer's. */
  maxBytes?: number;
}

/** Options of RecordBuffer.open. */
export interface RecordBufferOptions {
  /** The SQLite file, on a writable data partition; its directory is created if missing. */
  path: string;
  /** Bound on the backlog's payload + partition key bytes, across all sources. */
  maxBytes: number;
  /** Records buffered longer than this are dropped at the next write or drain. Default: no limit. */
  maxAgeMs?: number;
  /** FULL (default) keeps every resolved append across power loss; NORMAL may lose the last ones. */
  synchronous?: SynchronousMode;
  sources: BufferSourceOptions[];
  /** The clock, for tests. */
  now?: () => number;
}

/** One reading to buffer. */
export interface BufferInput {
  partitionKey: string;
  data: Uint8Array;
  /** Integer milliseconds since the epoch. */
  timestamp: number;
}

/** What became of an append's records. */
export interface AppendResult {
  /** Records admitted into the buffer. */
  accepted: number;
  /** Records refused: reject-new on a full buffer, larger than the source's bound, or nothing evictable. */
  rejected: number;
  /** Older records evicted (from any source) to make room for this append's records. */
  dropped: number;
  /**
   * Per input record, its sequence once it is durably buffered; null when it was rejected, or
   * evicted again within the same commit by a later record.
   */
  sequences: (number | null)[];
}

/** A record waiting for upload. */
export interface BufferedRecord {
  /** Buffer-wide, increasing in append order, never reused (also across restarts). */
  sequence: number;
  source: string;
  stream: string;
  partitionKey: string;
  data: Buffer;
  timestamp: number;
}

/** One source's backlog and lifetime counters. */
export interface BufferSourceStats {
  name: string;
  stream: string;
  priority: number;
  /** False for a source no longer configured that still has a backlog: it drains, takes no appends. */
  configured: boolean;
  backlogRecords: number;
  backlogBytes: number;
  /** Age of the oldest buffered record (since the buffer accepted it); null when empty. */
  oldestAgeMs: number | null;
  accepted: number;
  rejected: number;
  dropped: number;
  expired: number;
  /** Records uploaded and removed. */
  removed: number;
}

/** The buffer at a glance. */
export interface BufferStats {
  sources: BufferSourceStats[];
  backlogRecords: number;
  backlogBytes: number;
  maxBytes: number;
  /** Size of the database file plus its WAL. */
  fileBytes: number;
}

interface Counters {
  records: number;
  bytes: number;
  accepted: number;
  rejected: number;
  dropped: number;
  expired: number;
  removed: number;
}

/** One segment table. */
interface Slot {
  /** Sequences held, dead or alive; 0 when empty. */
  first: number;
  last: number;
  /** Bytes appended since it was last emptied. */
  bytes: number;
}

/** What a write turn may change about a source; copied at the start of a turn, adopted on commit. */
interface SourceState {
  counters: Counters;
  consumed: number;
  slots: Slot[];
  current: number;
}

interface SourceStatements {
  /** Per slot, prepared on first use. */
  inserts: (PreparedStatement | undefined)[];
  /** [consumed, limit] → the oldest live records' seq and size. */
  live: PreparedStatement;
  /** [consumed, cutoff] → the oldest live record that arrived at or after cutoff. */
  firstArrivedSince: PreparedStatement;
  /** [consumed, below] → count and bytes of the live records below a sequence. */
  measureBelow: PreparedStatement;
  /** [consumed] → arrival of the oldest live record. */
  oldestArrival: PreparedStatement;
  /** [consumed, JSON sequences] → those of them that are live records of this source. */
  owned: PreparedStatement;
}

interface Source {
  id: number;
  name: string;
  stream: string;
  priority: number;
  /** null: no longer configured, kept until its backlog is gone. */
  onFull: OnFull | null;
  maxBytes: number;
  /** As of the last commit. */
  state: SourceState;
  /** Every live record of this source arrived at or after this time. */
  oldestArrivalBound: number;
  statements: SourceStatements;
}

interface PendingAppend {
  source: Source;
  records: BufferInput[];
  sizes: number[];
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

interface PendingRemove {
  sequences: number[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface NewRow {
  sequence: number;
  size: number;
  record: BufferInput;
  append: PendingAppend;
  index: number;
}

/** A source's live committed records, oldest first, as a turn walks them to evict. */
interface VictimCursor {
  rows: { seq: number; bytes: number }[];
  position: number;
  after: number;
  exhausted: boolean;
  /** Every committed record up to this sequence is evicted (0: none). */
  evictedThrough: number;
}

/** The working state of one write turn, adopted only if its transaction commits. */
class Turn {
  readonly states = new Map<Source, SourceState>();
  readonly rows = new Map<Source, NewRow[]>();
  /** How many of a source's new rows (a prefix) were evicted again within the turn. */
  readonly evictedRows = new Map<Source, number>();
  readonly cursors = new Map<Source, VictimCursor>();
  readonly arrivalBounds = new Map<Source, number>();
  total = 0;
  changed = false;

  constructor(
    sources: Source[],
    public nextSequence: number,
    readonly at: number,
  ) {
    for (const source of sources) {
      const { counters, consumed, slots, current } = source.state;
      this.states.set(source, { counters: { ...counters }, consumed, slots: slots.map((slot) => ({ ...slot })), current });
      this.total += counters.bytes;
    }
  }

  stateOf(source: Source): SourceState {
    return this.states.get(source)!;
  }

  rowsOf(source: Source): NewRow[] {
    let rows = this.rows.get(source);
    if (!rows) this.rows.set(source, (rows = []));
    return rows;
  }
}

/** One peek statement: a merge of the slots of up to SOURCES_PER_PEEK_STATEMENT sources. */
interface PeekStatement {
  sources: Source[];
  statement: PreparedStatement;
}

/** The agent's durable, bounded store-and-forward queue of readings. */
export class RecordBuffer {
  private readonly byName = new Map<string, Source>();
  private readonly byId = new Map<number, Source>();
  /** Priority classes, highest first, each with its merged peek statements. */
  private readonly peekClasses: PeekStatement[][];
  /** Priority classes, lowest first: the eviction order. */
  private readonly victimClasses: Source[][];
  private readonly peeked = new Map<number, Source>();
  private pendingAppends: PendingAppend[] = [];
  private pendingRemoves: PendingRemove[] = [];
  private flushQueued = false;
  private writeChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private dbClosed = false;

  private constructor(
    private readonly db: Database,
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly maxAgeMs: number | undefined,
    private readonly clock: () => number,
    private readonly sources: Source[],
    private nextSequence: number,
    /** The latest arrival time given out; arrivals never go backwards. */
    private lastAt: number,
    private readonly updateSources: PreparedStatement,
    /**
     * A random id stored when the file was created: sequences are unique only within one
     * epoch, so (epoch, sequence) names a record even if the file is deleted and recreated.
     */
    readonly producerEpoch: string,
  ) {
    for (const source of sources) {
      this.byId.set(source.id, source);
      if (source.onFull !== null) this.byName.set(source.name, source);
    }
    const priorities = [...new Set(sources.map((source) => source.priority))].sort((a, b) => b - a);
    const classes = priorities.map((priority) => sources.filter((source) => source.priority === priority));
    this.peekClasses = classes.map((members) => {
      const statements: PeekStatement[] = [];
      for (let start = 0; start < members.length; start += SOURCES_PER_PEEK_STATEMENT) {
        const group = members.slice(start, start + SOURCES_PER_PEEK_STATEMENT);
        const arms = group.flatMap((source, index) =>
          slotTables(source.id).map((table) => `SELECT ${source.id} AS src, seq, ts, key, data FROM ${table} WHERE seq > ?${index + 1}`),
        );
        // A compound SELECT ordered by seq is a merge of rowid range scans; LIMIT stops it early.
        statements.push({ sources: group, statement: db.prepare(`${arms.join(' UNION ALL ')} ORDER BY seq LIMIT ?${group.length + 1}`) });
      }
      return statements;
    });
    this.victimClasses = [...classes].reverse();
  }

  /** Opens (creating if needed) the buffer file and reconciles its sources with the configured ones. */
  static async open(options: RecordBufferOptions): Promise<RecordBuffer> {
    const config = validateOptions(options);
    await mkdir(dirname(config.path), { recursive: true });
    const db = await Database.open(config.path);
    try {
      return await RecordBuffer.load(db, config);
    } catch (error) {
      await db.close().catch(() => {});
      if (isBusy(error)) throw new BufferLockedError(config.path, { cause: error });
      throw error;
    }
  }

  private static async load(db: Database, config: ValidOptions): Promise<RecordBuffer> {
    // EXCLUSIVE before the first access: the lock is taken at once and kept, and WAL needs no
    // shared-memory file; page_size only takes effect on a new file. Debian builds SQLite with secure_delete on, which would zero (and so
    // write) every page a truncated slot frees.
    await db.exec(`PRAGMA busy_timeout=0; PRAGMA locking_mode=EXCLUSIVE; PRAGMA page_size=${PAGE_SIZE};`);
    const mode = await db.get<{ journal_mode: string }>('PRAGMA journal_mode=WAL');
    if (mode?.journal_mode !== 'wal') throw new Error(`${config.path}: could not switch to WAL mode (got ${mode?.journal_mode})`);
    await db.exec(`PRAGMA synchronous=${config.synchronous}; PRAGMA secure_delete=FAST; PRAGMA journal_size_limit=${WAL_SIZE_LIMIT}; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-${CACHE_KIB};`);

    await db.exec('BEGIN IMMEDIATE');
    const kept: { row: SourceRow; options: ValidSource | null; slots: Slot[] }[] = [];
    let nextSequence = 1;
    let lastAt = 0;
    let producerEpoch: string;
    try {
      const version = (await db.get<{ user_version: number }>('PRAGMA user_version'))!.user_version;
      if (version > SCHEMA_VERSION) throw new Error(`${config.path} was written by a newer agent (buffer format ${version}, this one knows ${SCHEMA_VERSION})`);
      await db.exec(`${SCHEMA} PRAGMA user_version=${SCHEMA_VERSION};`);
      const epoch = await db.get<{ value: string }>("SELECT value FROM meta WHERE key = 'producer_epoch'");
      producerEpoch = epoch?.value ?? randomBytes(8).toString('hex');
      if (!epoch) await db.run("INSERT INTO meta (key, value) VALUES ('producer_epoch', ?)", [producerEpoch]);
      const rows = await db.all<SourceRow>('SELECT * FROM sources ORDER BY id');
      const slotsById = new Map<number, Slot[]>();
      for (const row of rows) {
        nextSequence = Math.max(nextSequence, row.next_sequence);
        const slots: Slot[] = [];
        for (const table of slotTables(row.id)) {
          const range = await db.get<{ first: number | null; last: number | null; at: number | null }>(
            `SELECT min(seq) AS first, max(seq) AS last, (SELECT ts + lag FROM ${table} ORDER BY seq DESC LIMIT 1) AS at FROM ${table}`,
          );
          slots.push({ first: range?.first ?? 0, last: range?.last ?? 0, bytes: 0 });
          nextSequence = Math.max(nextSequence, (range?.last ?? 0) + 1);
          lastAt = Math.max(lastAt, range?.at ?? 0);
        }
        slotsById.set(row.id, slots);
      }

      const configured = new Set<number>();
      for (const options of config.sources) {
        const stored = rows.find((row) => row.name === options.name && row.stream === options.stream);
        let row: SourceRow;
        if (stored) {
          if (stored.priority !== options.priority) await db.run('UPDATE sources SET priority = ? WHERE id = ?', [options.priority, stored.id]);
          row = { ...stored, priority: options.priority };
        } else {
          const { lastID } = await db.run('INSERT INTO sources (name, stream, priority) VALUES (?, ?, ?)', [options.name, options.stream, options.priority]);
          for (const table of slotTables(lastID)) {
            await db.exec(`CREATE TABLE ${table} (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, lag INTEGER NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL)`);
          }
          row = emptySourceRow(lastID, options);
          slotsById.set(lastID, slotTables(lastID).map(() => ({ first: 0, last: 0, bytes: 0 })));
        }
        configured.add(row.id);
        kept.push({ row, options, slots: slotsById.get(row.id)! });
      }
      // A source that left the configuration (or changed stream) keeps draining what it had
      // buffered, to the stream it was buffered for; once empty it is forgotten.
      for (const row of rows) {
        if (configured.has(row.id)) continue;
        if (row.records > 0) {
          kept.push({ row, options: null, slots: slotsById.get(row.id)! });
        } else {
          await db.run('DELETE FROM sources WHERE id = ?', [row.id]);
          for (const table of slotTables(row.id)) await db.exec(`DROP TABLE IF EXISTS ${table}`);
        }
      }
      await db.run('UPDATE sources SET next_sequence = ?', [nextSequence]);
      await db.exec('COMMIT');
    } catch (error) {
      await db.exec('ROLLBACK').catch(() => {});
      throw error;
    }

    const sources = kept.map(({ row, options, slots }): Source => {
      // Appends continue in the slot holding the newest sequence. Its fill is unknown after a
      // restart; counting it as full lets it rotate as soon as the next slot is free.
      let current = 0;
      for (let index = 1; index < slots.length; index++) if (slots[index]!.last > slots[current]!.last) current = index;
      if (slots[current]!.last > 0) slots[current]!.bytes = Number.MAX_SAFE_INTEGER;
      const { records, bytes, accepted, rejected, dropped, expired, removed } = row;
      return {
        id: row.id,
        name: row.name,
        stream: row.stream,
        priority: row.priority,
        onFull: options?.onFull ?? null,
        maxBytes: Math.min(options?.maxBytes ?? config.maxBytes, config.maxBytes),
        state: { counters: { records, bytes, accepted, rejected, dropped, expired, removed }, consumed: row.consumed, slots, current },
        // Unknown until the first expiry check reads it.
        oldestArrivalBound: records > 0 ? -Infinity : Infinity,
        statements: sourceStatements(db, row.id),
      };
    });
    const updateSources = db.prepare(
      `UPDATE sources SET records = j.value ->> 1, bytes = j.value ->> 2, accepted = j.value ->> 3, rejected = j.value ->> 4,
         dropped = j.value ->> 5, expired = j.value ->> 6, removed = j.value ->> 7, consumed = j.value ->> 8, next_sequence = ?2
       FROM json_each(?1) AS j WHERE sources.id = j.value ->> 0`,
    );
    return new RecordBuffer(db, config.path, config.maxBytes, config.maxAgeMs, config.now, sources, nextSequence, lastAt, updateSources, producerEpoch);
  }

  /**
   * Buffers readings of one source. Resolves once the accepted ones are durable (see the
   * synchronous mode); records that do not fit are rejected or make room, by the source's onFull.
   */
  append(source: string, records: BufferInput[]): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new BufferClosedError());
    const target = this.byName.get(source);
    if (!target) return Promise.reject(new UnknownSourceError(source));
    let sizes: number[];
    try {
      sizes = validateRecords(records);
    } catch (error) {
      return Promise.reject(error);
    }
    const result: AppendResult = { accepted: 0, rejected: 0, dropped: 0, sequences: new Array<number | null>(records.length).fill(null) };
    if (records.length === 0) return Promise.resolve(result);
    return new Promise<AppendResult>((resolve, reject) => {
      this.pendingAppends.push({ source: target, records, sizes, result, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * The next records to upload: highest priority first, oldest first within a priority, at most
   * `limit` records and about `maxBytes` (at least one record). When a record does not fit, no
   * later record of the same source and partition key is returned either, so a batch never
   * overtakes within a key.
   */
  peek(limit = DEFAULT_PEEK_RECORDS, maxBytes = DEFAULT_PEEK_BYTES): Promise<BufferedRecord[]> {
    if (this.closed) return Promise.reject(new BufferClosedError());
    if (!Number.isSafeInteger(limit) || limit < 1) return Promise.reject(new RangeError('limit must be a positive integer'));
    if (typeof maxBytes !== 'number' || !(maxBytes > 0)) return Promise.reject(new RangeError('maxBytes must be a positive number'));
    return this.serially(async () => {
      if (this.expiryDue()) await this.flush();
      const batch: BufferedRecord[] = [];
      const origins: Source[] = [];
      let bytes = 0;
      const blocked = new Set<string>();
      for (const statements of this.peekClasses) {
        if (batch.length >= limit) break;
        const rows: PeekRow[] = [];
        for (const { sources, statement } of statements) {
          rows.push(...(await statement.all<PeekRow>([...sources.map((source) => source.state.consumed), limit - batch.length])));
        }
        if (statements.length > 1) rows.sort((a, b) => a.seq - b.seq);
        for (const row of rows) {
          if (batch.length >= limit) break;
          const keyId = `${row.src}:${row.key}`;
          if (blocked.has(keyId)) continue;
          const size = row.data.length + Buffer.byteLength(row.key);
          if (batch.length > 0 && bytes + size > maxBytes) {
            blocked.add(keyId);
            continue;
          }
          const source = this.byId.get(row.src)!;
          bytes += size;
          origins.push(source);
          batch.push({ sequence: row.seq, source: source.name, stream: source.stream, partitionKey: row.key, data: row.data, timestamp: row.ts });
        }
      }
      if (this.peeked.size + batch.length > PEEKED_LIMIT) this.peeked.clear();
      for (let index = 0; index < batch.length; index++) this.peeked.set(batch[index]!.sequence, origins[index]!);
      return batch;
    });
  }

  /** Deletes records the server acknowledged. Resolves once the deletion is durable. */
  remove(sequences: number[]): Promise<void> {
    if (this.closed) return Promise.reject(new BufferClosedError());
    if (!Array.isArray(sequences)) return Promise.reject(new TypeError('sequences must be an array of sequence numbers'));
    for (let index = 0; index < sequences.length; index++) {
      const sequence = sequences[index];
      if (!Number.isSafeInteger(sequence) || sequence! < 1) return Promise.reject(new TypeError(`sequences[${index}] must be a positive integer`));
    }
    if (sequences.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pendingRemoves.push({ sequences, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Backlog and counters per source, and the size of the files on disk. */
  stats(): Promise<BufferStats> {
    if (this.closed) return Promise.reject(new BufferClosedError());
    return this.serially(async () => {
      const now = Math.max(this.lastAt, this.clock());
      const sources: BufferSourceStats[] = [];
      for (const source of this.sources) {
        const { counters, consumed } = source.state;
        let oldestAgeMs: number | null = null;
        if (counters.records > 0) {
          const [oldest] = await source.statements.oldestArrival.all<{ at: number }>([consumed]);
          if (oldest) oldestAgeMs = Math.max(0, now - oldest.at);
        }
        sources.push({
          name: source.name,
          stream: source.stream,
          priority: source.priority,
          configured: source.onFull !== null,
          backlogRecords: counters.records,
          backlogBytes: counters.bytes,
          oldestAgeMs,
          accepted: counters.accepted,
          rejected: counters.rejected,
          dropped: counters.dropped,
          expired: counters.expired,
          removed: counters.removed,
        });
      }
      return {
        sources,
        backlogRecords: sources.reduce((sum, source) => sum + source.backlogRecords, 0),
        backlogBytes: sources.reduce((sum, source) => sum + source.backlogBytes, 0),
        maxBytes: this.maxBytes,
        fileBytes: (await fileSize(this.path)) + (await fileSize(`${this.path}-wal`)),
      };
    });
  }

  /** Commits what is pending, then closes the database (which checkpoints the WAL into it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serially(async () => {
      while (this.pendingAppends.length > 0 || this.pendingRemoves.length > 0) await this.flush();
      // Turns queued behind this one find the database closed and do nothing.
      this.dbClosed = true;
      const statements: PreparedStatement[] = [this.updateSources];
      for (const source of this.sources) {
        const { inserts, ...shared } = source.statements;
        statements.push(...Object.values(shared), ...inserts.filter((statement) => statement !== undefined));
      }
      for (const group of this.peekClasses) statements.push(...group.map((entry) => entry.statement));
      for (const statement of statements) await statement.finalize();
      await this.db.close();
    });
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    void this.serially(() => this.flush()).catch(() => {});
  }

  private expiryDue(): boolean {
    if (this.maxAgeMs === undefined) return false;
    const cutoff = Math.max(this.lastAt, this.clock()) - this.maxAgeMs;
    return this.sources.some((source) => source.state.counters.records > 0 && source.oldestArrivalBound < cutoff);
  }

  /** One write turn: removes, expiry, then appends in call order, in one transaction. */
  private async flush(): Promise<void> {
    this.flushQueued = false;
    if (this.dbClosed) return;
    const appends = this.takeAppends();
    const removes = this.pendingRemoves;
    this.pendingRemoves = [];
    if (this.pendingAppends.length > 0) this.scheduleFlush();
    const expiryDue = this.expiryDue();
    if (appends.length === 0 && removes.length === 0 && !expiryDue) return;

    const at = Math.max(this.lastAt, this.clock());
    const turn = new Turn(this.sources, this.nextSequence, at);
    try {
      await this.db.exec('BEGIN IMMEDIATE');
      if (removes.length > 0) await this.applyRemoves(turn, removes);
      if (expiryDue) await this.applyExpiry(turn, at - this.maxAgeMs!);
      for (const append of appends) await this.admit(turn, append);
      for (const [source, cursor] of turn.cursors) {
        if (cursor.evictedThrough > 0) turn.stateOf(source).consumed = cursor.evictedThrough;
      }
      await this.truncateConsumedSlots(turn);
      await this.writeRows(turn);
      if (turn.changed) {
        const states = this.sources.map((source) => {
          const { counters: c, consumed } = turn.stateOf(source);
          return [source.id, c.records, c.bytes, c.accepted, c.rejected, c.dropped, c.expired, c.removed, consumed];
        });
        await this.updateSources.run([JSON.stringify(states), turn.nextSequence]);
        await this.db.exec('COMMIT');
      } else {
        // Only rejections: nothing to make durable (their counters ride along with the next commit).
        await this.db.exec('ROLLBACK');
      }
    } catch (error) {
      await this.db.exec('ROLLBACK').catch(() => {});
      for (const append of appends) append.reject(error);
      for (const remove of removes) remove.reject(error);
      return;
    }

    for (const source of this.sources) {
      source.state = turn.stateOf(source);
      const bound = turn.arrivalBounds.get(source);
      if (bound !== undefined) source.oldestArrivalBound = bound;
      if (source.state.counters.records === 0) source.oldestArrivalBound = Infinity;
      else if (source.oldestArrivalBound === Infinity) source.oldestArrivalBound = at;
    }
    this.nextSequence = turn.nextSequence;
    this.lastAt = at;
    for (const append of appends) append.resolve(append.result);
    for (const remove of removes) remove.resolve();
  }

  private takeAppends(): PendingAppend[] {
    let count = 0;
    let taken = 0;
    while (taken < this.pendingAppends.length && (taken === 0 || count + this.pendingAppends[taken]!.records.length <= RECORDS_PER_TURN)) {
      count += this.pendingAppends[taken]!.records.length;
      taken++;
    }
    const appends = this.pendingAppends.slice(0, taken);
    this.pendingAppends = this.pendingAppends.slice(taken);
    return appends;
  }

  /**
   * Acknowledged records. Those that are the oldest of their source (the usual case: a batch
   * uploaded whole) only move the watermark; the others are deleted row by row.
   */
  private async applyRemoves(turn: Turn, removes: PendingRemove[]): Promise<void> {
    const bySource = new Map<Source, Set<number>>();
    const unknown: number[] = [];
    const add = (source: Source, sequence: number) => {
      let set = bySource.get(source);
      if (!set) bySource.set(source, (set = new Set()));
      set.add(sequence);
    };
    for (const { sequences } of removes) {
      for (const sequence of sequences) {
        const source = this.peeked.get(sequence);
        if (source) {
          this.peeked.delete(sequence);
          add(source, sequence);
        } else {
          unknown.push(sequence);
        }
      }
    }
    if (unknown.length > 0) {
      const json = JSON.stringify(unknown);
      for (const source of this.sources) {
        const state = turn.stateOf(source);
        if (state.counters.records === 0) continue;
        for (const row of await source.statements.owned.all<{ seq: number }>([state.consumed, json])) add(source, row.seq);
      }
    }

    for (const [source, set] of bySource) {
      const state = turn.stateOf(source);
      const { counters } = state;
      const sequences = [...set].filter((sequence) => sequence > state.consumed).sort((a, b) => a - b);
      if (sequences.length === 0 || counters.records === 0) continue;
      const live = await source.statements.live.all<{ seq: number; bytes: number }>([state.consumed, sequences.length]);
      let matched = 0;
      let bytes = 0;
      while (matched < live.length && live[matched]!.seq === sequences[matched]) bytes += live[matched++]!.bytes;
      if (matched > 0) {
        state.consumed = sequences[matched - 1]!;
        counters.records -= matched;
        counters.bytes -= bytes;
        counters.removed += matched;
        turn.total -= bytes;
        turn.changed = true;
      }
      for (const [slot, inSlot] of groupBySlot(state.slots, sequences.slice(matched))) {
        const rows = await this.db.all<{ bytes: number }>(
          `DELETE FROM ${slotTable(source.id, slot)} WHERE seq IN (SELECT value FROM json_each(?)) RETURNING ${RECORD_BYTES_SQL} AS bytes`,
          [JSON.stringify(inSlot)],
        );
        let deleted = 0;
        for (const row of rows) deleted += row.bytes;
        counters.records -= rows.length;
        counters.bytes -= deleted;
        counters.removed += rows.length;
        turn.total -= deleted;
        turn.changed ||= rows.length > 0;
      }
    }
  }

  /** Moves each source's watermark past its records that arrived before the cutoff. */
  private async applyExpiry(turn: Turn, cutoff: number): Promise<void> {
    for (const source of this.sources) {
      const state = turn.stateOf(source);
      const { counters } = state;
      if (counters.records === 0 || source.oldestArrivalBound >= cutoff) continue;
      const [first] = await source.statements.firstArrivedSince.all<{ seq: number; at: number }>([state.consumed, cutoff]);
      // The oldest record left: nothing more can expire before it does.
      turn.arrivalBounds.set(source, first?.at ?? Infinity);
      const below = first?.seq ?? turn.nextSequence;
      const [expired] = await source.statements.measureBelow.all<{ n: number; bytes: number }>([state.consumed, below]);
      state.consumed = Math.max(state.consumed, below - 1);
      if (!expired || expired.n === 0) continue;
      counters.records -= expired.n;
      counters.bytes -= expired.bytes;
      counters.expired += expired.n;
      turn.total -= expired.bytes;
      turn.changed = true;
    }
  }

  /** Decides, record by record, whether each fits, evicting older records for drop-oldest sources. */
  private async admit(turn: Turn, append: PendingAppend): Promise<void> {
    const { source, records, sizes, result } = append;
    const { counters } = turn.stateOf(source);
    for (let index = 0; index < records.length; index++) {
      const size = sizes[index]!;
      if (size > source.maxBytes) {
        counters.rejected++;
        result.rejected++;
        continue;
      }
      let ownNeed = counters.bytes + size - source.maxBytes;
      let need = turn.total + size - this.maxBytes;
      if (ownNeed > 0 || need > 0) {
        // A source evicts only records of its own priority or lower.
        if (source.onFull === 'reject-new' || (need > 0 && this.evictableBytes(turn, source.priority) < need)) {
          counters.rejected++;
          result.rejected++;
          continue;
        }
        while (ownNeed > 0) {
          const freed = await this.evictOldest(turn, [source], append);
          if (freed === 0) throw new Error('buffer accounting broken: a backlog without records');
          ownNeed -= freed;
          need -= freed;
        }
        for (let classIndex = 0; need > 0; ) {
          const members = this.victimClasses[classIndex];
          if (!members || members[0]!.priority > source.priority) throw new Error('buffer accounting broken: no record left to evict');
          const freed = await this.evictOldest(turn, members, append);
          if (freed === 0) classIndex++;
          need -= freed;
        }
      }
      const sequence = turn.nextSequence++;
      turn.rowsOf(source).push({ sequence, size, record: records[index]!, append, index });
      counters.records++;
      counters.bytes += size;
      counters.accepted++;
      turn.total += size;
      turn.changed = true;
      result.accepted++;
      result.sequences[index] = sequence;
    }
  }

  private evictableBytes(turn: Turn, priority: number): number {
    let bytes = 0;
    for (const source of this.sources) if (source.priority <= priority) bytes += turn.stateOf(source).counters.bytes;
    return bytes;
  }

  /** Evicts the oldest record among `members` (one priority); returns its size, 0 if they hold none. */
  private async evictOldest(turn: Turn, members: Source[], cause: PendingAppend): Promise<number> {
    let best: { source: Source; seq: number; bytes: number; row: NewRow | undefined } | undefined;
    for (const source of members) {
      if (turn.stateOf(source).counters.records === 0) continue;
      const candidate = await this.oldestOf(turn, source);
      if (!candidate) throw new Error('buffer accounting broken: a backlog without records');
      if (!best || candidate.seq < best.seq) best = { source, ...candidate };
    }
    if (!best) return 0;
    if (best.row) {
      turn.evictedRows.set(best.source, (turn.evictedRows.get(best.source) ?? 0) + 1);
      best.row.append.result.sequences[best.row.index] = null;
    } else {
      const cursor = turn.cursors.get(best.source)!;
      cursor.position++;
      cursor.evictedThrough = best.seq;
    }
    const { counters } = turn.stateOf(best.source);
    counters.records--;
    counters.bytes -= best.bytes;
    counters.dropped++;
    turn.total -= best.bytes;
    turn.changed = true;
    cause.result.dropped++;
    return best.bytes;
  }

  /** The oldest record of a source not yet evicted in this turn: committed ones, then the turn's own. */
  private async oldestOf(turn: Turn, source: Source): Promise<{ seq: number; bytes: number; row: NewRow | undefined } | undefined> {
    let cursor = turn.cursors.get(source);
    if (!cursor) {
      cursor = { rows: [], position: 0, after: turn.stateOf(source).consumed, exhausted: false, evictedThrough: 0 };
      turn.cursors.set(source, cursor);
    }
    while (cursor.position >= cursor.rows.length && !cursor.exhausted) {
      cursor.rows = await source.statements.live.all<{ seq: number; bytes: number }>([cursor.after, VICTIM_PAGE]);
      cursor.position = 0;
      cursor.exhausted = cursor.rows.length < VICTIM_PAGE;
      if (cursor.rows.length > 0) cursor.after = cursor.rows[cursor.rows.length - 1]!.seq;
    }
    const committed = cursor.rows[cursor.position];
    if (committed) return { seq: committed.seq, bytes: committed.bytes, row: undefined };
    const row = turn.rows.get(source)?.[turn.evictedRows.get(source) ?? 0];
    return row && { seq: row.sequence, bytes: row.size, row };
  }

  /** Empties the slots whose records are all consumed (the current one only once it is big enough). */
  private async truncateConsumedSlots(turn: Turn): Promise<void> {
    for (const source of this.sources) {
      const state = turn.stateOf(source);
      const segment = this.segmentBytes(source, state);
      for (let index = 0; index < state.slots.length; index++) {
        const slot = state.slots[index]!;
        if (slot.last === 0 || slot.last > state.consumed || (index === state.current && slot.bytes < segment)) continue;
        await this.db.run(`DELETE FROM ${slotTable(source.id, index)}`);
        state.slots[index] = { first: 0, last: 0, bytes: 0 };
        turn.changed = true;
      }
    }
  }

  private async writeRows(turn: Turn): Promise<void> {
    for (const [source, all] of turn.rows) {
      const rows = all.slice(turn.evictedRows.get(source) ?? 0);
      if (rows.length === 0) continue;
      const state = turn.stateOf(source);
      const next = (state.current + 1) % SLOTS;
      if (state.slots[state.current]!.bytes >= this.segmentBytes(source, state) && state.slots[next]!.last === 0) state.current = next;
      const slot = state.slots[state.current]!;
      // [seq, timestamp, partition key, offset (1-based) and length of the data in the blob]
      const parts: string[] = new Array(rows.length);
      const payloads: Uint8Array[] = new Array(rows.length);
      let offset = 1;
      for (let index = 0; index < rows.length; index++) {
        const { sequence, record, size } = rows[index]!;
        parts[index] = `[${sequence},${record.timestamp},${JSON.stringify(record.partitionKey)},${offset},${record.data.length}]`;
        payloads[index] = record.data;
        offset += record.data.length;
        slot.bytes += size;
      }
      if (slot.first === 0) slot.first = rows[0]!.sequence;
      slot.last = rows[rows.length - 1]!.sequence;
      await this.insertInto(source, state.current).run([`[${parts.join(',')}]`, turn.at, Buffer.concat(payloads)]);
    }
  }

  /** Rotation size of a source's slots: 2/SLOTS of its backlog, so SLOTS/2 slots hold it. */
  private segmentBytes(source: Source, state: SourceState): number {
    const floor = Math.max(SMALLEST_SEGMENT_BYTES, Math.min(MIN_SEGMENT_BYTES, Math.floor(source.maxBytes / SLOTS)));
    return Math.max(floor, Math.ceil((2 * state.counters.bytes) / SLOTS));
  }

  private insertInto(source: Source, slot: number): PreparedStatement {
    const { inserts } = source.statements;
    let statement = inserts[slot];
    if (!statement) {
      statement = this.db.prepare(
        `INSERT INTO ${slotTable(source.id, slot)} (seq, ts, lag, key, data)
         SELECT value ->> 0, value ->> 1, ?2 - (value ->> 1), value ->> 2, coalesce(substr(?3, value ->> 3, value ->> 4), x'') FROM json_each(?1)`,
      );
      inserts[slot] = statement;
    }
    return statement;
  }

  /** Runs work one piece at a time, in call order, on the one connection. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.writeChain.then(work);
    this.writeChain = result.catch(() => {});
    return result;
  }
}

interface PeekRow {
  src: number;
  seq: number;
  ts: number;
  key: string;
  data: Buffer;
}

/** A `sources` row: the source's counters as columns, beside its identity and marks. */
interface SourceRow extends Counters {
  id: number;
  name: string;
  stream: string;
  priority: number;
  consumed: number;
  next_sequence: number;
}

function emptySourceRow(id: number, options: ValidSource): SourceRow {
  const { name, stream, priority } = options;
  return { id, name, stream, priority, records: 0, bytes: 0, accepted: 0, rejected: 0, dropped: 0, expired: 0, removed: 0, consumed: 0, next_sequence: 1 };
}

const RECORD_BYTES_SQL = 'length(data) + length(CAST(key AS BLOB))';

function slotTable(sourceId: number, slot: number): string {
  return `records_${sourceId}_${slot}`;
}

function slotTables(sourceId: number): string[] {
  return Array.from({ length: SLOTS }, (_, slot) => slotTable(sourceId, slot));
}

function sourceStatements(db: Database, id: number): SourceStatements {
  // Each statement merges the source's slots; the slots hold disjoint sequence ranges.
  const union = (columns: string, where: string) => slotTables(id).map((table) => `SELECT ${columns} FROM ${table} WHERE seq > ?1${where}`).join(' UNION ALL ');
  return {
    inserts: new Array(SLOTS).fill(undefined),
    live: db.prepare(`${union(`seq, ${RECORD_BYTES_SQL} AS bytes`, '')} ORDER BY seq LIMIT ?2`),
    firstArrivedSince: db.prepare(`${union('seq, ts + lag AS at', ' AND ts + lag >= ?2')} ORDER BY seq LIMIT 1`),
    measureBelow: db.prepare(`SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM (${union(`${RECORD_BYTES_SQL} AS bytes`, ' AND seq < ?2')})`),
    oldestArrival: db.prepare(`${union('seq, ts + lag AS at', '')} ORDER BY seq LIMIT 1`),
    owned: db.prepare(union('seq', ' AND seq IN (SELECT value FROM json_each(?2))')),
  };
}

/** Splits sorted sequences by the slot whose range holds them (dropping those no slot holds). */
function groupBySlot(slots: Slot[], sequences: number[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (const sequence of sequences) {
    const slot = slots.findIndex((candidate) => candidate.first > 0 && candidate.first <= sequence && sequence <= candidate.last);
    if (slot < 0) continue;
    let group = groups.get(slot);
    if (!group) groups.set(slot, (group = []));
    group.push(sequence);
  }
  return groups;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

interface ValidSource {
  name: string;
  stream: string;
  priority: number;
  onFull: OnFull;
  maxBytes: number | undefined;
}

interface ValidOptions {
  path: string;
  maxBytes: number;
  maxAgeMs: number | undefined;
  synchronous: SynchronousMode;
  sources: ValidSource[];
  now: () => number;
}

function validateOptions(options: RecordBufferOptions): ValidOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('buffer options must be an object');
  const { path, maxBytes, maxAgeMs, synchronous = 'FULL', sources, now = Date.now } = options;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string (the buffer file)');
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError('maxBytes must be a positive integer');
  if (maxAgeMs !== undefined && !(typeof maxAgeMs === 'number' && maxAgeMs > 0)) throw new RangeError('maxAgeMs, when provided, must be a positive number of milliseconds');
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new RangeError("synchronous, when provided, must be 'FULL' or 'NORMAL'");
  if (typeof now !== 'function') throw new TypeError('now, when provided, must be a function');
  if (!Array.isArray(sources) || sources.length === 0) throw new TypeError('sources must be a non-empty array');
  const names = new Set<string>();
  const valid = sources.map((source, index): ValidSource => {
    const field = `sources[${index}]`;
    if (typeof source !== 'object' || source === null) throw new TypeError(`${field} must be an object`);
    if (typeof source.name !== 'string' || source.name.length === 0) throw new TypeError(`${field}.name must be a non-empty string`);
    if (names.has(source.name)) throw new RangeError(`${field}.name ${JSON.stringify(source.name)} is used by another source`);
    names.add(source.name);
    if (typeof source.stream !== 'string' || source.stream.length === 0) throw new TypeError(`${field}.stream must be a non-empty string`);
    if (!Number.isSafeInteger(source.priority)) throw new TypeError(`${field}.priority must be an integer`);
    if (source.onFull !== 'reject-new' && source.onFull !== 'drop-oldest') throw new RangeError(`${field}.onFull must be 'reject-new' or 'drop-oldest'`);
    if (source.maxBytes !== undefined && (!Number.isSafeInteger(source.maxBytes) || source.maxBytes < 1)) {
      throw new RangeError(`${field}.maxBytes, when provided, must be a positive integer`);
    }
    return { name: source.name, stream: source.stream, priority: source.priority, onFull: source.onFull, maxBytes: source.maxBytes };
  });
  return { path, maxBytes, maxAgeMs, synchronous, sources: valid, now };
}

// A lone surrogate (not well-formed UTF-16) or NUL.
const BAD_KEY_CHARACTER = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\u0000/;

/** Checks an append's records; returns each one's size (data + UTF-8 partition key). */
function validateRecords(records: BufferInput[]): number[] {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  const sizes = new Array<number>(records.length);
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    const field = `records[${index}]`;
    if (typeof record !== 'object' || record === null) throw new TypeError(`${field} must be an object`);
    const { partitionKey, data, timestamp } = record;
    // The key travels through JSON into SQLite and is measured there too: it must be valid
    // UTF-16 (so JS and SQLite count the same UTF-8 bytes) and free of NUL.
    if (typeof partitionKey !== 'string' || partitionKey.length === 0 || partitionKey.length > MAX_PARTITION_KEY_CHARS) {
      throw new TypeError(`${field}.partitionKey must be a string of 1 to ${MAX_PARTITION_KEY_CHARS} characters`);
    }
    if (BAD_KEY_CHARACTER.test(partitionKey)) throw new TypeError(`${field}.partitionKey must be well-formed Unicode without NUL characters`);
    if (!(data instanceof Uint8Array)) throw new TypeError(`${field}.data must be a Buffer or Uint8Array`);
    if (!Number.isSafeInteger(timestamp)) throw new TypeError(`${field}.timestamp must be an integer number of milliseconds since the epoch`);
    const size = data.length + Buffer.byteLength(partitionKey);
    if (size > MAX_RECORD_BYTES) throw new RangeError(`${field} is ${size} bytes (data + partition key); the limit is ${MAX_RECORD_BYTES}`);
    sizes[index] = size;
  }
  return sizes;
}
