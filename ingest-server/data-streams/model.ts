// The persistent shape of a data stream: what the store keeps and every node of a cluster shares.

export type StreamMode = 'PROVISIONED' | 'ON_DEMAND';
export type EncryptionType = 'NONE' | 'KMS';

/** One shard of a stream; hash keys are decimal strings of 128-bit integers. */
export interface ShardState {
  shardId: string;
  /** Dense per-stream shard number; it appears in sequence numbers. */
  index: number;
  startingHashKey: string;
  endingHashKey: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
  openedAt: number;
  /** Set when the shard was closed by resharding; it stays readable until retention drops it. */
  closedAt?: number;
  /** The last position written before the shard was closed. */
  endingPosition?: number;
}

export interface ConsumerState {
  name: string;
  arn: string;
  createdAt: number;
  /** Epoch ms at which the consumer becomes ACTIVE (CREATING until then). */
  activeAt: number;
  tags: Record<string, string>;
}

export interface StreamState {
  /** Distinguishes a stream from an earlier one of the same name, so old iterators fail. */
  uid: number;
  name: string;
  arn: string;
  createdAt: number;
  mode: StreamMode;
  retentionHours: number;
  shards: ShardState[];
  encryption: { type: EncryptionType; keyId?: string };
  maxRecordSizeKiB: number;
  tags: Record<string, string>;
  consumers: ConsumerState[];
  /** CREATING/UPDATING until this epoch ms, ACTIVE after; kept as a time so no node needs a timer. */
  settlesAt: number;
  settlingStatus: 'CREATING' | 'UPDATING';
  /** Optimistic-concurrency counter, bumped by every metadata write. */
  version: number;
}

// Record data is kept as the base64 text the JSON protocol carries it in both directions, so the
// hot paths never decode or re-encode it; only CBOR clients and encryption touch the bytes.

/** A record as the store keeps it; data is as stored (ciphertext when keyId is set). */
export interface StoredRecord {
  position: number;
  arrivalMs: number;
  partitionKey: string;
  dataBase64: string;
  keyId?: string;
}

export interface AppendEntry {
  streamUid: number;
  shardIndex: number;
  partitionKey: string;
  dataBase64: string;
  keyId?: string;
  /** Stored at most once per stream, producer id and sequence (see records.ts). */
  producer?: { id: string; sequence: number };
}

/** Where an entry was stored; for a producer's duplicate, where the original is. */
export interface AppendResult {
  shardIndex: number;
  position: number;
  arrivalMs: number;
  duplicate: boolean;
}
