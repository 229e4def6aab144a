// The uploader against a real in-process server: outages, partial failures (the server's AWS
// throughput limits), lost acknowledgements (resent, stored once thanks to ProducerId +
// ProducerSequence), SigV4, and the producer epoch.

import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { RecordBuffer } from '../../agent/buffer/index.js';
import { Uploader, type UploadSource } from '../../agent/uploader.js';
import { startServer, type RunningServer, type ServerOptions } from '../../ingest-server/server.js';
import { appender, assertExactlyOnceInOrder, client, createStream, openBuffer, readStream, tempDir, waitFor } from './helpers.js';

const MAX_BYTES = 1024 * 1024;



async function server(t: ExecutionContext, dataDir: string, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const running = await startServer({ dataDir, port: 0, ...options });
  t.teardown(() => running.close().catch(() => {}));
  return running;
}

function uploader(t: ExecutionContext, buffer: UploadSource, url: string, extra: Partial<ConstructorParameters<typeof Uploader>[0]> = {}): Uploader {
  const up = new Uploader({ buffer, url, deviceId: 'rig-1', intervalMs: 20, baseBackoffMs: 20, maxBackoffMs: 200, ...extra });
  t.teardown(() => up.stop());
  return up;
}

async function drained(buffer: RecordBuffer, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await buffer.stats()).backlogRecords === 0, timeoutMs, 'the buffer to drain');
}

test('server down for a while: backlog grows within its bound, then every record arrives exactly once, in order per key', async (t) => {
  const dir = await tempDir(t);
  const dataDir = join(dir, 'server');
  let running = await server(t, dataDir);
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 2);
  const buffer = await openBuffer(t, dir, { maxBytes: MAX_BYTES, streams: ['meters', 'meters'] });
  const append = appender(buffer, 40);
  const up = uploader(t, buffer, running.url, { batchRecords: 100 });
  up.start();

  const ids = await append(300);
  await drained(buffer);
  await running.close();

  const backlog: number[] = [];
  for (let round = 0; round < 10; round++) {
    ids.push(...(await append(200)));
    up.notify();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const stats = await buffer.stats();
    backlog.push(stats.backlogRecords);
    t.true(stats.backlogBytes <= stats.maxBytes);
  }
  t.true(backlog.every((value, index) => index === 0 || value > backlog[index - 1]!), `backlog grows while the server is down: ${backlog.join(',')}`);
  t.is(backlog.at(-1), 2000);
  t.truthy(up.stats.lastError, 'the failure is reported');
  t.true(up.stats.consecutiveFailures > 0);

  running = await server(t, dataDir, { port: running.port });
  await drained(buffer);
  t.is(up.stats.consecutiveFailures, 0);
  t.is(up.stats.uploadedRecords, 2300);
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(client(t, running.url), 'meters'), ids);
});

test('a partial failure (throttled entries) resends only the failed entries: no duplicates, order per key kept', async (t) => {
  const dir = await tempDir(t);
  const running = await server(t, join(dir, 'server'), { enforceThroughput: true });
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 1);
  // 2.5 KB records: one batch of 500 is more than the shard's 1 MiB/s, so some entries are throttled
  // however slowly this machine sends.
  const buffer = await openBuffer(t, dir, { maxBytes: 16 * MAX_BYTES, streams: ['meters', 'meters'] });
  const ids = await appender(buffer, 2500)(600);
  const up = uploader(t, buffer, running.url, { baseBackoffMs: 50, maxBackoffMs: 400 });
  up.start();
  await drained(buffer, 60_000);
  t.true(up.stats.failedEntries > 0, 'the server throttled some entries (1 MiB/s per shard)');
  t.is(up.stats.uploadedRecords, 600);
  t.regex(up.stats.lastError!.message, /ProvisionedThroughputExceededException/);
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(kinesis, 'meters'), ids);
});

test('acknowledged records that could not be removed (as after a crash) are resent and stored once', async (t) => {
  const dir = await tempDir(t);
  const running = await server(t, join(dir, 'server'));
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 2);
  const buffer = await openBuffer(t, dir, { maxBytes: MAX_BYTES, streams: ['meters', 'meters'] });
  const ids = await appender(buffer, 40)(1200);
  // The first three removes fail: the server has stored those batches, the buffer still has them.
  let failures = 3;
  const flaky: UploadSource = {
    producerEpoch: buffer.producerEpoch,
    peek: (limit, maxBytes) => buffer.peek(limit, maxBytes),
    remove: (sequences) => (failures-- > 0 ? Promise.reject(new Error('disk hiccup')) : buffer.remove(sequences)),
  };
  const up = uploader(t, flaky, running.url, { batchRecords: 500 });
  up.start();
  await drained(buffer);
  t.true(failures < 0);
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(kinesis, 'meters'), ids);
});

test('SigV4: signed with the device keys the server accepts; a wrong secret uploads nothing and says why', async (t) => {
  const dir = await tempDir(t);
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [{ accessKeyId: 'AKIDRIG1', secretAccessKey: 'rig-1-secret' }] }));
  const running = await server(t, join(dir, 'server'), { credentialsFile });
  const signed = new KinesisClient({ region: 'us-east-1', endpoint: running.url, credentials: { accessKeyId: 'AKIDRIG1', secretAccessKey: 'rig-1-secret' }, maxAttempts: 1, requestHandler: new NodeHttpHandler() });
  t.teardown(() => signed.destroy());
  await createStream(signed, 'meters', 1);
  const buffer = await openBuffer(t, dir, { maxBytes: MAX_BYTES, streams: ['meters', 'meters'] });
  const ids = await appender(buffer, 40)(50);

  const wrong = uploader(t, buffer, running.url, { credentials: { accessKeyId: 'AKIDRIG1', secretAccessKey: 'not-it' } });
  wrong.start();
  await waitFor(() => wrong.stats.lastError !== null, 10_000, 'the signature error');
  await wrong.stop();
  t.regex(wrong.stats.lastError!.message, /InvalidSignatureException/);
  t.is((await buffer.stats()).backlogRecords, 50);

  const right = uploader(t, buffer, running.url, { credentials: { accessKeyId: 'AKIDRIG1', secretAccessKey: 'rig-1-secret' } });
  right.start();
  await drained(buffer);
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(signed, 'meters'), ids);
});

test('the producer epoch survives a reopen and changes when the buffer file is recreated', async (t) => {
  const dir = await tempDir(t);
  const first = await RecordBuffer.open({ path: join(dir, 'b.db'), maxBytes: 1024, sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'reject-new' }] });
  const epoch = first.producerEpoch;
  t.regex(epoch, /^[0-9a-f]{16}$/);
  await first.close();
  const again = await RecordBuffer.open({ path: join(dir, 'b.db'), maxBytes: 1024, sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'reject-new' }] });
  t.is(again.producerEpoch, epoch);
  await again.close();
  const other = await RecordBuffer.open({ path: join(dir, 'c.db'), maxBytes: 1024, sources: [{ name: 'a', stream: 's', priority: 0, onFull: 'reject-new' }] });
  t.not(other.producerEpoch, epoch);
  t.is(new Uploader({ buffer: other, url: 'http://127.0.0.1:1', deviceId: 'rig-1' }).producerId, `rig-1/${other.producerEpoch}`);
  await other.close();
});

test('server down with a tight bound (drop-oldest): the backlog stays within it, the newest records survive and arrive once', async (t) => {
  const dir = await tempDir(t);
  const dataDir = join(dir, 'server');
  let running = await server(t, dataDir);
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'meters', 1);
  const bound = 20_000;
  const buffer = await RecordBuffer.open({ path: join(dir, 'tight.db'), maxBytes: bound, sources: [{ name: 'a', stream: 'meters', priority: 0, onFull: 'drop-oldest' }] });
  t.teardown(() => buffer.close());
  const port = running.port;
  await running.close();
  const up = uploader(t, buffer, `http://127.0.0.1:${port}`);
  up.start();
  let id = 0;
  for (let round = 0; round < 20; round++) {
    const records = Array.from({ length: 100 }, () => ({ partitionKey: `k${++id % 3}`, data: Buffer.from(JSON.stringify({ id })), timestamp: Date.now() }));
    await buffer.append('a', records);
    const stats = await buffer.stats();
    t.true(stats.backlogBytes <= bound, `${stats.backlogBytes} ≤ ${bound}`);
  }
  const before = await buffer.stats();
  t.true(before.sources[0]!.dropped > 0, 'the oldest records were evicted');
  running = await server(t, dataDir, { port });
  await drained(buffer);
  const stored = await readStream<{ id: number }>(kinesis, 'meters');
  const survivors = Array.from({ length: before.backlogRecords }, (_, index) => id - before.backlogRecords + 1 + index);
  assertExactlyOnceInOrder(t, stored, survivors);
});

test('a stream that does not exist yet holds back only its own records; they follow once it is created', async (t) => {
  const dir = await tempDir(t);
  const running = await server(t, join(dir, 'server'));
  const kinesis = client(t, running.url);
  await createStream(kinesis, 'gps', 1);
  const buffer = await RecordBuffer.open({
    path: join(dir, 'two.db'),
    maxBytes: MAX_BYTES * 8,
    sources: [
      { name: 'meter', stream: 'meters', priority: 0, onFull: 'reject-new' },
      { name: 'gps', stream: 'gps', priority: 0, onFull: 'reject-new' },
    ],
  });
  t.teardown(() => buffer.close());
  // The missing stream's backlog is older than a whole batch window.
  const meterIds = Array.from({ length: 3000 }, (_, index) => index + 1);
  await buffer.append('meter', meterIds.map((id) => ({ partitionKey: 'm', data: Buffer.from(JSON.stringify({ id })), timestamp: Date.now() })));
  const gpsIds = Array.from({ length: 200 }, (_, index) => index + 1);
  await buffer.append('gps', gpsIds.map((id) => ({ partitionKey: 'g', data: Buffer.from(JSON.stringify({ id })), timestamp: Date.now() })));

  const up = uploader(t, buffer, running.url, { batchRecords: 100, maxBackoffMs: 100 });
  up.start();
  await waitFor(() => (up.stats.uploadedBySource['gps'] ?? 0) === 200, 10_000, 'the gps records');
  t.deepEqual(up.stats.failingStreams, ['meters']);
  t.regex(up.stats.lastError!.message, /ResourceNotFoundException/);
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(kinesis, 'gps'), gpsIds);

  await createStream(kinesis, 'meters', 1);
  await drained(buffer);
  t.deepEqual(up.stats.failingStreams, []);
  assertExactlyOnceInOrder(t, await readStream<{ id: number }>(kinesis, 'meters'), meterIds);
});
