// The Kinesis Video control plane through the real AWS SDK v3 client, over HTTP/2 and HTTP/1.1:
// what each operation answers, and the typed errors a client sees.

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  GetDataEndpointCommand,
  ListStreamsCommand,
  ListTagsForStreamCommand,
  TagStreamCommand,
  UntagStreamCommand,
  UpdateDataRetentionCommand,
  UpdateStreamCommand,
  type KinesisVideoClient,
  type StreamInfo,
} from '@aws-sdk/client-kinesis-video';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { writeCluster, writeMkvHeader } from '../../video/mkv/writer.js';
import { rejectsWith } from '../helpers/kinesis.js';
import { startVideoServer, TEST_CREDENTIALS, videoClients, videoTest } from '../helpers/video.js';
import { putBytes } from './media.js';

async function describe(video: KinesisVideoClient, name: string): Promise<StreamInfo> {
  return (await video.send(new DescribeStreamCommand({ StreamName: name }))).StreamInfo!;
}

videoTest('CreateStream makes an ACTIVE stream that DescribeStream shows by name or ARN', async (t, { video, clock }) => {
  const before = clock.now();
  const { StreamARN } = await video.send(
    new CreateStreamCommand({ StreamName: 'front-door', DeviceName: 'cam-1', MediaType: 'video/h264', DataRetentionInHours: 24, Tags: { site: 'north' } }),
  );
  t.regex(StreamARN!, /^arn:aws:kinesisvideo:us-east-1:000000000000:stream\/front-door\/\d+$/);
  const info = await describe(video, 'front-door');
  t.like(info, {
    StreamName: 'front-door',
    StreamARN,
    DeviceName: 'cam-1',
    MediaType: 'video/h264',
    KmsKeyId: 'alias/aws/kinesisvideo',
    Status: 'ACTIVE',
    DataRetentionInHours: 24,
  });
  t.regex(info.Version!, /^[a-zA-Z0-9]+$/);
  t.true(info.CreationTime instanceof Date && Math.abs(info.CreationTime.getTime() - before) < 5000);
  t.deepEqual((await video.send(new DescribeStreamCommand({ StreamARN }))).StreamInfo, info);

  const { StreamARN: bare } = await video.send(new CreateStreamCommand({ StreamName: 'bare' }));
  t.like(await describe(video, 'bare'), { StreamARN: bare, DataRetentionInHours: 0, KmsKeyId: 'alias/aws/kinesisvideo' });
});

videoTest('CreateStream refuses a taken name, bad names, a negative retention and too many tags', async (t, { video }) => {
  await video.send(new CreateStreamCommand({ StreamName: 'cam' }));
  const inUse = await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: 'cam' })), 'ResourceInUseException');
  t.is(inUse.$metadata?.httpStatusCode, 400);
  await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: 'has space' })), 'InvalidArgumentException');
  await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: 'x'.repeat(257) })), 'InvalidArgumentException');
  await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: '' })), 'InvalidArgumentException');
  await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: 'neg', DataRetentionInHours: -1 })), 'InvalidArgumentException');
  await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: 'media', MediaType: 'not a type' })), 'InvalidArgumentException');
  const tags = Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`k${index}`, 'v']));
  await rejectsWith(t, video.send(new CreateStreamCommand({ StreamName: 'tagged', Tags: tags })), 'TagsPerResourceExceededLimitException');
  t.deepEqual((await video.send(new ListStreamsCommand({}))).StreamInfoList!.map((info) => info.StreamName), ['cam']);
  t.is(await describe(video, 'x'.repeat(256)).catch((error: Error) => error.name), 'ResourceNotFoundException');
});

videoTest('an unknown stream is ResourceNotFoundException (HTTP 404) everywhere', async (t, { video }) => {
  const arn = 'arn:aws:kinesisvideo:us-east-1:000000000000:stream/ghost/1';
  const error = await rejectsWith(t, video.send(new DescribeStreamCommand({ StreamName: 'ghost' })), 'ResourceNotFoundException');
  t.is(error.$metadata?.httpStatusCode, 404);
  await rejectsWith(t, video.send(new DescribeStreamCommand({ StreamARN: arn })), 'ResourceNotFoundException');
  await rejectsWith(t, video.send(new DeleteStreamCommand({ StreamARN: arn })), 'ResourceNotFoundException');
  await rejectsWith(t, video.send(new UpdateStreamCommand({ StreamName: 'ghost', CurrentVersion: 'abc' })), 'ResourceNotFoundException');
  await rejectsWith(
    t,
    video.send(new UpdateDataRetentionCommand({ StreamName: 'ghost', CurrentVersion: 'abc', Operation: 'INCREASE_DATA_RETENTION', DataRetentionChangeInHours: 1 })),
    'ResourceNotFoundException',
  );
  await rejectsWith(t, video.send(new GetDataEndpointCommand({ StreamName: 'ghost', APIName: 'PUT_MEDIA' })), 'ResourceNotFoundException');
  await rejectsWith(t, video.send(new TagStreamCommand({ StreamName: 'ghost', Tags: { a: 'b' } })), 'ResourceNotFoundException');
  await rejectsWith(t, video.send(new UntagStreamCommand({ StreamName: 'ghost', TagKeyList: ['a'] })), 'ResourceNotFoundException');
  await rejectsWith(t, video.send(new ListTagsForStreamCommand({ StreamName: 'ghost' })), 'ResourceNotFoundException');
  await rejectsWith(t, video.send(new DescribeStreamCommand({})), 'InvalidArgumentException');
  // The ARN of a deleted stream does not reach a new stream of the same name.
  const { StreamARN: first } = await video.send(new CreateStreamCommand({ StreamName: 'again' }));
  await video.send(new DeleteStreamCommand({ StreamARN: first }));
  await new Promise((resolve) => setTimeout(resolve, 2));
  await video.send(new CreateStreamCommand({ StreamName: 'again' }));
  await rejectsWith(t, video.send(new DescribeStreamCommand({ StreamARN: first })), 'ResourceNotFoundException');
});

videoTest('ListStreams pages with MaxResults/NextToken and filters by name prefix', async (t, { video }) => {
  for (const name of ['cam-b', 'cam-a', 'door', 'cam-c']) await video.send(new CreateStreamCommand({ StreamName: name }));
  const all = await video.send(new ListStreamsCommand({}));
  t.deepEqual(all.StreamInfoList!.map((info) => info.StreamName), ['cam-a', 'cam-b', 'cam-c', 'door']);
  t.is(all.NextToken, undefined);
  t.like(all.StreamInfoList![0], { Status: 'ACTIVE', KmsKeyId: 'alias/aws/kinesisvideo' });

  const condition = { ComparisonOperator: 'BEGINS_WITH' as const, ComparisonValue: 'cam-' };
  const first = await video.send(new ListStreamsCommand({ MaxResults: 2, StreamNameCondition: condition }));
  t.deepEqual(first.StreamInfoList!.map((info) => info.StreamName), ['cam-a', 'cam-b']);
  t.truthy(first.NextToken);
  const second = await video.send(new ListStreamsCommand({ MaxResults: 2, StreamNameCondition: condition, NextToken: first.NextToken }));
  t.deepEqual(second.StreamInfoList!.map((info) => info.StreamName), ['cam-c']);
  t.is(second.NextToken, undefined);
  await rejectsWith(t, video.send(new ListStreamsCommand({ MaxResults: 0 })), 'InvalidArgumentException');
});

videoTest('UpdateStream and UpdateDataRetention need the current version and give a new one', async (t, { video }) => {
  await video.send(new CreateStreamCommand({ StreamName: 'cam', DataRetentionInHours: 2 }));
  const v1 = (await describe(video, 'cam')).Version!;
  await video.send(new UpdateStreamCommand({ StreamName: 'cam', CurrentVersion: v1, DeviceName: 'porch', MediaType: 'video/h265' }));
  const updated = await describe(video, 'cam');
  t.like(updated, { DeviceName: 'porch', MediaType: 'video/h265' });
  t.not(updated.Version, v1);
  const stale = await rejectsWith(t, video.send(new UpdateStreamCommand({ StreamName: 'cam', CurrentVersion: v1, DeviceName: 'x' })), 'VersionMismatchException');
  t.is(stale.$metadata?.httpStatusCode, 400);

  const retain = (operation: 'INCREASE_DATA_RETENTION' | 'DECREASE_DATA_RETENTION', hours: number, version: string) =>
    video.send(new UpdateDataRetentionCommand({ StreamName: 'cam', CurrentVersion: version, Operation: operation, DataRetentionChangeInHours: hours }));
  await retain('INCREASE_DATA_RETENTION', 10, updated.Version!);
  const increased = await describe(video, 'cam');
  t.is(increased.DataRetentionInHours, 12);
  await rejectsWith(t, retain('DECREASE_DATA_RETENTION', 1, updated.Version!), 'VersionMismatchException');
  await rejectsWith(t, retain('DECREASE_DATA_RETENTION', 13, increased.Version!), 'InvalidArgumentException');
  await rejectsWith(t, retain('INCREASE_DATA_RETENTION', 0, increased.Version!), 'InvalidArgumentException');
  await retain('DECREASE_DATA_RETENTION', 12, increased.Version!);
  t.is((await describe(video, 'cam')).DataRetentionInHours, 0);
});

videoTest('DeleteStream removes the stream, checking CurrentVersion when given', async (t, { video }) => {
  const { StreamARN } = await video.send(new CreateStreamCommand({ StreamName: 'cam' }));
  await rejectsWith(t, video.send(new DeleteStreamCommand({ StreamARN, CurrentVersion: 'stale' })), 'VersionMismatchException');
  await video.send(new DeleteStreamCommand({ StreamARN, CurrentVersion: (await describe(video, 'cam')).Version }));
  await rejectsWith(t, video.send(new DescribeStreamCommand({ StreamName: 'cam' })), 'ResourceNotFoundException');
  const { StreamARN: second } = await video.send(new CreateStreamCommand({ StreamName: 'cam2' }));
  await video.send(new DeleteStreamCommand({ StreamARN: second }));
  t.deepEqual((await video.send(new ListStreamsCommand({}))).StreamInfoList, []);
});

videoTest('TagStream, UntagStream and ListTagsForStream work by name or ARN, within 50 tags', async (t, { video }) => {
  const { StreamARN } = await video.send(new CreateStreamCommand({ StreamName: 'cam', Tags: { site: 'north' } }));
  await video.send(new TagStreamCommand({ StreamName: 'cam', Tags: { floor: '2', site: 'south' } }));
  t.deepEqual((await video.send(new ListTagsForStreamCommand({ StreamARN }))).Tags, { floor: '2', site: 'south' });
  await video.send(new UntagStreamCommand({ StreamARN, TagKeyList: ['site', 'absent'] }));
  t.deepEqual((await video.send(new ListTagsForStreamCommand({ StreamName: 'cam' }))).Tags, { floor: '2' });
  const many = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`k${index}`, 'v']));
  await rejectsWith(t, video.send(new TagStreamCommand({ StreamName: 'cam', Tags: many })), 'TagsPerResourceExceededLimitException');
  await rejectsWith(t, video.send(new UntagStreamCommand({ StreamName: 'cam', TagKeyList: [] })), 'InvalidArgumentException');
  t.deepEqual((await video.send(new ListTagsForStreamCommand({ StreamName: 'cam' }))).Tags, { floor: '2' });
});

videoTest('GetDataEndpoint answers with the address the client reached the server at', async (t, { video, url }) => {
  await video.send(new CreateStreamCommand({ StreamName: 'cam' }));
  for (const APIName of ['PUT_MEDIA', 'GET_MEDIA', 'LIST_FRAGMENTS', 'GET_MEDIA_FOR_FRAGMENT_LIST'] as const) {
    t.is((await video.send(new GetDataEndpointCommand({ StreamName: 'cam', APIName }))).DataEndpoint, url);
  }
  const localhost = url.replace('127.0.0.1', 'localhost');
  const viaName = videoClients(localhost, 'http1.1', t).video;
  t.is((await viaName.send(new GetDataEndpointCommand({ StreamName: 'cam', APIName: 'GET_MEDIA' }))).DataEndpoint, localhost);
  await rejectsWith(t, video.send(new GetDataEndpointCommand({ StreamName: 'cam', APIName: 'PUT_FRAGMENTS' as never })), 'InvalidArgumentException');
});

test('with credentials, only correctly signed Kinesis Video requests are served', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-kvs-creds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [TEST_CREDENTIALS] }));
  const { url } = await startVideoServer(t, { credentialsFile });
  const { video } = videoClients(url, 'h2', t);
  await video.send(new CreateStreamCommand({ StreamName: 'cam' }));
  t.is((await describe(video, 'cam')).StreamName, 'cam');

  const { video: wrongSecret } = videoClients(url, 'h2', t);
  wrongSecret.config.credentials = async () => ({ ...TEST_CREDENTIALS, secretAccessKey: 'wrong' });
  await rejectsWith(t, wrongSecret.send(new DescribeStreamCommand({ StreamName: 'cam' })), 'InvalidSignatureException');

  const unsigned = await fetch(`${url}/describeStream`, { method: 'POST', body: JSON.stringify({ StreamName: 'cam' }), headers: { 'content-type': 'application/json' } });
  t.is(unsigned.status, 403);
  t.is(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
  // PutMedia is refused before its body is read when unsigned.
  const putMedia = await fetch(`${url}/putMedia`, { method: 'POST', body: randomBytes(100), headers: { 'x-amzn-stream-name': 'cam' } });
  t.is(putMedia.status, 403);

  // A streaming body cannot be hashed up front: the signature covers UNSIGNED-PAYLOAD and the headers.
  const signedPutMedia = async (secretAccessKey: string) => {
    const signer = new SignatureV4({ credentials: { ...TEST_CREDENTIALS, secretAccessKey }, region: 'us-east-1', service: 'kinesisvideo', sha256: Sha256 });
    const { hostname, port } = new URL(url);
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname,
      port: Number(port),
      path: '/putMedia',
      headers: { host: `${hostname}:${port}`, 'x-amzn-stream-name': 'absent', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    const { host: _host, ...headers } = signed.headers;
    return fetch(`${url}/putMedia`, { method: 'POST', body: randomBytes(100), headers });
  };
  const wellSigned = await signedPutMedia(TEST_CREDENTIALS.secretAccessKey);
  t.is(wellSigned.headers.get('x-amzn-errortype'), 'ResourceNotFoundException', 'past authentication to the stream lookup');
  t.is((await signedPutMedia('wrong')).headers.get('x-amzn-errortype'), 'InvalidSignatureException');
});

test('retention trims each stream by its own DataRetentionInHours, on the server\'s own schedule; 0 keeps fragments for a minute', async (t) => {
  const { url, clock } = await startVideoServer(t, { retentionSweepMs: 100 });
  const { video, archived } = videoClients(url, 'http1.1', t);
  await video.send(new CreateStreamCommand({ StreamName: 'hour', DataRetentionInHours: 1 }));
  await video.send(new CreateStreamCommand({ StreamName: 'none' }));
  const put = async (name: string, producerMs: number) => {
    const acks = await putBytes({ endpoint: url, streamName: name, timecodeType: 'ABSOLUTE' }, Buffer.concat([writeMkvHeader([{ number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' }]), writeCluster(producerMs, [{ track: 1, timecode: 0, keyframe: true, data: randomBytes(500) }])]));
    return acks.find((ack) => ack.EventType === 'PERSISTED')!.FragmentNumber!;
  };
  const listed = async (name: string) => ((await archived.send(new ListFragmentsCommand({ StreamName: name }))).Fragments ?? []).map((fragment) => fragment.FragmentNumber!).sort();
  const t0 = clock.now();
  const hourOld = await put('hour', t0);
  const noneOld = await put('none', t0);
  clock.advance(30 * 60_000);
  const hourRecent = await put('hour', t0 + 1000);
  clock.advance(31 * 60_000);
  const noneRecent = await put('none', t0 + 1000);

  // 61 minutes after the first puts: the server's sweep removes what its stream no longer keeps.
  const deadline = Date.now() + 10_000;
  while ((await listed('hour')).length > 1 || (await listed('none')).length > 1) {
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.deepEqual(await listed('hour'), [hourRecent], `${hourOld} is past the hour`);
  t.deepEqual(await listed('none'), [noneRecent], `${noneOld} is past the minute`);
});
