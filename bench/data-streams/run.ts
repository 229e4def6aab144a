// Data Streams throughput and latency, Rivulet side by side with kinesalite, in one run on
// this machine. Both servers run as their own processes with durable storage (Rivulet: SQLite
// WAL with synchronous=FULL; kinesalite: LevelDB via --path), driven by the AWS SDK v3 client.
//
//   node dist/bench/data-streams/run.js [--seconds 10] [--record-bytes 100]
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectHttp1, connectHttp2, member, occurrences } from '../lib/raw-kinesis.js';
import { startBenchServer, type BenchServer } from '../lib/processes.js';
import { percentile, table } from '../lib/stats.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'record-bytes': { type: 'string', default: '100' },
    producers: { type: 'string', default: '4' },
    'latency-records': { type: 'string', default: '2000' },
  },
});
const PUT_SECONDS = Number(args.seconds);
const RECORD_BYTES = Number(args['record-bytes']);
const PRODUCERS = Number(args.producers);
const LATENCY_RECORDS = Number(args['latency-records']);
const BATCH = 500;

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Target {
  label: string;
  server: BenchServer;
  http2: boolean;
}

/** The operations a benchmark row needs, by the AWS SDK or by the raw client. */
interface Driver {
  createActiveStream(name: string, shards: number): Promise<void>;
  /** Puts one batch as producer number `producer` (each producer has its own connection). */
  putRecords(producer: number, stream: string, partitionKeys: string[], data: Buffer): Promise<number>;
  /** Reads every shard from TRIM_HORIZON until `expected` records were seen; returns the count. */
  readAll(stream: string, expected: number): Promise<number>;
  close(): void;
}

function sdkClient(target: Target): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint: target.server.url,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
    ...(target.http2 ? {} : { requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: PRODUCERS * 2 }) }) }),
  });
}

function sdkDriver(target: Target): Driver {
  const kinesis = sdkClient(target);
  return {
    async createActiveStream(name, shards) {
      await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
      while ((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async putRecords(_producer, stream, partitionKeys, data) {
      const result = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: partitionKeys.map((PartitionKey) => ({ Data: data, PartitionKey })) }));
      return partitionKeys.length - (result.FailedRecordCount ?? 0);
    },
    async readAll(stream, expected) {
      const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
      let records = 0;
      await Promise.all(
        shards.map(async (shard) => {
          let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
          while (iterator && records < expected) {
            const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10000 }));
            records += page.Records?.length ?? 0;
            if ((page.Records?.length ?? 0) === 0) break;
            iterator = page.NextShardIterator;
          }
        }),
      );
      return records;
    },
    close: () => kinesis.destroy(),
  };
}

function rawDriver(target: Target): Driver {
  // One connection per producer, as separate producer processes would have.
  const connections = Array.from({ length: PRODUCERS }, () => (target.http2 ? connectHttp2 : connectHttp1)(target.server.url));
  const connection = () => connections[0]!;
  return {
    async createActiveStream(name, shards) {
      await connection().call('CreateStream', JSON.stringify({ StreamName: name, ShardCount: shards }));
      while (member(await connection().call('DescribeStreamSummary', JSON.stringify({ StreamName: name })), 'StreamStatus') !== 'ACTIVE') {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async putRecords(producer, stream, partitionKeys, data) {
      const encoded = data.toString('base64');
      const body = JSON.stringify({ StreamName: stream, Records: partitionKeys.map((PartitionKey) => ({ Data: encoded, PartitionKey })) });
      const answer = await connections[producer % connections.length]!.call('PutRecords', body);
      return partitionKeys.length - Number(/"FailedRecordCount":(\d+)/.exec(answer)?.[1] ?? 0);
    },
    async readAll(stream, expected) {
      const shardIds = (JSON.parse(await connection().call('ListShards', JSON.stringify({ StreamName: stream }))) as { Shards: { ShardId: string }[] }).Shards.map((shard) => shard.ShardId);
      let records = 0;
      await Promise.all(
        shardIds.map(async (shardId, index) => {
          const reader = connections[index % connections.length]!;
          let iterator = member(await reader.call('GetShardIterator', JSON.stringify({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' })), 'ShardIterator');
          while (iterator && records < expected) {
            const page = await reader.call('GetRecords', JSON.stringify({ ShardIterator: iterator, Limit: 10000 }));
            const count = occurrences(page, '"SequenceNumber"');
            records += count;
            if (count === 0) break;
            iterator = member(page, 'NextShardIterator');
          }
        }),
      );
      return records;
    },
    close: () => connections.forEach((each) => each.close()),
  };
}

interface Rate {
  records: number;
  seconds: number;
}

async function putLoad(driver: Driver, stream: string): Promise<Rate> {
  const data = randomBytes(RECORD_BYTES);
  let records = 0;
  const started = performance.now();
  const deadline = started + PUT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, producer) => {
      for (let batch = 0; performance.now() < deadline; batch++) {
        // Awaited first: `records += await …` would read `records` before the await and drop
        // the other producers' counts made meanwhile.
        const acknowledged = await driver.putRecords(producer, stream, Array.from({ length: BATCH }, (_, index) => `p${producer}-${batch}-${index}`), data);
        records += acknowledged;
      }
    }),
  );
  return { records, seconds: (performance.now() - started) / 1000 };
}

async function getLoad(driver: Driver, stream: string, expected: number): Promise<Rate> {
  const started = performance.now();
  const records = await driver.readAll(stream, expected);
  return { records, seconds: (performance.now() - started) / 1000 };
}

/** Put one record at a time and time its arrival through SubscribeToShard on the same clock. */
async function deliveryLatency(kinesis: KinesisClient, stream: string): Promise<number[]> {
  const streamArn = `arn:aws:kinesis:us-east-1:000000000000:stream/${stream}`;
  const consumer = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: 'latency' }));
  const subscription = await kinesis.send(
    new SubscribeToShardCommand({ ConsumerARN: consumer.Consumer!.ConsumerARN!, ShardId: 'shardId-000000000000', StartingPosition: { Type: 'LATEST' } }),
  );
  const latencies: number[] = [];
  const received = (async () => {
    for await (const event of subscription.EventStream!) {
      const now = performance.now();
      for (const record of event.SubscribeToShardEvent?.Records ?? []) latencies.push(now - Number(Buffer.from(record.Data!).toString()));
      if (latencies.length >= LATENCY_RECORDS) return;
    }
  })();
  for (let sent = 0; sent < LATENCY_RECORDS; sent++) {
    await kinesis.send(new PutRecordCommand({ StreamName: stream, PartitionKey: 'latency', Data: Buffer.from(String(performance.now())) }));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.race([received, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  return latencies;
}

function perSecond(rate: Rate): string {
  return Math.round(rate.records / rate.seconds).toLocaleString('en-US');
}

function megabytes(rate: Rate): string {
  return ((rate.records * RECORD_BYTES) / rate.seconds / 1e6).toFixed(1);
}

async function main(): Promise<void> {
  const rivulet = await startBenchServer('rivulet', [`${root}dist/cli/rivulet.js`, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn', '--shard-limit', '10000']);
  const kinesalite = await startBenchServer('kinesalite', [
    `${root}node_modules/kinesalite/cli.js`,
    '--port', '{port}', '--path', '{dir}', '--createStreamMs', '0', '--deleteStreamMs', '0', '--updateStreamMs', '0', '--shardLimit', '1000',
  ]);
  const targets: Target[] = [
    { label: 'rivulet, HTTP/2', server: rivulet, http2: true },
    { label: 'rivulet, HTTP/1.1', server: rivulet, http2: false },
    { label: 'kinesalite 3.3.3, HTTP/1.1', server: kinesalite, http2: false },
  ];
  const clients = [
    { label: 'raw', driver: rawDriver },
    { label: 'AWS SDK v3', driver: sdkDriver },
  ];
  console.log(
    `Data Streams benchmark: ${RECORD_BYTES}-byte records, PutRecords batches of ${BATCH}, ${PRODUCERS} concurrent producers, ` +
      `${PUT_SECONDS} s of puts per row, then every record read back with GetRecords (Limit 10000, one reader per shard).\n` +
      'Durable storage on both servers. "raw" is a minimal client that sends prepared JSON, so the figures measure the server; "AWS SDK v3" is what a JS application sees.\n',
  );
  const rows: string[][] = [];
  let stream = 0;
  try {
    for (const shards of [1, 4]) {
      for (const { label: clientLabel, driver: makeDriver } of clients) {
        for (const target of targets) {
          const driver = makeDriver(target);
          const name = `bench-${stream++}`;
          await driver.createActiveStream(name, shards);
          const put = await putLoad(driver, name);
          const get = await getLoad(driver, name, put.records);
          driver.close();
          rows.push([target.label, clientLabel, String(shards), perSecond(put), megabytes(put), perSecond(get), megabytes(get)]);
          console.error(`  done: ${target.label}, ${clientLabel} client, ${shards} shard(s)`);
        }
      }
    }
    console.log(table(['server', 'client', 'shards', 'put rec/s', 'put MB/s', 'get rec/s', 'get MB/s'], rows));

    await sdkDriver(targets[0]!).createActiveStream('bench-latency', 1);
    const kinesis = sdkClient(targets[0]!);
    const latencies = await deliveryLatency(kinesis, 'bench-latency');
    kinesis.destroy();
    console.log(
      `\nput → SubscribeToShard delivery (rivulet, HTTP/2, ${latencies.length} records, one PutRecord at a time): ` +
        `p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms`,
    );
    console.log('kinesalite: no SubscribeToShard (enhanced fan-out), so no delivery latency to compare.');
  } finally {
    await rivulet.stop();
    await kinesalite.stop();
  }
}

await main();
