// `rivulet server --tls-cert --tls-key`: one HTTPS port that negotiates h2 or http/1.1 by ALPN.
// The certificate is self-signed and made here with openssl. Clients trust it explicitly through
// `ca` (with a subjectAltName for 127.0.0.1, so hostname checks stay on): the SDK's HTTP/2
// handler via `nodeHttp2ConnectOptions`, NodeHttpHandler via an https.Agent. Nothing turns
// verification off, and a client without the CA is shown to be refused.

import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListStreamsCommand,
  PutRecordCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';
import { startServerProcess, tempDir, within, type ServerProcess } from '../helpers/server-process.js';

const run = promisify(execFile);

interface TlsServer {
  server: ServerProcess;
  ca: Buffer;
}

async function startTlsServer(): Promise<TlsServer> {
  const dir = await tempDir('rivulet-tls-');
  const cert = join(dir.path, 'cert.pem');
  const key = join(dir.path, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ]);
  const server = await startServerProcess({ dataDir: join(dir.path, 'data'), args: ['--tls-cert', cert, '--tls-key', key] });
  return { server, ca: await readFile(cert) };
}

function h2Client(url: string, ca: Buffer): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    maxAttempts: 1,
    requestHandler: new NodeHttp2Handler({ nodeHttp2ConnectOptions: { ca } }),
  });
}

function http1Client(url: string, ca: Buffer): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca, keepAlive: true }) }),
  });
}

async function roundTrip(t: import('ava').ExecutionContext, kinesis: KinesisClient, stream: string): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  t.true((await kinesis.send(new ListStreamsCommand({}))).StreamNames?.includes(stream));
  const data = Buffer.from(`over tls to ${stream}`);
  const put = await kinesis.send(new PutRecordCommand({ StreamName: stream, PartitionKey: 'k', Data: data }));
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: put.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const { Records } = await kinesis.send(new GetRecordsCommand({ ShardIterator: ShardIterator! }));
  t.is(Records?.length, 1);
  t.is(Records?.[0]?.SequenceNumber, put.SequenceNumber);
  t.deepEqual(Buffer.from(Records![0]!.Data!), data);
}

test('TLS: ALPN offers h2 and http/1.1 on the same port', async (t) => {
  const { server, ca } = await startTlsServer();
  t.teardown(() => server.kill('SIGKILL'));
  t.regex(server.url, /^https:\/\//);

  const session = http2.connect(server.url, { ca });
  t.teardown(() => session.close());
  await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
  t.is(session.alpnProtocol, 'h2');
  const body = await new Promise<string>((resolve, reject) => {
    const request = session.request({ ':method': 'GET', ':path': '/health' });
    let text = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text)).on('error', reject);
  });
  t.is(body, '{"status":"ok"}');

  const viaHttp1 = await new Promise<{ version: string; alpn: string | false; body: string }>((resolve, reject) => {
    const agent = new https.Agent({ ca, ALPNProtocols: ['http/1.1'] });
    t.teardown(() => agent.destroy());
    const request = https.get(`${server.url}/health`, { agent }, (response) => {
      const alpn = (response.socket as import('node:tls').TLSSocket).alpnProtocol ?? false;
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ version: response.httpVersion, alpn, body: text }));
    });
    request.on('error', reject);
  });
  t.is(viaHttp1.version, '1.1');
  t.is(viaHttp1.alpn, 'http/1.1');
  t.is(viaHttp1.body, '{"status":"ok"}');
});

test('TLS: the SDK works over HTTP/2 (NodeHttp2Handler) and HTTP/1.1 (NodeHttpHandler)', async (t) => {
  const { server, ca } = await startTlsServer();
  t.teardown(() => server.kill('SIGKILL'));
  const h2 = h2Client(server.url, ca);
  const h1 = http1Client(server.url, ca);
  t.teardown(() => {
    h2.destroy();
    h1.destroy();
  });
  await roundTrip(t, h2, 'tls-h2');
  await roundTrip(t, h1, 'tls-http1');

  // Both clients keep their connections open (h2 session, keep-alive socket); SIGTERM still
  // ends the process at once.
  const signalledAt = Date.now();
  const exit = await within(server.kill('SIGTERM', 15_000), 12_000, `no exit after SIGTERM\n${server.stderr()}`);
  t.deepEqual(exit, { code: 0, signal: null }, server.stderr());
  t.true(Date.now() - signalledAt < 4000, `took ${Date.now() - signalledAt} ms to exit`);
});

test('TLS: a client that does not trust the certificate is refused', async (t) => {
  const { server } = await startTlsServer();
  t.teardown(() => server.kill('SIGKILL'));
  for (const requestHandler of [new NodeHttpHandler(), new NodeHttp2Handler()]) {
    const untrusting = new KinesisClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
      maxAttempts: 1,
      requestHandler,
    });
    t.teardown(() => untrusting.destroy());
    const error = await t.throwsAsync(untrusting.send(new ListStreamsCommand({})));
    t.regex(`${(error as NodeJS.ErrnoException).code} ${error?.message}`, /SELF_SIGNED|CERT|UNABLE_TO_VERIFY/i, requestHandler.constructor.name);
  }
  // Plain HTTP to the TLS port is not served as Kinesis either.
  await t.throwsAsync(fetch(server.url.replace('https:', 'http:') + '/health'));
});
