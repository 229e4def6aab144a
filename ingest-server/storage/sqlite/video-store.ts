import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Database } from '../../../lib/sqlite.js';
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

// Fragment bytes (the Cluster, then the producer's Tags) are appended to one segment file per
// stream per hour of server time, so retention deletes whole files; SQLite (WAL,
// synchronous=FULL) holds the index. An append is durable once its file is fsynced and then its
// index row committed: a file tail without an index row (a crash between the two) is cut off
// when the store opens. Each stream writes and fsyncs its own file, independently of the others
// (a slow fsync holds up only its stream); the index rows of all streams are group-committed,
// one SQLite transaction for whatever arrived during the previous one.
//
// Fragment numbers come from one counter per store, never reused (its high-water mark is kept in
// `meta`), written as 20-digit zero-padded decimals so that text order is number order.
const SEGMENT_MS = 3_600_000;
const NUMBER_DIGITS = 20;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (key INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, uid TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS headers (id INTEGER PRIMARY KEY AUTOINCREMENT, stream_key INTEGER NOT NULL, bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS fragments (
  number INTEGER PRIMARY KEY, stream_key INTEGER NOT NULL, producer_ms INTEGER NOT NULL, server_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL, header_id INTEGER NOT NULL, segment INTEGER NOT NULL, offset INTEGER NOT NULL,
  cluster_bytes INTEGER NOT NULL, tags_bytes INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fragments_stream ON fragments (stream_key, number);
CREATE INDEX IF NOT EXISTS fragments_producer ON fragments (stream_key, producer_ms);
CREATE INDEX IF NOT EXISTS fragments_server ON fragments (stream_key, server_ms);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

const INSERT_FRAGMENTS = `INSERT INTO fragments (number, stream_key, producer_ms, server_ms, duration_ms, header_id, segment, offset, cluster_bytes, tags_bytes)
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9 FROM json_each(?)`;
const FRAGMENT_COLUMNS = 'number, producer_ms, server_ms, duration_ms, cluster_bytes, header_id, segment, offset, tags_bytes';

interface FragmentRow {
  number: number;
  producer_ms: number;
  server_ms: number;
  duration_ms: number;
  cluster_bytes: number;
  header_id: number;
  segment: number;
  offset: number;
  tags_bytes: number;
}

interface StreamSlot {
  key: number;
  state: VideoStreamState;
  /** The header id and bytes of the latest header, to store a repeated header once. */
  lastHeader?: { id: number; bytes: Uint8Array };
  /** The file appends go to now. */
  segment?: Segment;
  /** This stream's file work (appends, trims, its deletion), one after another. */
  chain: Promise<unknown>;
  deleted: boolean;
}

/** An open segment file and where the next append goes. */
interface Segment {
  number: number;
  handle: FileHandle;
  size: number;
}

/** A fragment whose bytes are durable in its segment file, waiting for its index row. */
interface PendingRow {
  slot: StreamSlot;
  fragment: NewFragment;
  segment: number;
  offset: number;
  resolve: (info: FragmentInfo) => void;
  reject: (error: unknown) => void;
}

/** The embedded Kinesis Video store: SQLite index plus per-stream hourly segment files under <dataDir>/video. */
export class SqliteVideoStore implements VideoStore {
  private readonly dir: string;
  private db!: Database;
  private readonly streams = new Map<string, StreamSlot>();
  private readonly byUid = new Map<string, StreamSlot>();
  private readonly durable = new EventEmitter();
  private nextNumber = 1;
  private pending: PendingRow[] = [];
  private commitQueued = false;
  private writeChain: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'video');
    this.durable.setMaxListeners(0);
  }

  async open(): Promise<void> {
    await mkdir(join(this.dir, 'segments'), { recursive: true });
    this.db = await Database.open(join(this.dir, 'index.db'));
    await this.db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;');
    await this.db.exec(SCHEMA);
    for (const row of await this.db.all<{ key: number; doc: string }>('SELECT key, doc FROM streams')) {
      const state = JSON.parse(row.doc) as VideoStreamState;
      this.remember(newSlot(row.key, state));
    }
    const latestHeaders = await this.db.all<{ stream_key: number; id: number; bytes: Buffer }>(
      'SELECT stream_key, id, bytes FROM headers WHERE id IN (SELECT MAX(id) FROM headers GROUP BY stream_key)',
    );
    for (const row of latestHeaders) {
      const slot = [...this.streams.values()].find((candidate) => candidate.key === row.stream_key);
      if (slot) slot.lastHeader = { id: row.id, bytes: new Uint8Array(row.bytes) };
    }
    const counter = await this.db.get<{ high: number | null }>(
      "SELECT MAX(IFNULL((SELECT value FROM meta WHERE name = 'last_number'), 0), IFNULL((SELECT MAX(number) FROM fragments), 0)) AS high",
    );
    this.nextNumber = (counter?.high ?? 0) + 1;
    await this.recoverSegments();
  }

  async close(): Promise<void> {
    const slots = [...this.streams.values()];
    await Promise.all(slots.map((slot) => slot.chain));
    await this.serially(async () => {});
    for (const slot of slots) await closeSegment(slot);
    await this.db.close();
  }

  async listStreams(): Promise<VideoStreamState[]> {
    return [...this.streams.values()].map((slot) => slot.state);
  }

  async getStream(name: string): Promise<VideoStreamState | undefined> {
    return this.streams.get(name)?.state;
  }

  createStream(state: VideoStreamState): Promise<void> {
    return this.serially(async () => {
      if (this.streams.has(state.name)) throw new VideoStreamExistsError(state.name);
      const { lastID } = await this.db.run('INSERT INTO streams (name, uid, doc) VALUES (?, ?, ?)', [state.name, state.uid, JSON.stringify(state)]);
      this.remember(newSlot(lastID, state));
    });
  }

  updateStream(state: VideoStreamState, expectedVersion: string): Promise<void> {
    return this.serially(async () => {
      const slot = this.streams.get(state.name);
      if (!slot || slot.state.uid !== state.uid || slot.state.version !== expectedVersion) throw new StaleVideoStreamError(state.name);
      await this.db.run('UPDATE streams SET doc = ? WHERE key = ?', [JSON.stringify(state), slot.key]);
      slot.state = state;
    });
  }

  async deleteStream(name: string, uid: string): Promise<void> {
    const slot = this.streams.get(name);
    if (!slot || slot.state.uid !== uid) return;
    // After this stream's writes in flight, and (through serially) after their index rows.
    await this.onSlot(slot, () => this.serially(() => this.removeStream(slot)));
  }

  private async removeStream(slot: StreamSlot): Promise<void> {
    if (slot.deleted) return;
    await this.db.exec('BEGIN IMMEDIATE');
    try {
      await this.db.run('DELETE FROM fragments WHERE stream_key = ?', [slot.key]);
      await this.db.run('DELETE FROM headers WHERE stream_key = ?', [slot.key]);
      await this.db.run('DELETE FROM streams WHERE key = ?', [slot.key]);
      await this.db.exec('COMMIT');
    } catch (error) {
      await this.db.exec('ROLLBACK');
      throw error;
    }
    slot.deleted = true;
    this.streams.delete(slot.state.name);
    this.byUid.delete(slot.state.uid);
    await closeSegment(slot);
    await rm(join(this.dir, 'segments', String(slot.key)), { recursive: true, force: true });
  }

  async appendFragment(streamUid: string, fragment: NewFragment): Promise<FragmentInfo> {
    const slot = this.byUid.get(streamUid);
    if (!slot) throw new StaleVideoStreamError(`no stream with uid ${streamUid}`);
    const { indexed } = await this.onSlot(slot, async () => {
      if (slot.deleted) throw new StaleVideoStreamError(`stream ${slot.state.name} was deleted`);
      const segmentNumber = Math.floor(fragment.serverTimestampMs / SEGMENT_MS);
      const segment = await this.segmentFor(slot, segmentNumber);
      const offset = segment.size;
      await segment.handle.writev([fragment.cluster, fragment.producerTags], offset);
      await segment.handle.datasync();
      // Only now: bytes of a failed write are overwritten by the next append.
      segment.size = offset + fragment.cluster.byteLength + fragment.producerTags.byteLength;
      // Queued while this stream's chain is held, so rows queue in append order and a trim or
      // delete of the stream comes after this row's commit. Wrapped: the chain does not wait for it.
      return { indexed: this.queueRow(slot, fragment, segmentNumber, offset) };
    });
    return indexed;
  }

  async listFragments(streamUid: string, range: { clock: FragmentClock; startMs: number; endMs: number }, limit: number, after?: string): Promise<FragmentInfo[]> {
    const key = this.keyOf(streamUid);
    if (key === undefined) return [];
    const column = range.clock === 'producer' ? 'producer_ms' : 'server_ms';
    const rows = await this.db.all<FragmentRow>(
      `SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE stream_key = ? AND ${column} BETWEEN ? AND ? AND number > ? ORDER BY number LIMIT ?`,
      [key, range.startMs, range.endMs, after === undefined ? 0 : Number(after), limit],
    );
    return rows.map(infoOf);
  }

  async fragmentsAfter(streamUid: string, after: string | undefined, limit: number): Promise<FragmentInfo[]> {
    const key = this.keyOf(streamUid);
    if (key === undefined) return [];
    const rows = await this.db.all<FragmentRow>(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE stream_key = ? AND number > ? ORDER BY number LIMIT ?`, [
      key,
      after === undefined ? 0 : Number(after),
      limit,
    ]);
    return rows.map(infoOf);
  }

  async firstFragmentAt(streamUid: string, clock: FragmentClock, atMs: number): Promise<FragmentInfo | undefined> {
    const key = this.keyOf(streamUid);
    if (key === undefined) return undefined;
    const column = clock === 'producer' ? 'producer_ms' : 'server_ms';
    const row = await this.db.get<FragmentRow>(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE stream_key = ? AND ${column} >= ? ORDER BY number LIMIT 1`, [key, atMs]);
    return row && infoOf(row);
  }

  async lastFragment(streamUid: string): Promise<FragmentInfo | undefined> {
    const key = this.keyOf(streamUid);
    if (key === undefined) return undefined;
    const row = await this.db.get<FragmentRow>(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE stream_key = ? ORDER BY number DESC LIMIT 1`, [key]);
    return row && infoOf(row);
  }

  async readFragments(streamUid: string, numbers: string[]): Promise<StoredFragment[]> {
    const key = this.keyOf(streamUid);
    if (key === undefined || numbers.length === 0) return [];
    const rows = await this.db.all<FragmentRow & { header: Uint8Array }>(
      `SELECT ${FRAGMENT_COLUMNS}, headers.bytes AS header FROM json_each(?) AS wanted
       JOIN fragments ON fragments.number = wanted.value AND fragments.stream_key = ?
       JOIN headers ON headers.id = fragments.header_id ORDER BY wanted.key`,
      [JSON.stringify(numbers.filter((number) => /^\d+$/.test(number)).map(Number)), key],
    );
    const fragments = await Promise.all(
      rows.map(async (row): Promise<StoredFragment | undefined> => {
        const bytes = await this.readSegment(key, row.segment, row.offset, row.cluster_bytes + row.tags_bytes);
        // Trimmed (or its stream deleted) since the index was read.
        if (!bytes) return undefined;
        return {
          ...infoOf(row),
          header: new Uint8Array(row.header),
          cluster: bytes.subarray(0, row.cluster_bytes),
          producerTags: bytes.subarray(row.cluster_bytes),
        };
      }),
    );
    return fragments.filter((fragment) => fragment !== undefined);
  }

  async trim(streamUid: string, beforeMs: number): Promise<void> {
    const slot = this.byUid.get(streamUid);
    if (!slot) return;
    await this.onSlot(slot, () => this.serially(() => this.trimSlot(slot, beforeMs)));
  }

  private async trimSlot(slot: StreamSlot, beforeMs: number): Promise<void> {
    if (slot.deleted) return;
    const key = slot.key;
    await this.db.run('DELETE FROM fragments WHERE stream_key = ? AND server_ms < ?', [key, beforeMs]);
    // Headers no fragment uses any more, except the latest, which the next fragment may repeat.
    await this.db.run('DELETE FROM headers WHERE stream_key = ? AND id != ? AND id NOT IN (SELECT header_id FROM fragments WHERE stream_key = ?)', [
      key,
      slot.lastHeader?.id ?? -1,
      key,
    ]);
    const kept = new Set((await this.db.all<{ segment: number }>('SELECT DISTINCT segment FROM fragments WHERE stream_key = ?', [key])).map((row) => row.segment));
    for (const name of await this.segmentFiles(key)) {
      const segment = Number(name);
      if (kept.has(segment)) continue;
      if (slot.segment?.number === segment) await closeSegment(slot);
      await rm(join(this.dir, 'segments', segmentPath(key, segment)), { force: true });
    }
  }

  watch(streamUid: string, listener: () => void): () => void {
    this.durable.on(streamUid, listener);
    return () => this.durable.off(streamUid, listener);
  }

  private queueRow(slot: StreamSlot, fragment: NewFragment, segment: number, offset: number): Promise<FragmentInfo> {
    return new Promise((resolve, reject) => {
      this.pending.push({ slot, fragment, segment, offset, resolve, reject });
      if (this.commitQueued) return;
      this.commitQueued = true;
      void this.serially(() => this.commitRows());
    });
  }

  /** Commits the index rows of every fragment written since the last commit, in one transaction. */
  private async commitRows(): Promise<void> {
    this.commitQueued = false;
    const batch = this.pending;
    this.pending = [];
    try {
      const rows: unknown[][] = [];
      const infos: FragmentInfo[] = [];
      await this.db.exec('BEGIN IMMEDIATE');
      try {
        for (const { slot, fragment, segment, offset } of batch) {
          const headerId = await this.headerIdFor(slot, fragment.header);
          const number = this.nextNumber++;
          rows.push([number, slot.key, fragment.producerTimestampMs, fragment.serverTimestampMs, fragment.durationMs, headerId, segment, offset, fragment.cluster.byteLength, fragment.producerTags.byteLength]);
          infos.push({ number: formatNumber(number), producerTimestampMs: fragment.producerTimestampMs, serverTimestampMs: fragment.serverTimestampMs, durationMs: fragment.durationMs, sizeBytes: fragment.cluster.byteLength });
        }
        await this.db.run(INSERT_FRAGMENTS, [JSON.stringify(rows)]);
        await this.db.run("INSERT INTO meta (name, value) VALUES ('last_number', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [this.nextNumber - 1]);
        await this.db.exec('COMMIT');
      } catch (error) {
        await this.db.exec('ROLLBACK').catch(() => {});
        // Header rows of this batch were rolled back too.
        for (const { slot } of batch) delete slot.lastHeader;
        throw error;
      }
      batch.forEach((row, index) => row.resolve(infos[index]!));
      for (const uid of new Set(batch.map((row) => row.slot.state.uid))) this.durable.emit(uid);
    } catch (error) {
      for (const row of batch) row.reject(error);
    }
  }

  private async headerIdFor(slot: StreamSlot, header: Uint8Array): Promise<number> {
    if (slot.lastHeader && Buffer.compare(slot.lastHeader.bytes, header) === 0) return slot.lastHeader.id;
    const bytes = new Uint8Array(header);
    const { lastID } = await this.db.run('INSERT INTO headers (stream_key, bytes) VALUES (?, ?)', [slot.key, Buffer.from(bytes.buffer)]);
    slot.lastHeader = { id: lastID, bytes };
    return lastID;
  }

  private async segmentFor(slot: StreamSlot, segmentNumber: number): Promise<Segment> {
    if (slot.segment?.number === segmentNumber) return slot.segment;
    // Appends move to a new file each hour; the previous hour's file is done.
    await closeSegment(slot);
    const dir = join(this.dir, 'segments', String(slot.key));
    await mkdir(dir, { recursive: true });
    // Not O_APPEND: writes go at the offsets the index rows record.
    const handle = await open(join(dir, String(segmentNumber)), constants.O_RDWR | constants.O_CREAT);
    slot.segment = { number: segmentNumber, handle, size: (await handle.stat()).size };
    return slot.segment;
  }

  /** The bytes at offset, or undefined when the file is gone. */
  private async readSegment(key: number, segment: number, offset: number, length: number): Promise<Buffer | undefined> {
    const handle = await open(join(this.dir, 'segments', segmentPath(key, segment)), 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!handle) return undefined;
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return bytesRead === length ? buffer : undefined;
    } finally {
      await handle.close();
    }
  }

  /** Cuts each segment file back to the end of its last indexed fragment, and removes files no fragment points to. */
  private async recoverSegments(): Promise<void> {
    const ends = await this.db.all<{ stream_key: number; segment: number; end: number }>(
      'SELECT stream_key, segment, MAX(offset + cluster_bytes + tags_bytes) AS end FROM fragments GROUP BY stream_key, segment',
    );
    const endOf = new Map(ends.map((row) => [segmentPath(row.stream_key, row.segment), row.end]));
    const keys = new Set([...this.streams.values()].map((slot) => slot.key));
    for (const dirName of await readdir(join(this.dir, 'segments'))) {
      const key = Number(dirName);
      if (!keys.has(key)) {
        await rm(join(this.dir, 'segments', dirName), { recursive: true, force: true });
        continue;
      }
      for (const name of await this.segmentFiles(key)) {
        const path = segmentPath(key, Number(name));
        const end = endOf.get(path);
        if (end === undefined) await rm(join(this.dir, 'segments', path), { force: true });
        else await truncateTo(join(this.dir, 'segments', path), end);
      }
    }
  }

  private async segmentFiles(key: number): Promise<string[]> {
    const entries = await readdir(join(this.dir, 'segments', String(key))).catch(() => []);
    return entries.filter((name) => /^\d+$/.test(name));
  }

  private remember(slot: StreamSlot): void {
    this.streams.set(slot.state.name, slot);
    this.byUid.set(slot.state.uid, slot);
  }

  private keyOf(streamUid: string): number | undefined {
    return this.byUid.get(streamUid)?.key;
  }

  /** Runs one stream's file work in order; the result is this call's. */
  private onSlot<T>(slot: StreamSlot, work: () => Promise<T>): Promise<T> {
    const result = slot.chain.then(work);
    slot.chain = result.catch(() => {});
    return result;
  }

  /** Runs index writes one after another: a commit, a trim and a delete never interleave. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.writeChain.then(work);
    this.writeChain = result.catch(() => {});
    return result;
  }
}

function newSlot(key: number, state: VideoStreamState): StreamSlot {
  return { key, state, chain: Promise.resolve(), deleted: false };
}

async function closeSegment(slot: StreamSlot): Promise<void> {
  const segment = slot.segment;
  delete slot.segment;
  await segment?.handle.close();
}

function segmentPath(key: number, segment: number): string {
  return `${key}/${segment}`;
}

async function truncateTo(path: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    if ((await handle.stat()).size > size) {
      await handle.truncate(size);
      await handle.datasync();
    }
  } finally {
    await handle.close();
  }
}

function formatNumber(number: number): string {
  return String(number).padStart(NUMBER_DIGITS, '0');
}

function infoOf(row: FragmentRow): FragmentInfo {
  return {
    number: formatNumber(row.number),
    producerTimestampMs: row.producer_ms,
    serverTimestampMs: row.server_ms,
    durationMs: row.duration_ms,
    sizeBytes: row.cluster_bytes,
  };
}
