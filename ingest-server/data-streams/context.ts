import type { DataStreamStore } from '../storage/data-stream-store.js';
import type { KeyRing } from './encryption.js';
import type { Subscriptions } from './subscriptions.js';
import type { ThroughputLimiter } from './throughput.js';

/** Settings an operator can change; defaults follow AWS. */
export interface DataStreamsSettings {
  region: string;
  accountId: string;
  /** Open shards allowed across all streams (AWS default 500 in large regions). */
  shardLimit: number;
  onDemandStreamLimit: number;
  /** How long streams stay CREATING/UPDATING and consumers CREATING; 0 settles at once. */
  stateChangeMs: number;
}

export const DEFAULT_SETTINGS: DataStreamsSettings = {
  region: 'us-east-1',
  accountId: '000000000000',
  shardLimit: 500,
  onDemandStreamLimit: 50,
  stateChangeMs: 0,
};

/** What every Data Streams operation works with. */
export interface DataStreamsContext {
  store: DataStreamStore;
  settings: DataStreamsSettings;
  keys: KeyRing;
  iteratorSecret: Buffer;
  /** Present when per-shard throughput limits are enforced. */
  throughput?: ThroughputLimiter;
  subscriptions: Subscriptions;
  now: () => number;
}
