import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';

/** Where the JetStream-backed stores live and how many copies they keep. */
export interface NatsStoreOptions {
  servers: string[];
  /** Copies of every stream and bucket; 3 survives one node loss, 1 is for a single dev node. */
  replicas: number;
  /** prefix of every JetStream stream/bucket name */
  prefix?: string;
}

/** One NATS connection shared by the data-stream and video stores of a server. */
export interface NatsHandle {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  replicas: number;
  prefix: string;
  close(): Promise<void>;
}

/** Thrown when the NATS store options are unusable, naming the field. */
export class NatsStoreOptionsError extends Error {}

/** The prefix used when NatsStoreOptions.prefix is not given. */
export const DEFAULT_NATS_PREFIX = 'rivulet';

/** Connects to the cluster and checks JetStream is enabled there. */
export async function connectNats(options: NatsStoreOptions): Promise<NatsHandle> {
  if (options.servers.length === 0) throw new NatsStoreOptionsError('servers must name at least one nats:// URL.');
  if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > 5) {
    throw new NatsStoreOptionsError('replicas must be an integer from 1 to 5.');
  }
  const prefix = options.prefix ?? DEFAULT_NATS_PREFIX;
  // Stream and bucket names may hold only these characters (no dots, wildcards or spaces).
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new NatsStoreOptionsError('prefix must match [A-Za-z0-9_-]+.');
  const nc = await connect({
    servers: options.servers,
    name: 'rivulet',
    // A server must ride out a node restart or a cluster-wide blip rather than give up.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // The stores issue many small requests; a leader election can take a few seconds.
    timeout: 10_000,
  });
  try {
    // jetstreamManager() fails fast when JetStream is disabled on the server.
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    // Shorter than the manager's: a publish written to a socket that just died is never answered, and
    // the stores retry it (de-duplicated by message id) on another node sooner.
    const js = jetstream(nc, { timeout: 5_000 });
    // A drain that a loaded server does not answer in time still ends in a closed connection: shutdown must not fail on it.
    return { nc, js, jsm, replicas: options.replicas, prefix, close: () => nc.drain().catch(() => nc.close()) };
  } catch (error) {
    await nc.close();
    throw error;
  }
}

/** Whether a JetStream stream belongs to the stores under `prefix` (their names are `<prefix>_…`; buckets add KV_ or OBJ_). */
export function isUnderPrefix(streamName: string, prefix: string): boolean {
  return streamName.replace(/^(KV|OBJ)_/, '').startsWith(`${prefix}_`);
}
