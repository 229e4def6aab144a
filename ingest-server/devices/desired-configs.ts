// The configuration the server wants each device to run: an agent config document with a version
// that starts at 1 and increases per device. The device validates and applies it (or rejects it)
// and reports the version it runs in its heartbeat status; comparing the two says whether to
// deliver the config again. Kept in <dataDir>/desired-configs.json, mode 0600 (agent configs can
// carry keys), or with --store nats in a KV bucket every node watches.

import { join } from 'node:path';
import { JsonRecordMap, type RecordMap } from './record-map.js';

/** A pushed config, as delivered to the device (heartbeat answer, retained MQTT message). */
export interface DesiredConfig {
  version: number;
  document: Record<string, unknown>;
}

/** What a device's heartbeat says about its config (the `config` member of its status). */
export interface ReportedConfig {
  /** null: the device runs its local file, never a pushed config. */
  version: number | null;
  rejected?: { version: number; error: string };
}

/** Where a device stands with its desired config. */
export interface ConfigState {
  desiredVersion: number;
  reportedVersion: number | null;
  state: 'pending' | 'applied' | 'rejected';
  /** Why the device refused the desired version. */
  error?: string;
}

const FILE = 'desired-configs.json';

/** A desired config as stored. Never changed in place (the record map compares identities). */
export interface StoredConfig extends DesiredConfig {
  name: string;
  /** Epoch ms. */
  setAt: number;
}

/** Desired configs by device name, over a record map: <dataDir>/desired-configs.json, or a KV bucket shared by every node. */
export class DesiredConfigs {
  readonly #records: RecordMap<StoredConfig>;

  constructor(records: RecordMap<StoredConfig>) {
    this.#records = records;
  }

  /** The embedded store: <dataDir>/desired-configs.json, mode 0600. */
  static inDataDir(dataDir: string): DesiredConfigs {
    return new DesiredConfigs(new JsonRecordMap(join(dataDir, FILE)));
  }

  load(): Promise<void> {
    return this.#records.load();
  }

  get(name: string): DesiredConfig | undefined {
    const stored = this.#records.get(name);
    return stored && { version: stored.version, document: stored.document };
  }

  /** Every device's desired config. */
  entries(): [string, DesiredConfig][] {
    return this.#records.values().map((stored) => [stored.name, { version: stored.version, document: stored.document }]);
  }

  /** Makes `document` the device's desired config under the next version; resolves once it is durable. */
  async set(name: string, document: Record<string, unknown>, now: number): Promise<DesiredConfig> {
    for (;;) {
      const current = this.#records.get(name);
      const version = (current?.version ?? 0) + 1;
      if (await this.#records.compareAndSet(name, current, { name, version, document, setAt: now })) return { version, document };
    }
  }

  /** Called after every change, made here or on another node, e.g. to publish the config to the device's MQTT topic. */
  onChange(listener: (name: string, config: DesiredConfig) => void): void {
    this.#records.onChange((name, stored) => listener(name, { version: stored.version, document: stored.document }));
  }

  close(): Promise<void> {
    return this.#records.close();
  }
}

/** The config part of a heartbeat status, if it has a well-formed one (the status comes off the network). */
export function reportedConfigOf(status: unknown): ReportedConfig | undefined {
  const config = (status as { config?: unknown } | null)?.config;
  if (typeof config !== 'object' || config === null) return undefined;
  const { version, rejected } = config as { version?: unknown; rejected?: unknown };
  if (version !== null && !Number.isSafeInteger(version)) return undefined;
  const reported: ReportedConfig = { version: version as number | null };
  if (typeof rejected === 'object' && rejected !== null) {
    const { version: rejectedVersion, error } = rejected as { version?: unknown; error?: unknown };
    if (Number.isSafeInteger(rejectedVersion)) reported.rejected = { version: rejectedVersion as number, error: typeof error === 'string' ? error : '' };
  }
  return reported;
}

/** The config to hand a device that reported `reported`: the desired one, unless it runs or rejected that version. */
export function configToDeliver(desired: DesiredConfig | undefined, reported: ReportedConfig | undefined): DesiredConfig | undefined {
  if (!desired) return undefined;
  if (reported?.version === desired.version || reported?.rejected?.version === desired.version) return undefined;
  return desired;
}

/** Where a device stands with its desired config, from its latest report (none yet: pending). */
export function configStateOf(desired: DesiredConfig, reported: ReportedConfig | undefined): ConfigState {
  const base = { desiredVersion: desired.version, reportedVersion: reported?.version ?? null };
  if (reported?.version === desired.version) return { ...base, state: 'applied' };
  if (reported?.rejected?.version === desired.version) return { ...base, state: 'rejected', error: reported.rejected.error };
  return { ...base, state: 'pending' };
}
