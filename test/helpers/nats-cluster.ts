// The NATS side of the tests: a local JetStream cluster per test (startNatsCluster), and the
// RIVULET_TEST_STORE=nats switch that puts the API test harnesses' servers on a cluster shared by
// the whole test worker.

import test, { type ExecutionContext } from 'ava';
import { startNatsCluster as startCluster, type NatsCluster } from '../../bench/lib/nats-cluster.js';
import { connectNats, isUnderPrefix, type NatsHandle, type NatsStoreOptions } from '../../ingest-server/storage/nats/connection.js';

export type { NatsCluster } from '../../bench/lib/nats-cluster.js';

/** Starts `nodes` nats-server processes clustered on loopback; stopped when `t` ends, if given. */
export async function startNatsCluster(t?: ExecutionContext, nodes = 3): Promise<NatsCluster> {
  const cluster = await startCluster(nodes);
  t?.teardown(() => cluster.stop());
  return cluster;
}

/** Set to `nats` to run the API suites against JetStream instead of the embedded store. */
export const TEST_STORE = process.env['RIVULET_TEST_STORE'] ?? 'sqlite';

// One cluster per test worker process, started by the first test that needs it; its processes
// go with the worker (see bench/lib/nats-cluster.ts).
let shared: Promise<{ cluster: NatsCluster; admin: NatsHandle }> | undefined;
let prefixes = 0;

if (TEST_STORE === 'nats') {
  // The cluster's processes and the admin connection would keep the worker from exiting, and ava
  // waits for that.
  test.after.always('stop the shared NATS cluster', async () => {
    if (!shared) return;
    const { cluster, admin } = await shared;
    await admin.close();
    await cluster.stop();
  });
}

/**
 * The `natsStore` server option for one test when RIVULET_TEST_STORE=nats, else undefined: the
 * worker's shared cluster under a prefix of its own, whose streams and buckets are deleted when
 * the test ends (register this before anything that uses the store, so it is torn down last).
 */
export async function testNatsStore(t: ExecutionContext): Promise<NatsStoreOptions | undefined> {
  if (TEST_STORE !== 'nats') return undefined;
  shared ??= (async () => {
    const cluster = await startCluster(3);
    return { cluster, admin: await connectNats({ servers: cluster.urls, replicas: 1 }) };
  })();
  const { cluster, admin } = await shared;
  const prefix = `t${process.pid}x${String(++prefixes).padStart(5, '0')}`;
  t.teardown(async () => {
    for await (const name of admin.jsm.streams.names()) {
      if (isUnderPrefix(name, prefix)) await admin.jsm.streams.delete(name);
    }
  });
  return { servers: cluster.urls, replicas: 3, prefix };
}
