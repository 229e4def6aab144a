// Graceful shutdown of a real server process: SIGTERM (service managers, docker stop) and SIGINT
// (Ctrl-C) while clients hold connections open — a live SubscribeToShard event stream over
// HTTP/2, the SDK's idle h2 session, and an idle HTTP/1.1 keep-alive socket. The process must end
// those itself and exit 0 quickly, not sit out its 10 s grace period or hang. A request in
// flight when the signal comes is still answered, and what it wrote is there after a restart.

import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import {
  CreateStreamCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListStreamsCommand,
  PutRecordCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
  type SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { sleep, startServerProcess, within } from '../helpers/server-process.js';

const EXIT_WITHIN_MS = 4000;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} with an open SubscribeToShard and keep-alive connections: exit 0 within a few seconds`, async (t) => {
    const server = await startServerProcess();
    t.teardown(() => server.kill('SIGKILL'));
    const credentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET' };
    const h2 = new KinesisClient({ region: 'us-east-1', endpoint: server.url, credentials, maxAttempts: 1 });
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    const h1 = new KinesisClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    });
    t.teardown(() => {
      h2.destroy();
      h1.destroy();
      agent.destroy();
    });

    await h2.send(new CreateStreamCommand({ StreamName: 'shutdown', ShardCount: 1 }));
    const { StreamDescriptionSummary } = await h2.send(new DescribeStreamSummaryCommand({ StreamName: 'shutdown' }));
    const StreamARN = StreamDescriptionSummary!.StreamARN!;
    const { Consumer } = await h2.send(new RegisterStreamConsumerCommand({ StreamARN, ConsumerName: 'shutdown-consumer' }));
    for (let i = 0; ; i++) {
      const { ConsumerDescription } = await h2.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer!.ConsumerARN }));
      if (ConsumerDescription?.ConsumerStatus === 'ACTIVE') break;
      if (i > 100) throw new Error('consumer never became ACTIVE');
      await sleep(50);
    }

    // A live subscription (HTTP/2 event stream) that has delivered a record.
    const subscription = await h2.send(
      new SubscribeToShardCommand({ ConsumerARN: Consumer!.ConsumerARN, ShardId: 'shardId-000000000000', StartingPosition: { Type: 'LATEST' } }),
    );
    const received: string[] = [];
    let firstRecord!: () => void;
    const gotRecord = new Promise<void>((resolve) => (firstRecord = resolve));
    const consumed = (async () => {
      for await (const event of subscription.EventStream as AsyncIterable<SubscribeToShardEventStream>) {
        for (const record of event.SubscribeToShardEvent?.Records ?? []) {
          received.push(Buffer.from(record.Data!).toString());
          firstRecord();
        }
      }
    })().then(
      () => 'ended' as const,
      (error: Error) => `failed: ${error.name}: ${error.message}`,
    );
    await h1.send(new PutRecordCommand({ StreamName: 'shutdown', PartitionKey: 'k', Data: Buffer.from('before shutdown') }));
    await within(gotRecord, 5000, 'the subscription delivered nothing');
    t.deepEqual(received, ['before shutdown']);

    // Idle keep-alive connections: the HTTP/1.1 agent's socket and the SDK's h2 session.
    await h1.send(new ListStreamsCommand({}));
    await h2.send(new ListStreamsCommand({}));
    t.true(Object.values(agent.freeSockets).flat().length >= 1, 'the HTTP/1.1 client holds an idle keep-alive socket');
    // And a connection that was opened but has sent nothing yet (a TCP health check, a
    // pre-connecting client).
    const silent = net.connect(server.port, '127.0.0.1');
    silent.on('error', () => {});
    t.teardown(() => silent.destroy());
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));

    const signalledAt = Date.now();
    server.child.kill(signal);
    const exit = await within(server.exited, EXIT_WITHIN_MS + 8000, `still running after ${signal}\n${server.stderr()}`);
    const took = Date.now() - signalledAt;
    t.deepEqual(exit, { code: 0, signal: null }, server.stderr());
    t.true(took < EXIT_WITHIN_MS, `took ${took} ms to exit after ${signal}\n${server.stderr()}`);
    t.regex(server.stderr(), /"msg":"server stopped"/);

    // The subscriber sees its stream end (cleanly or as a closed connection), it does not hang.
    const outcome = await within(consumed, 3000, 'the subscriber still sees an open stream');
    t.log(`server exited ${took} ms after ${signal}; subscriber: ${outcome}`);
  });
}

test('SIGTERM while a request is in flight: it is answered, then the process exits 0, and its record survives', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => server.kill('SIGKILL'));
  const credentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET' };
  const setup = new KinesisClient({ region: 'us-east-1', endpoint: server.url, credentials, maxAttempts: 1 });
  t.teardown(() => setup.destroy());
  await setup.send(new CreateStreamCommand({ StreamName: 'in-flight', ShardCount: 1 }));
  setup.destroy();

  // A raw HTTP/1.1 PutRecord whose body arrives in two halves, the signal in between.
  const body = Buffer.from(JSON.stringify({ StreamName: 'in-flight', PartitionKey: 'k', Data: Buffer.from('sent across shutdown').toString('base64') }));
  const socket = net.connect(server.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let reply = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
  const replyEnded = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // `expect: 100-continue` makes node answer "100 Continue" as it hands the request to the
  // handler, so the client knows the request is in flight before the signal is sent.
  socket.write(
    `POST / HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\ncontent-type: application/x-amz-json-1.1\r\n` +
      `x-amz-target: Kinesis_20131202.PutRecord\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`,
  );
  socket.write(body.subarray(0, 10));
  await waitFor(() => /^HTTP\/1\.1 100 Continue\r\n\r\n/.test(reply), 5000, () => `no 100 Continue: ${reply}`);

  server.child.kill('SIGTERM');
  await waitFor(() => server.stderr().includes('"msg":"shutting down"'), 5000, () => `no shutdown logged:\n${server.stderr()}`);
  await sleep(100);
  t.is(server.child.exitCode, null, 'the server waits for the request in flight');
  socket.write(body.subarray(10));

  await within(replyEnded, 5000, `no complete reply; got: ${reply}`);
  const final = reply.slice(reply.indexOf('\r\n\r\n') + 4);
  t.regex(final, /^HTTP\/1\.1 200 /);
  t.regex(final, /^connection: close\r$/im, 'the client is told the connection ends');
  const sequenceNumber = (JSON.parse(final.slice(final.indexOf('\r\n\r\n') + 4)) as { SequenceNumber: string }).SequenceNumber;
  const exit = await within(server.exited, 4000, `still running after SIGTERM\n${server.stderr()}`);
  t.deepEqual(exit, { code: 0, signal: null }, server.stderr());

  const again = await startServerProcess({ dataDir: server.dataDir });
  t.teardown(() => again.kill('SIGKILL'));
  const reader = new KinesisClient({ region: 'us-east-1', endpoint: again.url, credentials, maxAttempts: 1 });
  t.teardown(() => reader.destroy());
  const { ShardIterator } = await reader.send(
    new GetShardIteratorCommand({ StreamName: 'in-flight', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const { Records } = await reader.send(new GetRecordsCommand({ ShardIterator }));
  t.deepEqual(
    Records?.map((record) => [record.SequenceNumber, Buffer.from(record.Data!).toString()]),
    [[sequenceNumber, 'sent across shutdown']],
  );
});

async function waitFor(condition: () => boolean, ms: number, message: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${message()} (after ${ms} ms)`);
    await sleep(10);
  }
}
