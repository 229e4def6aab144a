import { setTimeout as delay } from 'node:timers/promises';
import { JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, TimeoutError } from '@nats-io/transport-node';

// While a node is lost the cluster elects new leaders for the streams and consumers it led; for a
// few seconds requests time out or find no responder. Idempotent requests are sent again.
const RETRY_MS = 15_000;
// JetStream's "cluster temporarily unavailable".
const CLUSTER_UNAVAILABLE = 10008;

/**
 * Runs an idempotent request again while the cluster has no leader for it, for up to `forMs`;
 * `alsoTransient` names further errors the caller knows to pass.
 */
export async function retrying<T>(work: () => Promise<T>, forMs = RETRY_MS, alsoTransient: (error: unknown) => boolean = () => false): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 1000)) {
    try {
      return await work();
    } catch (error) {
      if (!(isTransient(error) || alsoTransient(error)) || Date.now() + pause > deadline) throw error;
      await delay(pause);
    }
  }
}

/** A timeout, no responders (no stream leader, or no stream: callers tell which) or no JetStream leader. */
function isTransient(error: unknown): boolean {
  return error instanceof TimeoutError || error instanceof NoRespondersError || (error instanceof JetStreamApiError && error.code === CLUSTER_UNAVAILABLE);
}
