// Scale-out benchmark: PutRecords throughput of 1, 2 and 3 Rivulet nodes sharing a local 3-node
// NATS JetStream cluster (every stream R=3), against one node on the embedded SQLite store, in
// one run. Load comes from the raw client (prepared JSON), spread evenly over the nodes, so the
// figures measure the servers and the store. Target: JetStream at least half the embedded rate.

import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startNatsCluster } from '../lib/nats-cluster.js';
import { startBenchServer, type BenchServer } from '../lib/processes.js';
import { connectHttp1, member, type RawConnection } from '../lib/raw-kinesis.js';
import { table } from '../lib/stats.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'record-bytes': { type: 'string', default: '100' },
    'producers-per-node': { type: 'string', default: '4' },
    shards: { type: 'string', default: '4' },
  },
});
const PUT_SECONDS = Number(args.seconds);
const RECORD_BYTES = Number(args['record-bytes']);
const PRODUCERS_PER_NODE = Number(args['producers-per-node']);
const SHARDS = Number(args.shards);
const BATCH = 500;
/** JetStream must reach this share of the embedded single node's rate. */
const TARGET_SHARE = 0.5;

const cli = fileURLToPath(new URL('../../cli/rivulet.js', import.meta.url));

interface Rate {
  records: number;
  seconds: number;
  failedCalls: number;
}

/** Creates the stream through the first node and waits until every node sees it ACTIVE. */
async function createActiveStream(connections: RawConnection[], name: string): Promise<void> {
  await connections[0]!.call('CreateStream', JSON.stringify({ StreamName: name, ShardCount: SHARDS }));
  for (const connection of connections) {
    while (member(await connection.call('DescribeStreamSummary', JSON.stringify({ StreamName: name })), 'StreamStatus') !== 'ACTIVE') {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** PRODUCERS_PER_NODE producers per node put batches for PUT_SECONDS; counts acknowledged records. */
async function putLoad(nodes: BenchServer[], stream: string): Promise<Rate> {
  const producers = nodes.flatMap((node) => Array.from({ length: PRODUCERS_PER_NODE }, () => connectHttp1(node.url)));
  // One connection per node, so each node is asked.
  await createActiveStream(producers.filter((_, index) => index % PRODUCERS_PER_NODE === 0), stream);
  const data = randomBytes(RECORD_BYTES).toString('base64');
  const rate: Rate = { records: 0, seconds: 0, failedCalls: 0 };
  const started = performance.now();
  const deadline = started + PUT_SECONDS * 1000;
  await Promise.all(
    producers.map(async (connection, producer) => {
      for (let batch = 0; performance.now() < deadline; batch++) {
        const body = JSON.stringify({ StreamName: stream, Records: Array.from({ length: BATCH }, (_, index) => ({ Data: data, PartitionKey: `p${producer}-${batch}-${index}` })) });
        try {
          const answer = await connection.call('PutRecords', body);
          rate.records += BATCH - Number(/"FailedRecordCount":(\d+)/.exec(answer)?.[1] ?? 0);
        } catch {
          rate.failedCalls++;
        }
      }
    }),
  );
  rate.seconds = (performance.now() - started) / 1000;
  producers.forEach((connection) => connection.close());
  return rate;
}

function perSecond(rate: Rate): number {
  return rate.records / rate.seconds;
}

async function main(): Promise<void> {
  console.log(
    `Scale-out benchmark: ${RECORD_BYTES}-byte records, PutRecords batches of ${BATCH}, ${PRODUCERS_PER_NODE} producers per Rivulet node (raw HTTP/1.1 client), ` +
      `one ${SHARDS}-shard stream per row, ${PUT_SECONDS} s of puts. JetStream: 3 local nats-server nodes, every stream R=3 (acknowledged once a quorum stored it). ` +
      `Everything shares this machine's ${availableParallelism()} cores.\n`,
  );
  const rows: string[][] = [];
  const embedded = await startBenchServer('embedded', [cli, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn']);
  let embeddedRate: number;
  try {
    const rate = await putLoad([embedded], 'bench-embedded');
    embeddedRate = perSecond(rate);
    rows.push(['embedded (SQLite)', '1', Math.round(embeddedRate).toLocaleString('en-US'), '100%', String(rate.failedCalls)]);
    console.error('  done: embedded, 1 node');
  } finally {
    await embedded.stop();
  }

  const cluster = await startNatsCluster(3);
  const nodes: BenchServer[] = [];
  const jetStreamRates: number[] = [];
  try {
    for (let count = 1; count <= 3; count++) {
      nodes.push(await startBenchServer(`rivulet-${count}`, [cli, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn', '--store', cluster.urls.join(','), '--replicas', '3']));
      const rate = await putLoad(nodes, `bench-jetstream-${count}`);
      jetStreamRates.push(perSecond(rate));
      rows.push(['JetStream R=3', String(count), Math.round(perSecond(rate)).toLocaleString('en-US'), `${Math.round((perSecond(rate) / embeddedRate) * 100)}%`, String(rate.failedCalls)]);
      console.error(`  done: JetStream, ${count} node(s)`);
    }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    await cluster.stop();
  }
  console.log(table(['store', 'rivulet nodes', 'put rec/s', 'of embedded', 'failed calls'], rows));
  const best = Math.max(...jetStreamRates);
  const met = best >= TARGET_SHARE * embeddedRate;
  console.log(
    `\ntarget: JetStream ≥ ${TARGET_SHARE * 100}% of the embedded single node (${Math.round(TARGET_SHARE * embeddedRate).toLocaleString('en-US')} rec/s): ` +
      `best JetStream row ${Math.round(best).toLocaleString('en-US')} rec/s (${Math.round((best / embeddedRate) * 100)}%) — ${met ? 'met' : 'MISSED'}`,
  );
}

await main();
