// Drives a real in-process Rivulet server with the real @aws-sdk/client-kinesis. Every test
// registered with `bothTransports` runs twice: once over the SDK's default handler (HTTP/2 with
// prior knowledge, h2c) and once over NodeHttpHandler (HTTP/1.1), each time against a fresh
// server on a fresh temporary data dir. With RIVULET_TEST_STORE=nats the server keeps its
// streams on a JetStream cluster instead (see nats-cluster.ts), so the same tests check both stores.

import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  type _Record,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startServer, type RunningServer, type ServerOptions } from '../../ingest-server/server.js';
import { TEST_STORE, testNatsStore } from './nats-cluster.js';

// The project supports Node 20; the SDK's notice that its future releases will not would
// otherwise be printed once by every test worker.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export type Transport = 'h2' | 'http1.1';
// On JetStream only one: the second pass checks the store, and the first already covered both transports.
export const TRANSPORTS: readonly Transport[] = TEST_STORE === 'nats' ? ['h2'] : ['h2', 'http1.1'];

/**
 * The clock the server reads: real time plus whatever the test added, so tests pass retention
 * and iterator lifetimes without sleeping. Frozen, it stands still until advanced, so per-second
 * throughput windows cannot roll over mid-test.
 */
export class TestClock {
  private offset = 0;
  private frozenAt: number | undefined;
  readonly now = (): number => (this.frozenAt ?? Date.now()) + this.offset;
  advance(ms: number): void {
    this.offset += ms;
  }
  freeze(): void {
    this.frozenAt = Date.now();
  }
}

export interface Harness {
  kinesis: KinesisClient;
  transport: Transport;
  server: RunningServer;
  dataDir: string;
  clock: TestClock;
  /** A second client on the same server and transport, e.g. for concurrent subscriptions. */
  newClient(): KinesisClient;
}

export type HarnessOptions = Partial<Omit<ServerOptions, 'dataDir' | 'port' | 'now'>>;

/** A Kinesis client for a local endpoint: dummy credentials, no retries, the given transport. */
export function kinesisClient(endpoint: string, transport: Transport): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
    maxAttempts: 1,
    ...(transport === 'http1.1' ? { requestHandler: new NodeHttpHandler() } : {}),
  });
}

/** Starts a server on a fresh temp dir and a client for `transport`; both go when the test ends. */
export async function startHarness(t: ExecutionContext, transport: Transport, options: HarnessOptions = {}): Promise<Harness> {
  const natsStore = await testNatsStore(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-ds-test-'));
  const clock = new TestClock();
  const server = await startServer({ ...(natsStore ? { natsStore } : {}), ...options, dataDir, port: 0, now: clock.now });
  const clients: KinesisClient[] = [];
  const newClient = () => {
    const client = kinesisClient(server.url, transport);
    clients.push(client);
    return client;
  };
  t.teardown(async () => {
    for (const client of clients) client.destroy();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { kinesis: newClient(), transport, server, dataDir, clock, newClient };
}

type Body = (t: ExecutionContext, harness: Harness) => Promise<void>;

/** Registers the test once per transport, titled `<title> [h2]` and `<title> [http1.1]`. */
export function bothTransports(title: string, body: Body, options: HarnessOptions = {}): void {
  for (const transport of TRANSPORTS) {
    test(`${title} [${transport}]`, async (t) => body(t, await startHarness(t, transport, options)));
  }
}

/** Asserts the call fails with the named AWS error (`error.name`) and returns the error. */
export async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, name: string): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  const error = await t.throwsAsync(promise);
  t.is(error?.name, name, error?.message);
  return error as Error;
}

/** The hash key AWS routes a partition key by, computed independently of the server. */
export function md5HashKey(partitionKey: string): bigint {
  return BigInt('0x' + createHash('md5').update(partitionKey, 'utf8').digest('hex'));
}

/** The shard whose hash key range holds the key. */
export function shardHolding(shards: Shard[], hashKey: bigint): Shard {
  const shard = shards.find((candidate) => BigInt(candidate.HashKeyRange!.StartingHashKey!) <= hashKey && hashKey <= BigInt(candidate.HashKeyRange!.EndingHashKey!));
  if (!shard) throw new Error(`no shard holds ${hashKey}`);
  return shard;
}

/** The shards DescribeStream lists for the stream. */
export async function describeShards(kinesis: KinesisClient, streamName: string): Promise<Shard[]> {
  const { StreamDescription } = await kinesis.send(new DescribeStreamCommand({ StreamName: streamName }));
  return StreamDescription!.Shards!;
}

/** Reads a shard from TRIM_HORIZON until a page comes back empty or the shard ends (then with its children). */
export async function readAll(kinesis: KinesisClient, streamName: string, shardId: string): Promise<{ records: _Record[]; childShards?: string[] }> {
  let { ShardIterator: iterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  const records: _Record[] = [];
  for (;;) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
    records.push(...page.Records!);
    if (!page.NextShardIterator) return { records, childShards: page.ChildShards!.map((child) => child.ShardId!) };
    if (page.Records!.length === 0) return { records };
    iterator = page.NextShardIterator;
  }
}

/** Every file under dir, as bytes. */
export async function filesUnder(dir: string): Promise<Buffer[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.filter((entry) => entry.isFile()).map((entry) => readFile(join(entry.parentPath, entry.name))));
}

export const HOUR_MS = 3_600_000;
