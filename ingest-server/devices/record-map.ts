// Small named JSON records every node must agree on (device keys, desired configs), held in
// memory for synchronous reads and changed by compare-and-set. The embedded map is a JSON file in
// dataDir; the NATS one (nats-record-map.ts) a KV bucket that every node watches, so a change
// made on one node is heard by the others.

import { JsonDocument } from '../../lib/json-document.js';

/** Records by name; `onChange` hears every change, made here or (distributed) by another node. */
export interface RecordMap<T> {
  load(): Promise<void>;
  get(name: string): T | undefined;
  values(): T[];
  /**
   * Stores `value` under `name` if the record is still `expected` (undefined: absent); resolves
   * false, with the current record loaded, when another writer changed it first. Listeners hear
   * of a change before it is durable: a revocation must act at once.
   */
  compareAndSet(name: string, expected: T | undefined, value: T): Promise<boolean>;
  onChange(listener: (name: string, value: T, previous: T | undefined) => void): void;
  /** Resolves once every change so far is durable (or has failed). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A record map in one JSON file, `{"records": {name: record}}`, mode 0600 (records may hold secrets). */
export class JsonRecordMap<T> implements RecordMap<T> {
  readonly #document: JsonDocument<{ records: Record<string, T> }>;
  readonly #records = new Map<string, T>();
  readonly #listeners: ((name: string, value: T, previous: T | undefined) => void)[] = [];

  constructor(path: string) {
    this.#document = new JsonDocument(path, 0o600);
  }

  async load(): Promise<void> {
    const stored = await this.#document.read();
    for (const [name, record] of Object.entries(stored?.records ?? {})) this.#records.set(name, record);
  }

  get(name: string): T | undefined {
    return this.#records.get(name);
  }

  values(): T[] {
    return [...this.#records.values()];
  }

  async compareAndSet(name: string, expected: T | undefined, value: T): Promise<boolean> {
    const previous = this.#records.get(name);
    if (previous !== expected) return false;
    this.#records.set(name, value);
    for (const listener of this.#listeners) listener(name, value, previous);
    await this.#document.save({ records: Object.fromEntries(this.#records) });
    return true;
  }

  onChange(listener: (name: string, value: T, previous: T | undefined) => void): void {
    this.#listeners.push(listener);
  }

  flush(): Promise<void> {
    return this.#document.flush();
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
