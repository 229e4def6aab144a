import { Kvm, type KV } from '@nats-io/kv';
import type { NatsHandle } from './connection.js';
import { retrying } from './retry.js';

/**
 * Opens (creating it the first time) a KV bucket of the stores, kept in as many copies as the
 * handle says. allow_direct is off: a follower that has not applied the latest write could
 * otherwise answer a read right after it (a stream just created reported missing, a key just
 * revoked still valid). Creating a bucket needs the meta leader, which a loaded or recovering
 * cluster can be slow to answer; the same create is idempotent, so it is sent again.
 */
export function openBucket(handle: NatsHandle, name: string): Promise<KV> {
  return retrying(() => new Kvm(handle.js).create(name, { replicas: handle.replicas, history: 1, allow_direct: false }));
}
