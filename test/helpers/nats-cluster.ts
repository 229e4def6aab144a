// The NATS side of the tests: a local JetStream cluster per test (startNatsCluster), and the
// RIVULET_TEST_STORE=nats switch that puts the API test harnesses' servers on a cluster shared by
// the whole test worker.

import test, { type ExecutionContext } from 'ava';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { startNatsCluster as startCluster, type NatsCluster } from '../../bench/lib/nats-cluster.js';
import { connectNats, isUnderPrefix, type NatsHandle, type NatsStoreOptions } from '../../ingest-server/storage/nats/connection.js';
import { retrying } from '../../ingest-server/storage/nats/retry.js';

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
    // Sent again while a loaded cluster's meta leader is slow to answer, as the stores do.
    const names: string[] = [];
    await retrying(async () => {
      names.length = 0;
      for await (const name of admin.jsm.streams.names()) if (isUnderPrefix(name, prefix)) names.push(name);
    });
    for (const name of names) {
      // The test's server may still be deleting a stream it listed (a DeleteStream just answered).
      await retrying(() => admin.jsm.streams.delete(name).catch(ignoreStreamNotFound));
    }
  });
  return { servers: cluster.urls, replicas: 3, prefix };
}

/** The index of the node that is the cluster's JetStream meta leader as node `asked` sees it (nodes are named n<index>), if there is one. */
export async function metaLeaderIndex(cluster: NatsCluster, asked = 0): Promise<number | undefined> {
  const jsz = (await (await fetch(`${cluster.monitorUrls[asked]}/jsz`)).json()) as { meta_cluster?: { leader?: string } };
  const leader = jsz.meta_cluster?.leader;
  return leader ? nodeIndex(leader) : undefined;
}

/**
 * Moves the leadership of the JetStream streams whose names start with `streamPrefix` onto the
 * meta leader node and answers that node's index: killing it is the harshest single loss, as those
 * streams need new leaders and nats-server 2.9 takes tens of seconds to elect another meta leader
 * (requests that need one, such as creating a consumer, fail meanwhile). A stepdown hands the
 * leadership to a random peer, so it is repeated until it lands there.
 */
export async function concentrateLeaders(cluster: NatsCluster, streamPrefix: string): Promise<number> {
  const admin = await connectNats({ servers: cluster.urls, replicas: 1 });
  try {
    const target = await metaLeaderIndex(cluster);
    if (target === undefined) throw new Error('the cluster has no JetStream meta leader');
    const names: string[] = [];
    for await (const name of admin.jsm.streams.names()) if (name.startsWith(streamPrefix)) names.push(name);
    if (names.length === 0) throw new Error(`no JetStream stream starts with ${streamPrefix}`);
    for (const name of names) {
      for (let attempt = 0; ; attempt++) {
        const leader = (await admin.jsm.streams.info(name)).cluster?.leader;
        if (leader !== undefined && nodeIndex(leader) === target) break;
        if (attempt === 20) throw new Error(`stream ${name} stays led by ${leader}, not n${target}`);
        if (leader !== undefined) await admin.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${name}`, undefined, { timeout: 10_000 });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    return target;
  } finally {
    await admin.close();
  }
}

function nodeIndex(serverName: string | undefined): number {
  const match = /^n(\d+)$/.exec(serverName ?? '');
  if (!match) throw new Error(`not a node of startNatsCluster: ${serverName}`);
  return Number(match[1]);
}

function ignoreStreamNotFound(error: unknown): void {
  if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
}
