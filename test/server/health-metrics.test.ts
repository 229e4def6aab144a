// GET /health and GET /metrics on a real server process, over plain HTTP/1.1 as load balancers
// and Prometheus scrape them.

import test from 'ava';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { startServerProcess } from '../helpers/server-process.js';

/** Parses Prometheus text format samples: `name{labels} value`. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    out.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return out;
}

test('GET /health answers 200 {"status":"ok"}', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => server.kill('SIGKILL'));
  const response = await fetch(`${server.url}/health`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
  t.deepEqual(await response.json(), { status: 'ok' });
});

test('GET /metrics counts requests by operation in Prometheus text format', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => server.kill('SIGKILL'));
  const kinesis = new KinesisClient({
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    maxAttempts: 1,
  });
  t.teardown(() => kinesis.destroy());

  const before = await fetch(`${server.url}/metrics`);
  t.is(before.status, 200);
  t.regex(before.headers.get('content-type') ?? '', /^text\/plain/);
  t.is(samples(await before.text()).filter((s) => s.name === 'rivulet_requests_total').length, 0);

  await kinesis.send(new CreateStreamCommand({ StreamName: 'metered', ShardCount: 1 }));
  for (let i = 0; i < 3; i++) await kinesis.send(new ListStreamsCommand({}));
  await t.throwsAsync(kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'missing' })), { name: 'ResourceNotFoundException' });

  const response = await fetch(`${server.url}/metrics`);
  t.is(response.status, 200);
  const text = await response.text();
  t.regex(text, /^# TYPE rivulet_requests_total counter$/m);
  const parsed = samples(text);
  const requests = (operation: string) => parsed.find((s) => s.name === 'rivulet_requests_total' && s.labels['operation'] === operation)?.value;
  t.is(requests('CreateStream'), 1, text);
  t.is(requests('ListStreams'), 3, text);
  t.is(requests('DescribeStreamSummary'), 1, text);
  const errors = parsed.find((s) => s.name === 'rivulet_errors_total' && s.labels['error'] === 'ResourceNotFoundException');
  t.is(errors?.value, 1, text);
});
