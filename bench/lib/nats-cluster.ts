// Runs a real nats-server cluster on loopback for benchmarks and tests: each node is a process
// with JetStream on its own store dir, routes to every other node, and a monitoring port this
// helper polls until JetStream has elected a meta leader (before that, stream creation fails).
// Nodes can be killed with SIGKILL and restarted on the same store dir, as an operator would.

import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './processes.js';

/** NATS_SERVER overrides where the binary is; Debian's package installs it here. */
export const NATS_SERVER_PATH = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';
const READY_TIMEOUT_MS = 20_000;

/** A running local cluster; `urls[i]` is node i's client URL. */
export interface NatsCluster {
  urls: string[];
  /** Node i's monitoring endpoint (/varz, /jsz), for `rivulet cluster status --monitor`. */
  monitorUrls: string[];
  /** SIGKILLs node `index` and waits until it has exited. */
  kill(index: number): Promise<void>;
  /** Starts node `index` again on its store dir and waits until it sees a meta leader. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

interface Node {
  args: string[];
  monitorPort: number;
  child?: ChildProcess;
  stderr: string;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
// A benchmark or test worker that ends must not leave servers or store dirs behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts `nodes` nats-server processes clustered on loopback (a single node runs JetStream standalone). */
export async function startNatsCluster(nodes = 3): Promise<NatsCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-nats-'));
  dirs.add(dir);
  const free = await freePorts(nodes * 3);
  const ports = Array.from({ length: nodes }, (_, index) => ({ client: free[index * 3]!, route: free[index * 3 + 1]!, monitor: free[index * 3 + 2]! }));
  const routes = ports.map((port) => `nats://127.0.0.1:${port.route}`).join(',');
  // The default 1 MB message limit is below a 1 MiB record as stored (base64 plus headers); only
  // a config file can raise it. 8 MB is the largest nats-server accepts without a warning.
  const config = join(dir, 'nats-server.conf');
  await writeFile(config, 'max_payload: 8MB\n');
  const cluster: Node[] = ports.map((port, index) => ({
    monitorPort: port.monitor,
    stderr: '',
    args: [
      '-c', config, '-js', '-sd', join(dir, `n${index}`),
      '-a', '127.0.0.1', '-p', String(port.client), '-m', String(port.monitor),
      '--server_name', `n${index}`,
      // A single node has no cluster block: JetStream then runs standalone, without a meta group.
      ...(nodes > 1 ? ['--cluster_name', 'rivulet-test', '--cluster', `nats://127.0.0.1:${port.route}`, '--routes', routes] : []),
    ],
  }));
  const spawnNode = (node: Node) => {
    // ava kills a timed-out worker without running its exit handlers; so that no server outlives
    // it, a background shell waits for our end of stdin to close (as it does when this process
    // dies, however) and then kills the server, which `exec` put in the shell's place (same pid).
    const watched = 'exec 3<&0; (read _ <&3; kill -9 $$ 2>/dev/null) & exec "$0" "$@" 3<&-';
    const child = spawn('sh', ['-c', watched, NATS_SERVER_PATH, ...node.args], { stdio: ['pipe', 'ignore', 'pipe'] });
    node.stderr = '';
    // nats-server logs to stderr; kept (bounded) for the error message when a node does not come up.
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (node.stderr = (node.stderr + chunk).slice(-4000)));
    live.add(child);
    child.once('exit', () => {
      live.delete(child);
      // Releases the watching shell (its kill then finds nothing).
      child.stdin!.end();
    });
    node.child = child;
  };
  const killNode = async (node: Node) => {
    const child = node.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async () => {
    await Promise.all(cluster.map(killNode));
    await rm(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };
  cluster.forEach(spawnNode);
  try {
    await Promise.all(cluster.map((node) => waitForMetaLeader(node, nodes > 1)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    urls: ports.map((port) => `nats://127.0.0.1:${port.client}`),
    monitorUrls: ports.map((port) => `http://127.0.0.1:${port.monitor}`),
    kill: (index) => killNode(cluster[index]!),
    async restart(index) {
      const node = cluster[index]!;
      await killNode(node);
      spawnNode(node);
      await waitForMetaLeader(node, nodes > 1);
    },
    stop,
  };
}

/** Polls the node's /jsz until JetStream is up and (clustered) a meta leader is known. */
async function waitForMetaLeader(node: Node, clustered: boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (node.child!.exitCode !== null) throw new Error(`nats-server ${node.args.join(' ')} exited with ${node.child!.exitCode}: ${node.stderr}`);
    try {
      const response = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`);
      const jsz = (await response.json()) as { config?: unknown; meta_cluster?: { leader?: string } };
      if (jsz.config && (!clustered || jsz.meta_cluster?.leader)) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nats-server ${node.args.join(' ')} had no JetStream meta leader after ${READY_TIMEOUT_MS} ms: ${node.stderr}`);
}

