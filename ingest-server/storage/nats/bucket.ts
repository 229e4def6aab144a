import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsHandle } from './connection.js';
import { retrying } from './retry.js';

/**
 * Opens (creating it the first time) a KV bucket of the stores, kept in as many copies as the
 * handle says, and resolves once the bucket is known to the cluster. allow_direct is off: a
 * follower that has not applied the latest write could otherwise answer a read right after it (a
 * stream just created reported missing, a key just revoked still valid). Creating a bucket needs
 * the meta leader, which a loaded or recovering cluster can be slow to answer; the same create is
 * idempotent, so it is sent again.
 */
export async function openBucket(handle: NatsHandle, name: string): Promise<KV> {
  const bucket = await onBucket(() => new Kvm(handle.js).create(name, { replicas: handle.replicas, history: 1, allow_direct: false }));
  await onBucket(() => handle.jsm.streams.info(`KV_${name}`));
  return bucket;
}

/**
 * Runs a request on a bucket the stores opened: sent again as `retrying` does, and also while a
 * server that has not applied the bucket's assignment yet reports its stream missing (seen in CI
 * just after the bucket was created; the stores never delete their buckets, so it is about to be
 * there).
 */
export function onBucket<T>(work: () => Promise<T>): Promise<T> {
  return retrying(work, undefined, isStreamNotFound);
}

/**
 * The keys a bucket holds a message for (deleted ones too: their entries say so), matching the
 * KV key pattern `keys`, as the bucket stream's leader lists its subjects. KV's own keys() runs a
 * consumer that was seen to miss a just-created key on a cluster.
 */
export async function bucketKeys(handle: NatsHandle, bucket: string, keys = '>'): Promise<string[]> {
  const subjectPrefix = `$KV.${bucket}.`;
  const info = await onBucket(() => handle.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${subjectPrefix}${keys}` }));
  return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(subjectPrefix.length));
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}
