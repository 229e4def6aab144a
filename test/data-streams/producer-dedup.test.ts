// Exactly-once producers: the agent adds ProducerId and ProducerSequence to PutRecords (members
// AWS's model does not have, so the AWS SDK cannot send them; these tests post the JSON the
// agent's uploader sends) and a retry is answered with the original record instead of a copy.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../ingest-server/server.js';

async function call(server: RunningServer, operation: string, body: object): Promise<{ status: number; body: any }> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `Kinesis_20131202.${operation}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function entry(sequence: number, text = `reading ${sequence}`) {
  return { PartitionKey: `key-${sequence % 3}`, Data: Buffer.from(text).toString('base64'), ProducerSequence: String(sequence) };
}

async function readAll(server: RunningServer, stream: string): Promise<{ SequenceNumber: string; Data: string }[]> {
  const shards = (await call(server, 'ListShards', { StreamName: stream })).body.Shards as { ShardId: string }[];
  const records: { SequenceNumber: string; Data: string }[] = [];
  for (const { ShardId } of shards) {
    const iterator = (await call(server, 'GetShardIterator', { StreamName: stream, ShardId, ShardIteratorType: 'TRIM_HORIZON' })).body.ShardIterator;
    records.push(...(await call(server, 'GetRecords', { ShardIterator: iterator })).body.Records);
  }
  return records;
}

test('a retried PutRecords is stored once and answered with the original sequence numbers, also after a restart', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-dedup-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  let server = await startServer({ dataDir, port: 0 });
  t.teardown(() => server.close());
  await call(server, 'CreateStream', { StreamName: 'meters', ShardCount: 2 });

  const batch = { StreamName: 'meters', ProducerId: 'rig-1/epoch-a', Records: [1, 2, 3, 4].map((n) => entry(n)) };
  const first = await call(server, 'PutRecords', batch);
  t.is(first.status, 200);
  t.is(first.body.FailedRecordCount, 0);
  const again = await call(server, 'PutRecords', { ...batch, Records: [entry(3), entry(5), entry(1), entry(5)] });
  t.is(again.status, 200);
  t.deepEqual(again.body.Records[0], first.body.Records[2], 'a retry gets the original place');
  t.deepEqual(again.body.Records[2], first.body.Records[0]);
  t.deepEqual(again.body.Records[3], again.body.Records[1], 'a repeat within one request is stored once');

  await server.close();
  server = await startServer({ dataDir, port: 0 });
  const afterRestart = await call(server, 'PutRecords', { ...batch, Records: [entry(2)] });
  t.deepEqual(afterRestart.body.Records[0], first.body.Records[1], 'the producer log is durable with the records');
  const single = await call(server, 'PutRecord', { StreamName: 'meters', ProducerId: 'rig-1/epoch-a', ...entry(4) });
  t.is(single.body.SequenceNumber, first.body.Records[3].SequenceNumber);

  const otherProducer = await call(server, 'PutRecords', { StreamName: 'meters', ProducerId: 'rig-2/epoch-a', Records: [entry(1)] });
  t.not(otherProducer.body.Records[0].SequenceNumber, first.body.Records[0].SequenceNumber, 'sequences are per producer');

  const stored = await readAll(server, 'meters');
  t.is(stored.length, 6, 'readings 1–5 of rig-1 once each, and reading 1 of rig-2');
  t.is(new Set(stored.map((record) => record.SequenceNumber)).size, 6);
});

test('ProducerSequence needs a ProducerId, and a ProducerId needs a sequence on every record', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-dedup-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startServer({ dataDir, port: 0 });
  t.teardown(() => server.close());
  await call(server, 'CreateStream', { StreamName: 'meters', ShardCount: 1 });
  const orphan = await call(server, 'PutRecords', { StreamName: 'meters', Records: [entry(1)] });
  t.is(orphan.status, 400);
  t.is(orphan.body.__type, 'InvalidArgumentException');
  const { ProducerSequence: _dropped, ...withoutSequence } = entry(2);
  const missing = await call(server, 'PutRecords', { StreamName: 'meters', ProducerId: 'rig-1/a', Records: [entry(1), withoutSequence] });
  t.is(missing.status, 400);
  t.is(missing.body.__type, 'ValidationException');
  const zero = await call(server, 'PutRecords', { StreamName: 'meters', ProducerId: 'rig-1/a', Records: [{ ...entry(1), ProducerSequence: '0' }] });
  t.is(zero.body.__type, 'ValidationException');
  t.is((await readAll(server, 'meters')).length, 0, 'a refused request stores nothing');
});
