import { Command, InvalidArgumentError, Option } from 'commander';
import type { StreamInfo } from '@nats-io/jetstream';
import { connectNats, DEFAULT_NATS_PREFIX, isUnderPrefix } from '../ingest-server/storage/nats/connection.js';
import { storeChoice } from './server-command.js';

/** nats-server's default monitoring port, where /varz reports the JetStream meta group. */
const DEFAULT_MONITOR_PORT = 8222;

interface MetaPeer {
  name: string;
  current?: boolean;
  offline?: boolean;
  lag?: number;
  /** Nanoseconds since the leader last heard from it. */
  active?: number;
}

/** The part of a node's /varz this command reads. */
interface Varz {
  server_name: string;
  jetstream?: { meta?: { leader?: string; cluster_size?: number; replicas?: MetaPeer[] } };
}

function natsServers(value: string): string[] {
  const choice = storeChoice(value);
  if (choice.kind !== 'nats') throw new InvalidArgumentError('must be nats://host:port[,nats://host:port…].');
  return choice.servers;
}

function monitorUrls(value: string): string[] {
  return value.split(',').map((each) => each.trim()).filter((each) => each !== '');
}

interface StatusOptions {
  store: string[];
  prefix: string;
  monitor?: string[];
}

/** One line per node that answered on its monitoring port: its view of the meta group. */
async function nodeLines(monitors: string[]): Promise<{ lines: string[]; leaderView?: Varz }> {
  const lines: string[] = [];
  let leaderView: Varz | undefined;
  for (const monitor of monitors) {
    try {
      const varz = (await (await fetch(new URL('/varz', monitor), { signal: AbortSignal.timeout(3_000) })).json()) as Varz;
      const meta = varz.jetstream?.meta;
      lines.push(`  ${varz.server_name} (${monitor}): meta leader ${meta?.leader ?? 'none'}, cluster size ${meta?.cluster_size ?? '?'}`);
      // Only the leader lists the other members and how far behind they are.
      if (meta?.leader === varz.server_name) leaderView = varz;
    } catch (error) {
      lines.push(`  ${monitor}: unreachable (${(error as Error).message})`);
    }
  }
  return { lines, ...(leaderView ? { leaderView } : {}) };
}

function streamLine(info: StreamInfo): string {
  const peers = (info.cluster?.replicas ?? []).map((peer) => `${peer.name}${peer.offline ? ' OFFLINE' : peer.current ? '' : ' behind'} lag ${peer.lag ?? 0}`);
  return [
    `  ${info.config.name}: R${info.config.num_replicas}, leader ${info.cluster?.leader ?? 'NONE'}`,
    `${info.state.messages} messages, ${info.state.bytes} bytes`,
    ...(peers.length > 0 ? [`followers ${peers.join(', ')}`] : []),
  ].join('; ');
}

/** Prints the meta group as the nodes see it, and every stream and bucket under the prefix. */
async function printStatus(options: StatusOptions): Promise<void> {
  const monitors = options.monitor ?? options.store.map((server) => `http://${new URL(server).hostname}:${DEFAULT_MONITOR_PORT}`);
  const { lines, leaderView } = await nodeLines(monitors);
  const out = ['JetStream meta group (from the monitoring ports):', ...lines];
  const leader = leaderView?.jetstream?.meta;
  if (leaderView && leader) {
    out.push(`  peers: ${[leaderView.server_name + ' (leader)', ...(leader.replicas ?? []).map((peer) => `${peer.name}${peer.offline ? ' OFFLINE' : peer.current ? ' current' : ' behind'}${peer.lag ? ` lag ${peer.lag}` : ''}`)].join(', ')}`);
  }
  const handle = await connectNats({ servers: options.store, replicas: 1, prefix: options.prefix });
  try {
    out.push(`Streams and buckets under prefix ${options.prefix} (KV_ and OBJ_ are buckets):`);
    let count = 0;
    let bytes = 0;
    for await (const info of handle.jsm.streams.list()) {
      if (!isUnderPrefix(info.config.name, options.prefix)) continue;
      out.push(streamLine(info));
      count++;
      bytes += info.state.bytes;
    }
    out.push(`  ${count} streams and buckets, ${bytes} bytes (one copy)`);
  } finally {
    await handle.close();
  }
  process.stdout.write(out.join('\n') + '\n');
}

/** `rivulet cluster status`: what an operator checks before and after taking a NATS node down. */
export function clusterCommand(): Command {
  const status = new Command('status')
    .description('show the JetStream meta leader and peers, and each Rivulet stream and bucket with its replicas, lag and size')
    .addOption(new Option('--store <url>', 'nats://host:port,… of the cluster, as given to `rivulet server --store`').makeOptionMandatory().argParser(natsServers))
    .addOption(new Option('--prefix <prefix>', 'prefix of the JetStream stream and bucket names Rivulet uses').default(DEFAULT_NATS_PREFIX))
    .addOption(new Option('--monitor <urls>', `nats-server monitoring URLs, comma-separated (default: each --store host at port ${DEFAULT_MONITOR_PORT})`).argParser(monitorUrls))
    .action((options: StatusOptions) => printStatus(options));
  return new Command('cluster').description('inspect a NATS JetStream cluster that Rivulet servers share').addCommand(status);
}
