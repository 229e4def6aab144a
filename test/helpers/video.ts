// Drives a real in-process Rivulet server with the real Kinesis Video SDK v3 clients, over either
// transport: the SDK's default handler (HTTP/2 with prior knowledge, h2c) or NodeHttpHandler
// (HTTP/1.1). Each server gets a fresh temporary data dir, removed when the test ends;
// `videoTest` registers a test once per transport. With RIVULET_TEST_STORE=nats the server keeps
// streams and fragments on a JetStream cluster instead (see nats-cluster.ts).

import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { KinesisVideoArchivedMediaClient } from '@aws-sdk/client-kinesis-video-archived-media';
import { KinesisVideoMediaClient } from '@aws-sdk/client-kinesis-video-media';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startServer, type RunningServer, type ServerOptions } from '../../ingest-server/server.js';
import { TestClock, TRANSPORTS, type Transport } from './kinesis.js';
import { testNatsStore } from './nats-cluster.js';

export { TestClock, TRANSPORTS, type Transport } from './kinesis.js';

export interface VideoServer {
  url: string;
  server: RunningServer;
  dataDir: string;
  /** The clock the server reads; advance it to pass retention without sleeping. */
  clock: TestClock;
}

export type VideoServerOptions = Partial<Omit<ServerOptions, 'dataDir' | 'port' | 'now'>>;

/** Starts a server on a fresh temp dir; it stops and the dir goes when the test ends. */
export async function startVideoServer(t: ExecutionContext, options: VideoServerOptions = {}): Promise<VideoServer> {
  const natsStore = await testNatsStore(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-kvs-test-'));
  const clock = new TestClock();
  const server = await startServer({ ...(natsStore ? { natsStore } : {}), ...options, dataDir, port: 0, now: clock.now });
  t.teardown(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { url: server.url, server, dataDir, clock };
}

export interface VideoClients {
  video: KinesisVideoClient;
  media: KinesisVideoMediaClient;
  archived: KinesisVideoArchivedMediaClient;
}

// Frozen: the SDK clients mark the credentials object they are given (a `$source` field), which
// would then end up in credentials files written from it; clients get copies.
export const TEST_CREDENTIALS = Object.freeze({ accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' });

/**
 * The three Kinesis Video SDK clients for a local endpoint: dummy credentials, no retries, the
 * given transport; destroyed when the test ends if `t` is given.
 */
export function videoClients(url: string, transport: Transport, t?: ExecutionContext): VideoClients {
  const config = () => ({
    region: 'us-east-1',
    endpoint: url,
    credentials: { ...TEST_CREDENTIALS },
    maxAttempts: 1,
    ...(transport === 'http1.1' ? { requestHandler: new NodeHttpHandler() } : {}),
  });
  const clients = {
    video: new KinesisVideoClient(config()),
    media: new KinesisVideoMediaClient(config()),
    archived: new KinesisVideoArchivedMediaClient(config()),
  };
  t?.teardown(() => Object.values(clients).forEach((client) => client.destroy()));
  return clients;
}

type VideoTestBody = (t: ExecutionContext, harness: VideoServer & VideoClients & { transport: Transport }) => Promise<void>;

/** Registers the test once per transport (`<title> [h2]`, `<title> [http1.1]`), each with a fresh server and clients. */
export function videoTest(title: string, body: VideoTestBody, options: VideoServerOptions = {}): void {
  for (const transport of TRANSPORTS) {
    test(`${title} [${transport}]`, async (t) => {
      const server = await startVideoServer(t, options);
      await body(t, { ...server, ...videoClients(server.url, transport, t), transport });
    });
  }
}
