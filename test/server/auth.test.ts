// Authentication of a real `rivulet server --credentials FILE` process against unmodified
// clients: the JS SDK v3 over HTTP/2 (h2c) and HTTP/1.1, and the AWS CLI (HTTP/1.1, botocore's
// own SigV4 signer). Also the AWS CLI round trip against a server without credentials.

import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateStreamCommand, KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startServerProcess, tempDir, type ServerProcess } from '../helpers/server-process.js';

const run = promisify(execFile);

const AKID = 'AKIDRIVULETTEST';
const SECRET = 'rivulet/Test+Secret0123456789abcdefghij';
const OTHER_AKID = 'AKIDOTHERKEY';
const OTHER_SECRET = 'another-secret';

// Debian's awscli (v2 here) when installed; otherwise whatever `aws` is on PATH.
const AWS = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';

type Transport = 'h2' | 'http1.1';

function client(endpoint: string, transport: Transport, accessKeyId: string, secretAccessKey: string): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
    ...(transport === 'http1.1' ? { requestHandler: new NodeHttpHandler() } : {}),
  });
}

async function startWithCredentials(): Promise<ServerProcess> {
  const dir = await tempDir('rivulet-auth-');
  const credentials = join(dir.path, 'credentials.json');
  await writeFile(
    credentials,
    JSON.stringify({
      accessKeys: [
        { accessKeyId: AKID, secretAccessKey: SECRET, name: 'tests' },
        { accessKeyId: OTHER_AKID, secretAccessKey: OTHER_SECRET },
      ],
    }),
  );
  return startServerProcess({ dataDir: join(dir.path, 'data'), args: ['--credentials', credentials] });
}

interface AwsResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the AWS CLI isolated from any user configuration, with the given keys. */
async function aws(endpoint: string, args: string[], keys: { id: string; secret: string }): Promise<AwsResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    AWS_ACCESS_KEY_ID: keys.id,
    AWS_SECRET_ACCESS_KEY: keys.secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/rivulet-test/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/rivulet-test/aws-credentials',
    AWS_PAGER: '',
    AWS_MAX_ATTEMPTS: '1',
    AWS_RETRY_MODE: 'standard',
  };
  try {
    const { stdout, stderr } = await run(AWS, ['--endpoint-url', endpoint, '--output', 'json', ...args], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof failure.code !== 'number') throw error; // could not run it at all, or it hung
    return { code: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

let awsMajor: Promise<number> | undefined;
/** 1 or 2: v2 reads blob arguments as base64 unless told otherwise. */
function awsMajorVersion(): Promise<number> {
  awsMajor ??= run(AWS, ['--version']).then(({ stdout, stderr }) => Number(/aws-cli\/(\d+)/.exec(stdout + stderr)?.[1] ?? 1));
  return awsMajor;
}

for (const transport of ['h2', 'http1.1'] as const) {
  test(`SDK over ${transport}: right keys work, a wrong secret and an unknown key are refused`, async (t) => {
    const server = await startWithCredentials();
    t.teardown(() => server.kill('SIGKILL'));

    const good = client(server.url, transport, AKID, SECRET);
    const other = client(server.url, transport, OTHER_AKID, OTHER_SECRET);
    const wrongSecret = client(server.url, transport, AKID, SECRET + 'x');
    const unknownKey = client(server.url, transport, 'AKIDNOBODY', SECRET);
    t.teardown(() => [good, other, wrongSecret, unknownKey].forEach((c) => c.destroy()));

    await good.send(new CreateStreamCommand({ StreamName: 'auth', ShardCount: 1 }));
    t.deepEqual((await good.send(new ListStreamsCommand({}))).StreamNames, ['auth']);
    t.deepEqual((await other.send(new ListStreamsCommand({}))).StreamNames, ['auth']);

    const signature = await t.throwsAsync(wrongSecret.send(new ListStreamsCommand({})));
    t.is(signature?.name, 'InvalidSignatureException', String(signature));
    // AWS answers signature errors with 400 (JSON protocols) or 403; either is what SDKs expect.
    const status = (signature as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    t.true(status === 400 || status === 403, `status ${status}`);

    const unknown = await t.throwsAsync(unknownKey.send(new ListStreamsCommand({})));
    t.is(unknown?.name, 'UnrecognizedClientException', String(unknown));

    // A refused request changes nothing.
    const created = await t.throwsAsync(wrongSecret.send(new CreateStreamCommand({ StreamName: 'sneaky', ShardCount: 1 })));
    t.is(created?.name, 'InvalidSignatureException');
    t.deepEqual((await good.send(new ListStreamsCommand({}))).StreamNames, ['auth']);
  });
}

test('AWS CLI: right keys list streams, a wrong secret or unknown key fails', async (t) => {
  const server = await startWithCredentials();
  t.teardown(() => server.kill('SIGKILL'));
  const setup = client(server.url, 'h2', AKID, SECRET);
  t.teardown(() => setup.destroy());
  await setup.send(new CreateStreamCommand({ StreamName: 'cli-visible', ShardCount: 1 }));

  const [ok, wrongSecret, unknownKey] = await Promise.all([
    aws(server.url, ['kinesis', 'list-streams'], { id: AKID, secret: SECRET }),
    aws(server.url, ['kinesis', 'list-streams'], { id: AKID, secret: 'not-the-secret' }),
    aws(server.url, ['kinesis', 'list-streams'], { id: 'AKIDNOBODY', secret: SECRET }),
  ]);
  t.is(ok.code, 0, ok.stderr);
  t.deepEqual((JSON.parse(ok.stdout) as { StreamNames: string[] }).StreamNames, ['cli-visible']);

  t.not(wrongSecret.code, 0, wrongSecret.stdout);
  t.regex(wrongSecret.stderr, /InvalidSignatureException/);
  t.not(unknownKey.code, 0, unknownKey.stdout);
  t.regex(unknownKey.stderr, /UnrecognizedClientException/);
});

test('AWS CLI round trip without a credentials file: create-stream, put-record, get-shard-iterator, get-records', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => server.kill('SIGKILL'));
  const keys = { id: 'AKIDANY', secret: 'anything' };
  const binary = (await awsMajorVersion()) >= 2 ? ['--cli-binary-format', 'raw-in-base64-out'] : [];

  const created = await aws(server.url, ['kinesis', 'create-stream', '--stream-name', 'cli-round-trip', '--shard-count', '1'], keys);
  t.is(created.code, 0, created.stderr);

  const payload = `hello from the aws cli ${Date.now()}`;
  const put = await aws(server.url, ['kinesis', 'put-record', '--stream-name', 'cli-round-trip', '--partition-key', 'pk-1', '--data', payload, ...binary], keys);
  t.is(put.code, 0, put.stderr);
  const putResult = JSON.parse(put.stdout) as { ShardId: string; SequenceNumber: string };
  t.is(putResult.ShardId, 'shardId-000000000000');
  t.regex(putResult.SequenceNumber, /^\d+$/);

  const iterator = await aws(
    server.url,
    ['kinesis', 'get-shard-iterator', '--stream-name', 'cli-round-trip', '--shard-id', 'shardId-000000000000', '--shard-iterator-type', 'TRIM_HORIZON'],
    keys,
  );
  t.is(iterator.code, 0, iterator.stderr);
  const { ShardIterator } = JSON.parse(iterator.stdout) as { ShardIterator: string };
  t.truthy(ShardIterator);

  const records = await aws(server.url, ['kinesis', 'get-records', '--shard-iterator', ShardIterator], keys);
  t.is(records.code, 0, records.stderr);
  const result = JSON.parse(records.stdout) as { Records: { Data: string; PartitionKey: string; SequenceNumber: string }[]; NextShardIterator: string };
  t.is(result.Records.length, 1, records.stdout);
  const [record] = result.Records;
  t.is(Buffer.from(record!.Data, 'base64').toString('utf8'), payload);
  t.is(record!.PartitionKey, 'pk-1');
  t.is(record!.SequenceNumber, putResult.SequenceNumber);
  t.truthy(result.NextShardIterator);
});
