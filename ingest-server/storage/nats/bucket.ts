import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsHandle } from './connection.js';
import { retrying } from './retry.js';

/**
 * Opens (creating it the first time) a KV bucket of the stores, kept in as many copies as the
 * handle says. allow_direct is off: a follower that has not applied the latest write could
 * otherwise answer a read right after it (a stream just created reported missing, a key just
 * revoked still valid). Creating a bucket needs the meta leader, which a loaded or recovering
 * cluster can be slow to answer, and the bucket's stream, just added, can be reported missing for
 * a moment by a server that has not applied its assignment yet (seen in CI); the same create is
 * idempotent, so it is sent again.
 */
export function openBucket(handle: NatsHandle, name: string): Promise<KV> {
  return retrying(() => new Kvm(handle.js).create(name, { replicas: handle.replicas, history: 1, allow_direct: false }), undefined, isStreamNotFound);
}

/**
 * The keys a bucket holds a message for (deleted ones too: their entries say so), matching the
 * KV key pattern `keys`, as the bucket stream's leader lists its subjects. KV's own keys() runs a
 * consumer that was seen to miss a just-created key on a cluster.
 */
export async function bucketKeys(handle: NatsHandle, bucket: string, keys = '>'): Promise<string[]> {
  const subjectPrefix = `$KV.${bucket}.`;
  const info = await retrying(() => handle.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${subjectPrefix}${keys}` }));
  return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(subjectPrefix.length));
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}
