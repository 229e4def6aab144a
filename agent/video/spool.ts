// The agent's fragment spool: every fragment a camera produced waits here, on disk, until the
// server acknowledged it PERSISTED; then, and only then, it leaves (remove). It also leaves when
// evicted to make room (drop-oldest), when it outlived maxAgeMs, or when the server refused its
// content for good (quarantine: moved aside, kept for a person to look at).
//
// Layout under `dir` (<dataDir>/video): one file per fragment, `<camera>/<timecode>.mkv`, holding
// the stream header, the Cluster and the Tags after it — each file is a playable Matroska file —
// and `spool.db` (SQLite), the index: one row per fragment with the three parts' lengths.
//
// Durability: a fragment counts as spooled once its file is written and fsynced, its directory
// fsynced, and its row committed (synchronous=FULL); add() resolves only then. Removal deletes
// the row first, then the file. A crash between the two steps of either leaves a file without a
// row, which open() deletes: such a fragment was never reported as spooled, or was already done.

import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Database } from '../../lib/sqlite.js';
import type { OnFull } from '../buffer/index.js';

/** One camera's bounds. */
export interface SpoolCamera {
  name: string;
  /** Bytes of fragment files the camera may keep. */
  maxBytes: number;
  /** Fragments captured longer ago than this are dropped. */
  maxAgeMs: number;
  onFull: OnFull;
}

/** A fragment to spool: the parts the uploader writes, in order. */
export interface NewSpooledFragment {
  /** Cluster timecode: epoch ms of its first frame; unique and increasing per camera. */
  timecodeMs: number;
  durationMs: number;
  /** The stream header (EBML header … Tracks) the cluster is to be sent under. */
  header: Uint8Array;
  cluster: Uint8Array;
  /** Top-level Tags after the cluster; may be empty. */
  tags: Uint8Array;
}

/** A fragment in the spool. */
export interface SpooledFragment {
  camera: string;
  timecodeMs: number;
  durationMs: number;
  headerBytes: number;
  clusterBytes: number;
  tagsBytes: number;
  /** The whole file. */
  sizeBytes: number;
  spooledAt: number;
}

/** A fragment's parts, read back. */
export interface SpooledParts {
  header: Uint8Array;
  cluster: Uint8Array;
  tags: Uint8Array;
}

/** What add() did. */
export interface SpoolAddResult {
  spooled: boolean;
  /** Older fragments evicted to make room (drop-oldest). */
  dropped: number;
}

/** A camera's backlog and lifetime counters (since the spool was opened). */
export interface SpoolCameraStats {
  name: string;
  fragments: number;
  bytes: number;
  oldestAgeMs: number | null;
  spooled: number;
  removed: number;
  rejected: number;
  dropped: number;
  expired: number;
  quarantined: number;
}

interface CameraState {
  config: SpoolCamera;
  /** Oldest first. */
  fragments: SpooledFragment[];
  bytes: number;
  counters: Omit<SpoolCameraStats, 'name' | 'fragments' | 'bytes' | 'oldestAgeMs'>;
  /** The last add in progress: adds run one at a time, so the bound checks see each other. */
  adding: Promise<unknown>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS fragments (
  camera TEXT NOT NULL,
  timecode INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  header_bytes INTEGER NOT NULL,
  cluster_bytes INTEGER NOT NULL,
  tags_bytes INTEGER NOT NULL,
  spooled_at INTEGER NOT NULL,
  PRIMARY KEY (camera, timecode)
) WITHOUT ROWID;`;

interface FragmentRow {
  camera: string;
  timecode: number;
  duration_ms: number;
  header_bytes: number;
  cluster_bytes: number;
  tags_bytes: number;
  spooled_at: number;
}

/** Name of the index inside the spool directory. */
export const SPOOL_INDEX_FILE = 'spool.db';

/** Fragments on disk awaiting PERSISTED, bounded per camera. */
export class FragmentSpool {
  readonly #cameras = new Map<string, CameraState>();
  readonly #listeners: ((camera: string, fragment: SpooledFragment) => void)[] = [];

  private constructor(
    private readonly db: Database,
    readonly dir: string,
    private readonly now: () => number,
  ) {}

  /** Opens (or creates) the spool for these cameras; fragments of cameras no longer configured stay on disk untouched. */
  static async open(options: { dir: string; cameras: SpoolCamera[]; now?: () => number }): Promise<FragmentSpool> {
    await mkdir(options.dir, { recursive: true });
    const db = await Database.open(join(options.dir, SPOOL_INDEX_FILE));
    await db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; ${SCHEMA}`);
    const spool = new FragmentSpool(db, options.dir, options.now ?? Date.now);
    for (const camera of options.cameras) await spool.#load(camera);
    return spool;
  }

  /** Called after each fragment is spooled (the uploader's cue). */
  onAdded(listener: (camera: string, fragment: SpooledFragment) => void): void {
    this.#listeners.push(listener);
  }

  /** Stores a fragment durably, within the camera's bounds; resolves once it would survive a power cut. */
  add(camera: string, fragment: NewSpooledFragment): Promise<SpoolAddResult> {
    const state = this.#camera(camera);
    const result = state.adding.then(() => this.#add(state, fragment));
    state.adding = result.catch(() => {});
    return result;
  }

  async #add(state: CameraState, fragment: NewSpooledFragment): Promise<SpoolAddResult> {
    const camera = state.config.name;
    await this.expire(camera);
    const size = fragment.header.length + fragment.cluster.length + fragment.tags.length;
    const last = state.fragments.at(-1);
    if (last && fragment.timecodeMs <= last.timecodeMs) throw new Error(`spool ${camera}: fragment timecode ${fragment.timecodeMs} is not after the last one (${last.timecodeMs})`);
    let dropped = 0;
    if (size > state.config.maxBytes || (state.config.onFull === 'reject-new' && state.bytes + size > state.config.maxBytes)) {
      state.counters.rejected++;
      return { spooled: false, dropped };
    }
    while (state.bytes + size > state.config.maxBytes) {
      await this.#delete(state, state.fragments[0]!);
      state.counters.dropped++;
      dropped++;
    }
    const dir = join(this.dir, camera);
    const file = await open(join(dir, `${fragment.timecodeMs}.mkv`), 'w');
    try {
      await file.writev([fragment.header, fragment.cluster, fragment.tags]);
      await file.sync();
    } finally {
      await file.close();
    }
    await syncDirectory(dir);
    const entry: SpooledFragment = {
      camera,
      timecodeMs: fragment.timecodeMs,
      durationMs: fragment.durationMs,
      headerBytes: fragment.header.length,
      clusterBytes: fragment.cluster.length,
      tagsBytes: fragment.tags.length,
      sizeBytes: size,
      spooledAt: this.now(),
    };
    await this.db.run('INSERT INTO fragments (camera, timecode, duration_ms, header_bytes, cluster_bytes, tags_bytes, spooled_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      camera,
      entry.timecodeMs,
      entry.durationMs,
      entry.headerBytes,
      entry.clusterBytes,
      entry.tagsBytes,
      entry.spooledAt,
    ]);
    state.fragments.push(entry);
    state.bytes += size;
    state.counters.spooled++;
    for (const listener of this.#listeners) listener(camera, entry);
    return { spooled: true, dropped };
  }

  /** The camera's fragments, oldest first (a copy). */
  list(camera: string): SpooledFragment[] {
    return [...this.#camera(camera).fragments];
  }

  /** True while the fragment is in the spool. */
  has(camera: string, timecodeMs: number): boolean {
    return this.#find(this.#camera(camera), timecodeMs) !== undefined;
  }

  /** The fragment's parts, or undefined when it left the spool meanwhile. */
  async read(fragment: SpooledFragment): Promise<SpooledParts | undefined> {
    let bytes: Buffer;
    try {
      const file = await open(this.#path(fragment.camera, fragment.timecodeMs), 'r');
      try {
        bytes = Buffer.alloc(fragment.sizeBytes);
        await file.read(bytes, 0, fragment.sizeBytes, 0);
      } finally {
        await file.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const clusterAt = fragment.headerBytes;
    const tagsAt = clusterAt + fragment.clusterBytes;
    return { header: bytes.subarray(0, clusterAt), cluster: bytes.subarray(clusterAt, tagsAt), tags: bytes.subarray(tagsAt) };
  }

  /** The server has it (PERSISTED): it leaves the spool. No-op when it already left. */
  async remove(camera: string, timecodeMs: number): Promise<void> {
    const state = this.#camera(camera);
    const entry = this.#find(state, timecodeMs);
    if (!entry) return;
    await this.#delete(state, entry);
    state.counters.removed++;
  }

  /** The server refused its content for good: moved to `<camera>/quarantine/`, out of the backlog. */
  async quarantine(camera: string, timecodeMs: number): Promise<void> {
    const state = this.#camera(camera);
    const entry = this.#find(state, timecodeMs);
    if (!entry) return;
    const aside = join(this.dir, camera, 'quarantine');
    await mkdir(aside, { recursive: true });
    await rename(this.#path(camera, timecodeMs), join(aside, `${timecodeMs}.mkv`));
    await this.#delete(state, entry);
    state.counters.quarantined++;
  }

  /** Drops the camera's fragments older than its maxAgeMs; returns how many. */
  async expire(camera: string): Promise<number> {
    const state = this.#camera(camera);
    const limit = this.now() - state.config.maxAgeMs;
    let count = 0;
    while (state.fragments.length > 0 && state.fragments[0]!.timecodeMs < limit) {
      await this.#delete(state, state.fragments[0]!);
      count++;
    }
    state.counters.expired += count;
    return count;
  }

  /** The camera's backlog and counters. */
  stats(camera: string): SpoolCameraStats {
    const state = this.#camera(camera);
    const oldest = state.fragments[0];
    return { name: camera, fragments: state.fragments.length, bytes: state.bytes, oldestAgeMs: oldest ? Math.max(0, this.now() - oldest.timecodeMs) : null, ...state.counters };
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async #load(config: SpoolCamera): Promise<void> {
    const dir = join(this.dir, config.name);
    await mkdir(dir, { recursive: true });
    const rows = await this.db.all<FragmentRow>('SELECT * FROM fragments WHERE camera = ? ORDER BY timecode', [config.name]);
    const state: CameraState = { config, fragments: [], bytes: 0, counters: { spooled: 0, removed: 0, rejected: 0, dropped: 0, expired: 0, quarantined: 0 }, adding: Promise.resolve() };
    const files = new Set((await readdir(dir)).filter((name) => name.endsWith('.mkv')));
    for (const row of rows) {
      const name = `${row.timecode}.mkv`;
      const size = row.header_bytes + row.cluster_bytes + row.tags_bytes;
      const onDisk = files.delete(name) ? (await stat(join(dir, name))).size : -1;
      if (onDisk !== size) {
        // Lost or truncated (a file system that lied about fsync): unusable, forget it.
        await this.db.run('DELETE FROM fragments WHERE camera = ? AND timecode = ?', [config.name, row.timecode]);
        await rm(join(dir, name), { force: true });
        continue;
      }
      state.fragments.push({
        camera: config.name,
        timecodeMs: row.timecode,
        durationMs: row.duration_ms,
        headerBytes: row.header_bytes,
        clusterBytes: row.cluster_bytes,
        tagsBytes: row.tags_bytes,
        sizeBytes: size,
        spooledAt: row.spooled_at,
      });
      state.bytes += size;
    }
    // Files without a row: written by an add() that never committed, or left by a remove().
    for (const name of files) await rm(join(dir, name), { force: true });
    this.#cameras.set(config.name, state);
  }

  async #delete(state: CameraState, entry: SpooledFragment): Promise<void> {
    const index = state.fragments.indexOf(entry);
    if (index < 0) return;
    state.fragments.splice(index, 1);
    state.bytes -= entry.sizeBytes;
    await this.db.run('DELETE FROM fragments WHERE camera = ? AND timecode = ?', [entry.camera, entry.timecodeMs]);
    await rm(this.#path(entry.camera, entry.timecodeMs), { force: true });
  }

  #camera(name: string): CameraState {
    const state = this.#cameras.get(name);
    if (!state) throw new Error(`no camera named ${JSON.stringify(name)} in the spool`);
    return state;
  }

  #find(state: CameraState, timecodeMs: number): SpooledFragment | undefined {
    return state.fragments.find((fragment) => fragment.timecodeMs === timecodeMs);
  }

  #path(camera: string, timecodeMs: number): string {
    return join(this.dir, camera, `${timecodeMs}.mkv`);
  }
}

/** fsync of a directory: makes the names created in it durable. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
