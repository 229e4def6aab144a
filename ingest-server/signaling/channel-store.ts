import { join } from 'node:path';
import { JsonDocument } from '../../lib/json-document.js';

// Signaling channels are a handful of small records that change rarely, so they are one JSON
// document, <dataDir>/signaling-channels.json, held in memory and rewritten on every change.
// The control plane sees only ChannelStore, so a shared store can replace this one.

/** A signaling channel's metadata (what DescribeSignalingChannel shows, plus tags). */
export interface ChannelState {
  name: string;
  arn: string;
  type: 'SINGLE_MASTER' | 'FULL_MESH';
  status: 'CREATING' | 'ACTIVE' | 'UPDATING' | 'DELETING';
  creationTimeMs: number;
  /** Opaque; changes on every update (UpdateSignalingChannel's CurrentVersion). */
  version: string;
  messageTtlSeconds: number;
  tags: Record<string, string>;
}

/** Where signaling channels are kept. */
export interface ChannelStore {
  list(): Promise<ChannelState[]>;
  /** Adds or replaces the channel of that name. */
  put(state: ChannelState): Promise<void>;
  delete(name: string): Promise<void>;
}

const CHANNELS_FILE = 'signaling-channels.json';

/** The embedded ChannelStore: one JSON document in the data dir. */
export class JsonChannelStore implements ChannelStore {
  readonly #document: JsonDocument<ChannelState[]>;
  #channels = new Map<string, ChannelState>();

  constructor(dataDir: string) {
    this.#document = new JsonDocument(join(dataDir, CHANNELS_FILE));
  }

  /** Reads the document; a missing file is no channels. */
  async load(): Promise<void> {
    this.#channels = new Map(((await this.#document.read()) ?? []).map((state) => [state.name, state]));
  }

  async list(): Promise<ChannelState[]> {
    return [...this.#channels.values()];
  }

  async put(state: ChannelState): Promise<void> {
    this.#channels.set(state.name, state);
    await this.#save();
  }

  async delete(name: string): Promise<void> {
    this.#channels.delete(name);
    await this.#save();
  }

  #save(): Promise<void> {
    return this.#document.save([...this.#channels.values()]);
  }
}
