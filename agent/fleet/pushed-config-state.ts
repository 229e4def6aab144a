// What the agent remembers about pushed configs, in <dataDir>/pushed-config.json: the pushed
// config in force, the one being tried, and the versions it refused. Each change is one atomic
// replacement of the file (temporary file, fsync, rename), so after a power cut the agent knows
// which config to run, and that a trial it was in the middle of never finished. Mode 0600: a
// pushed config can carry the device's keys.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { JsonDocument } from '../../lib/json-document.js';
import type { ConfigReport } from './protocol.js';

/** The file in dataDir. */
export const PUSHED_CONFIG_FILE = 'pushed-config.json';
/** Refusals remembered: far more than a server has versions in flight for one device. */
const REJECTED_KEPT = 32;

/** One refused version. */
export interface Rejection {
  version: number;
  error: string;
  at: number;
}

/** The file's content. */
export interface PushedConfigState {
  /** The pushed config in force; null while the local config file is. */
  current: { version: number; document: Record<string, unknown>; appliedAt: number } | null;
  /** Written before the running agent stops for a trial, cleared when the trial ends either way. */
  trial: { version: number; document: Record<string, unknown>; startedAt: number } | null;
  /** Oldest first. */
  rejected: Rejection[];
}

/** The state in memory and on disk; every change resolves once it is durable. */
export class PushedConfigStore {
  readonly #document: JsonDocument<PushedConfigState>;
  #state: PushedConfigState = { current: null, trial: null, rejected: [] };

  private constructor(dataDir: string) {
    this.#document = new JsonDocument(join(dataDir, PUSHED_CONFIG_FILE), 0o600);
  }

  /** Reads <dataDir>/pushed-config.json (none yet: nothing was ever pushed). */
  static async open(dataDir: string): Promise<PushedConfigStore> {
    // The buffer makes dataDir too, but an agent with cameras only may not have made it yet.
    await mkdir(dataDir, { recursive: true });
    const store = new PushedConfigStore(dataDir);
    const stored = await store.#document.read();
    if (stored) store.#state = { current: stored.current ?? null, trial: stored.trial ?? null, rejected: stored.rejected ?? [] };
    return store;
  }

  get path(): string {
    return this.#document.path;
  }

  get state(): Readonly<PushedConfigState> {
    return this.#state;
  }

  /** Whether `version` is the one in force or one refused before: either way, nothing to do. */
  settled(version: number): boolean {
    return this.#state.current?.version === version || this.#state.rejected.some((rejection) => rejection.version === version);
  }

  /** What the status reports. */
  report(): ConfigReport {
    const { current, rejected } = this.#state;
    const latest = rejected.at(-1);
    return { version: current?.version ?? null, appliedAt: current?.appliedAt ?? null, ...(latest ? { rejected: { ...latest } } : {}) };
  }

  beginTrial(version: number, document: Record<string, unknown>, now: number): Promise<void> {
    return this.#save({ ...this.#state, trial: { version, document, startedAt: now } });
  }

  /** The trial came up healthy: it is the config in force. */
  applied(version: number, document: Record<string, unknown>, now: number): Promise<void> {
    return this.#save({ ...this.#state, current: { version, document, appliedAt: now }, trial: null });
  }

  /** Refuses `version` for good (and ends its trial, if it had one). */
  rejected(version: number, error: string, now: number): Promise<void> {
    const rejected = [...this.#state.rejected.filter((rejection) => rejection.version !== version), { version, error, at: now }].slice(-REJECTED_KEPT);
    return this.#save({ ...this.#state, trial: this.#state.trial?.version === version ? null : this.#state.trial, rejected });
  }

  /** The config in force no longer loads (an agent upgrade tightened validation): back to the local file. */
  dropCurrent(): Promise<void> {
    return this.#save({ ...this.#state, current: null });
  }

  #save(state: PushedConfigState): Promise<void> {
    this.#state = state;
    return this.#document.save(state);
  }
}
