// An in-process Rivulet server with its MQTT broker on ephemeral ports, the real `mqtt` client
// (MQTT 3.1.1) and the real @aws-sdk/client-kinesis to read back what was stored.

import type { ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { CreateStreamCommand, DescribeStreamCommand, KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startServer, type RunningServer, type ServerOptions } from '../../ingest-server/server.js';
import type { MqttRoute } from '../../ingest-server/mqtt/routes.js';
import { kinesisClient, readAll } from '../helpers/kinesis.js';

export const ROUTES: Partial<MqttRoute>[] = [
  { topic: 'meters/+/reading', stream: 'meters', partitionKey: '{2}' },
  { topic: 'gps/#', stream: 'gps', partitionKey: 'rig-{2}' },
  { topic: 'missing/+', stream: 'not-created' },
];

/** The keys test/helpers/kinesis.ts signs with. */
export const TEST_KEYS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

export interface MqttHarness {
  server: RunningServer;
  kinesis: KinesisClient;
  dir: string;
  mqttUrl: string;
  /** A connected MQTT 3.1.1 client, ended when the test ends. */
  connect(options?: IClientOptions): Promise<MqttClient>;
}

export interface HarnessOptions {
  routes?: Partial<MqttRoute>[];
  /** Require credentials: the server accepts TEST_KEYS (which the Kinesis client signs with). */
  authenticated?: boolean;
  server?: Partial<ServerOptions>;
  /** CA that signed the server's --tls-cert, for the Kinesis client. */
  ca?: Buffer;
  /** Streams to create, with their shard counts. */
  streams?: Record<string, number>;
}

export async function startMqttHarness(t: ExecutionContext, options: HarnessOptions = {}): Promise<MqttHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-mqtt-test-'));
  const mqttConfigFile = join(dir, 'mqtt.json');
  await writeFile(mqttConfigFile, JSON.stringify({ routes: options.routes ?? ROUTES }));
  let credentialsFile: string | undefined;
  if (options.authenticated) {
    credentialsFile = join(dir, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ accessKeys: [TEST_KEYS] }));
  }
  const server = await startServer({ dataDir: join(dir, 'data'), port: 0, mqttPort: 0, mqttConfigFile, ...(credentialsFile ? { credentialsFile } : {}), ...options.server });
  const kinesis = options.ca
    ? new KinesisClient({
        region: 'us-east-1',
        endpoint: server.url,
        credentials: TEST_KEYS,
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: options.ca }) }),
      })
    : kinesisClient(server.url, 'http1.1');
  const clients: MqttClient[] = [];
  t.teardown(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    kinesis.destroy();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (const [name, shards] of Object.entries(options.streams ?? { meters: 4, gps: 1 })) {
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  }
  const mqttUrl = `mqtt://127.0.0.1:${server.mqttPort}`;
  return {
    server,
    kinesis,
    dir,
    mqttUrl,
    async connect(clientOptions = {}) {
      const client = await mqtt.connectAsync(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, ...clientOptions });
      clients.push(client);
      return client;
    },
  };
}

/** Every record of the stream, shard by shard, each shard in sequence order. */
export async function recordsOf(kinesis: KinesisClient, stream: string): Promise<_Record[]> {
  const { StreamDescription } = await kinesis.send(new DescribeStreamCommand({ StreamName: stream }));
  const records: _Record[] = [];
  for (const shard of StreamDescription!.Shards!) records.push(...(await readAll(kinesis, stream, shard.ShardId!)).records);
  return records;
}

/** Data of the records as text, grouped by partition key, in stream order. */
export function byPartitionKey(records: _Record[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const record of records) {
    const list = groups.get(record.PartitionKey!) ?? [];
    list.push(Buffer.from(record.Data!).toString('utf8'));
    groups.set(record.PartitionKey!, list);
  }
  return groups;
}

/** Polls until `check` returns true or the time is up. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
