// Server-side encryption through the real SDK: records are sealed before they reach the data dir
// and come back decrypted; keys come from the store or from an encryption keys file.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordCommand,
  PutRecordsCommand,
  StartStreamEncryptionCommand,
  StopStreamEncryptionCommand,
  type KinesisClient,
  type _Record,
} from '@aws-sdk/client-kinesis';
import { startServer } from '../../ingest-server/server.js';
import { TRANSPORTS, bothTransports, filesUnder, kinesisClient, rejectsWith, startHarness } from '../helpers/kinesis.js';

const SHARD = 'shardId-000000000000';
const DEFAULT_KEY = 'alias/aws/kinesis';

async function readAllRecords(kinesis: KinesisClient, stream: string): Promise<_Record[]> {
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: SHARD, ShardIteratorType: 'TRIM_HORIZON' }));
  return (await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records!;
}

/** Whether any file holds the plaintext, as raw bytes or inside base64 text at any alignment. */
function holds(files: Buffer[], plaintext: Buffer): boolean {
  const forms = [plaintext];
  for (let skip = 0; skip < 3; skip++) {
    const encoded = plaintext.subarray(skip).toString('base64');
    // Drop the characters that depend on the bytes around the slice.
    forms.push(Buffer.from(encoded.slice(0, Math.floor((plaintext.length - skip) / 3) * 4)));
  }
  return files.some((file) => forms.some((form) => file.includes(form)));
}

function distinctive(label: string): Buffer {
  return Buffer.from(`${label}:${randomBytes(24).toString('hex')}:meter-reading-kWh=12345.678`);
}

bothTransports('StartStreamEncryption with alias/aws/kinesis keeps plaintext out of the data dir', async (t, { kinesis, dataDir }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'sealed', ShardCount: 1 }));
  await kinesis.send(new CreateStreamCommand({ StreamName: 'open', ShardCount: 1 }));
  await kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'sealed', EncryptionType: 'KMS', KeyId: DEFAULT_KEY }));
  const { StreamDescription } = await kinesis.send(new DescribeStreamCommand({ StreamName: 'sealed' }));
  t.is(StreamDescription!.EncryptionType, 'KMS');
  t.is(StreamDescription!.KeyId, DEFAULT_KEY);

  const secret = distinctive('secret');
  const visible = distinctive('visible');
  const secretKey = `meter-${randomBytes(16).toString('hex')}`;
  const put = await kinesis.send(new PutRecordCommand({ StreamName: 'sealed', PartitionKey: secretKey, Data: secret }));
  t.is(put.EncryptionType, 'KMS');
  const batch = await kinesis.send(new PutRecordsCommand({ StreamName: 'sealed', Records: [{ PartitionKey: 'p', Data: Buffer.from(secret).reverse() }] }));
  t.is(batch.EncryptionType, 'KMS');
  t.is((await kinesis.send(new PutRecordCommand({ StreamName: 'open', PartitionKey: 'p', Data: visible }))).EncryptionType, 'NONE');

  const records = await readAllRecords(kinesis, 'sealed');
  t.true(Buffer.from(records[0]!.Data!).equals(secret));
  t.is(records[0]!.PartitionKey, secretKey);
  t.true(Buffer.from(records[1]!.Data!).equals(Buffer.from(secret).reverse()));
  t.true(records.every((record) => record.EncryptionType === 'KMS'));

  const files = await filesUnder(dataDir);
  t.true(holds(files, visible), 'the search finds an unencrypted record, so it would find a leaked one');
  t.false(holds(files, secret), 'the encrypted record is not in the data dir in plaintext');
  t.false(holds(files, Buffer.from(secret).reverse()));
  t.false(holds(files, Buffer.from(secretKey)), 'partition keys are encrypted too');
});

bothTransports('an unknown KeyId is KMSNotFoundException', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'sealed', ShardCount: 1 }));
  await rejectsWith(t, kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'sealed', EncryptionType: 'KMS', KeyId: 'alias/nope' })), 'KMSNotFoundException');
  t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'sealed' }))).StreamDescriptionSummary!.EncryptionType, 'NONE');
  await rejectsWith(t, kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'missing', EncryptionType: 'KMS', KeyId: DEFAULT_KEY })), 'ResourceNotFoundException');
});

for (const transport of TRANSPORTS) {
  test(`a key from the encryption keys file encrypts a stream, and records survive a restart [${transport}]`, async (t) => {
    const keysDir = await mkdtemp(join(tmpdir(), 'rivulet-keys-'));
    t.teardown(() => rm(keysDir, { recursive: true, force: true }));
    const keysFile = join(keysDir, 'keys.json');
    await writeFile(keysFile, JSON.stringify({ keys: [{ keyId: 'alias/meters', key: randomBytes(32).toString('hex') }] }));
    const { kinesis, server, dataDir } = await startHarness(t, transport, { encryptionKeysFile: keysFile });

    await kinesis.send(new CreateStreamCommand({ StreamName: 'metered', ShardCount: 1 }));
    await kinesis.send(new CreateStreamCommand({ StreamName: 'default', ShardCount: 1 }));
    await kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'metered', EncryptionType: 'KMS', KeyId: 'alias/meters' }));
    await kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'default', EncryptionType: 'KMS', KeyId: DEFAULT_KEY }));
    t.is((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'metered' }))).StreamDescriptionSummary!.KeyId, 'alias/meters');
    const secret = distinctive('metered');
    await kinesis.send(new PutRecordCommand({ StreamName: 'metered', PartitionKey: 'p', Data: secret }));
    await kinesis.send(new PutRecordCommand({ StreamName: 'default', PartitionKey: 'p', Data: Buffer.from('default key') }));
    t.true(Buffer.from((await readAllRecords(kinesis, 'metered'))[0]!.Data!).equals(secret));
    t.false(holds(await filesUnder(dataDir), secret));

    // The same data dir and keys file after a restart: both keys still open their records.
    await server.close();
    const restarted = await startServer({ dataDir, port: 0, encryptionKeysFile: keysFile });
    const client = kinesisClient(restarted.url, transport);
    try {
      const [metered] = await readAllRecords(client, 'metered');
      t.true(Buffer.from(metered!.Data!).equals(secret));
      t.is(metered!.EncryptionType, 'KMS');
      t.is(Buffer.from((await readAllRecords(client, 'default'))[0]!.Data!).toString(), 'default key');
    } finally {
      client.destroy();
      await restarted.close();
    }
  });
}

bothTransports('StopStreamEncryption: new records are plaintext, old ones still decrypt', async (t, { kinesis }) => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'toggled', ShardCount: 1 }));
  await kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'toggled', EncryptionType: 'KMS', KeyId: DEFAULT_KEY }));
  await kinesis.send(new PutRecordCommand({ StreamName: 'toggled', PartitionKey: 'p', Data: Buffer.from('while sealed') }));
  await kinesis.send(new StopStreamEncryptionCommand({ StreamName: 'toggled', EncryptionType: 'KMS', KeyId: DEFAULT_KEY }));
  const summary = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'toggled' }))).StreamDescriptionSummary!;
  t.is(summary.EncryptionType, 'NONE');
  t.is(summary.KeyId, undefined);
  const put = await kinesis.send(new PutRecordCommand({ StreamName: 'toggled', PartitionKey: 'p', Data: Buffer.from('after stop') }));
  t.is(put.EncryptionType, 'NONE');
  const records = await readAllRecords(kinesis, 'toggled');
  t.deepEqual(
    records.map((record) => [Buffer.from(record.Data!).toString(), record.EncryptionType]),
    [
      ['while sealed', 'KMS'],
      ['after stop', undefined],
    ],
  );
});
