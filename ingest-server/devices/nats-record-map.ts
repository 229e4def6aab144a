// A record map in a NATS KV bucket, for servers on `--store nats://…`: every node keeps the whole
// bucket in memory and watches it, so a device revoked or a config pushed through one node is
// acted on by all of them within the watch's latency. Compare-and-set is KV's create/update at a
// revision. Keys are base64url(name): KV keys treat dots as separators.

import { KvWatchInclude, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import type { NatsHandle } from '../storage/nats/connection.js';
import { bucketKeys, onBucket, openBucket } from '../storage/nats/bucket.js';
import { isWrongLastSequence } from '../storage/nats/data-stream-store.js';
import type { RecordMap } from './record-map.js';

interface Held<T> {
  value: T;
  revision: number;
}

/** A record map shared by every node through the KV bucket `<prefix>_<name>`. */
export class NatsRecordMap<T> implements RecordMap<T> {
  readonly #handle: NatsHandle;
  readonly #bucket: string;
  readonly #records = new Map<string, Held<T>>();
  readonly #listeners: ((name: string, value: T, previous: T | undefined) => void)[] = [];
  #kv!: KV;
  #watch?: QueuedIterator<KvWatchEntry>;

  constructor(handle: NatsHandle, name: string) {
    this.#handle = handle;
    this.#bucket = `${handle.prefix}_${name}`;
  }

  async load(): Promise<void> {
    this.#kv = await openBucket(this.#handle, this.#bucket);
    // Watching before reading: nothing changed in between is missed; older revisions are ignored.
    this.#watch = await onBucket(() => this.#kv.watch({ include: KvWatchInclude.UpdatesOnly }));
    void this.#follow(this.#watch);
    for (const key of await bucketKeys(this.#handle, this.#bucket)) this.#apply(await onBucket(() => this.#kv.get(key)));
  }

  get(name: string): T | undefined {
    return this.#records.get(name)?.value;
  }

  values(): T[] {
    return [...this.#records.values()].map((held) => held.value);
  }

  async compareAndSet(name: string, expected: T | undefined, value: T): Promise<boolean> {
    const held = this.#records.get(name);
    if (held?.value !== expected) return false;
    const key = keyOf(name);
    const bytes = JSON.stringify({ name, value });
    let revision: number;
    try {
      revision = held ? await this.#kv.update(key, bytes, held.revision) : await this.#kv.create(key, bytes);
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      // Another node wrote first: take its record, so the caller decides again on it.
      this.#apply(await this.#kv.get(key));
      return false;
    }
    // The watch may have brought this revision already.
    if ((this.#records.get(name)?.revision ?? 0) < revision) this.#set(name, { value, revision });
    return true;
  }

  onChange(listener: (name: string, value: T, previous: T | undefined) => void): void {
    this.#listeners.push(listener);
  }

  /** Every change is durable once compareAndSet resolves. */
  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.#watch?.stop();
  }

  async #follow(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    for await (const entry of watch) this.#apply(entry);
  }

  /** Takes a record from the bucket unless this node already holds that revision or a later one. */
  #apply(entry: KvEntry | null): void {
    if (entry?.operation !== 'PUT') return;
    const { name, value } = entry.json<{ name: string; value: T }>();
    if ((this.#records.get(name)?.revision ?? 0) >= entry.revision) return;
    this.#set(name, { value, revision: entry.revision });
  }

  #set(name: string, held: Held<T>): void {
    const previous = this.#records.get(name)?.value;
    this.#records.set(name, held);
    for (const listener of this.#listeners) listener(name, held.value, previous);
  }
}

function keyOf(name: string): string {
  return Buffer.from(name).toString('base64url');
}
