// The signaling channel control plane and GetIceServerConfig, through the AWS SDK v3 clients.

import test from 'ava';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSignalingChannelCommand,
  DeleteSignalingChannelCommand,
  DescribeSignalingChannelCommand,
  GetSignalingChannelEndpointCommand,
  ListSignalingChannelsCommand,
  ListTagsForResourceCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  TagResourceCommand,
  TagsPerResourceExceededLimitException,
  UntagResourceCommand,
  UpdateSignalingChannelCommand,
  VersionMismatchException,
} from '@aws-sdk/client-kinesis-video';
import { GetIceServerConfigCommand, KinesisVideoSignalingClient } from '@aws-sdk/client-kinesis-video-signaling';
import { ServerOptionsError, startServer } from '../../ingest-server/server.js';
import { startVideoServer, TEST_CREDENTIALS, videoClients, videoTest } from '../helpers/video.js';

videoTest('signaling channels are created, described, listed, updated and deleted', async (t, { video, url }) => {
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'front-door', Tags: [{ Key: 'site', Value: 'home' }] }));
  t.regex(ChannelARN!, /^arn:aws:kinesisvideo:us-east-1:000000000000:channel\/front-door\/\d+$/);
  await video.send(new CreateSignalingChannelCommand({ ChannelName: 'back-yard', SingleMasterConfiguration: { MessageTtlSeconds: 30 } }));
  await t.throwsAsync(video.send(new CreateSignalingChannelCommand({ ChannelName: 'front-door' })), { instanceOf: ResourceInUseException });

  const { ChannelInfo } = await video.send(new DescribeSignalingChannelCommand({ ChannelName: 'front-door' }));
  t.like(ChannelInfo, { ChannelName: 'front-door', ChannelARN, ChannelType: 'SINGLE_MASTER', ChannelStatus: 'ACTIVE', SingleMasterConfiguration: { MessageTtlSeconds: 60 } });
  t.true(ChannelInfo!.CreationTime instanceof Date);

  const listed = await video.send(new ListSignalingChannelsCommand({}));
  t.deepEqual(listed.ChannelInfoList!.map((info) => info.ChannelName), ['back-yard', 'front-door']);
  const page = await video.send(new ListSignalingChannelsCommand({ MaxResults: 1 }));
  t.deepEqual(page.ChannelInfoList!.map((info) => info.ChannelName), ['back-yard']);
  const next = await video.send(new ListSignalingChannelsCommand({ MaxResults: 1, NextToken: page.NextToken! }));
  t.deepEqual(next.ChannelInfoList!.map((info) => info.ChannelName), ['front-door']);
  const prefixed = await video.send(new ListSignalingChannelsCommand({ ChannelNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'front' } }));
  t.deepEqual(prefixed.ChannelInfoList!.map((info) => info.ChannelName), ['front-door']);

  await t.throwsAsync(
    video.send(new UpdateSignalingChannelCommand({ ChannelARN, CurrentVersion: 'stale', SingleMasterConfiguration: { MessageTtlSeconds: 10 } })),
    { instanceOf: VersionMismatchException },
  );
  await video.send(new UpdateSignalingChannelCommand({ ChannelARN, CurrentVersion: ChannelInfo!.Version!, SingleMasterConfiguration: { MessageTtlSeconds: 10 } }));
  const updated = await video.send(new DescribeSignalingChannelCommand({ ChannelARN }));
  t.is(updated.ChannelInfo!.SingleMasterConfiguration!.MessageTtlSeconds, 10);
  t.not(updated.ChannelInfo!.Version, ChannelInfo!.Version);

  const endpoints = await video.send(
    new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: 'VIEWER' } }),
  );
  t.deepEqual(endpoints.ResourceEndpointList, [
    { Protocol: 'WSS', ResourceEndpoint: url.replace('http://', 'ws://') + '/signaling' },
    { Protocol: 'HTTPS', ResourceEndpoint: url },
  ]);

  await video.send(new DeleteSignalingChannelCommand({ ChannelARN }));
  await t.throwsAsync(video.send(new DescribeSignalingChannelCommand({ ChannelARN })), { instanceOf: ResourceNotFoundException });
  await t.throwsAsync(video.send(new DeleteSignalingChannelCommand({ ChannelARN })), { instanceOf: ResourceNotFoundException });
  await t.throwsAsync(
    video.send(new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'MASTER' } })),
    { instanceOf: ResourceNotFoundException },
  );
});

videoTest('signaling channels are tagged through TagResource, UntagResource and ListTagsForResource', async (t, { video }) => {
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'tagged', Tags: [{ Key: 'site', Value: 'home' }] }));
  const { ChannelInfo } = await video.send(new DescribeSignalingChannelCommand({ ChannelARN }));
  await video.send(new TagResourceCommand({ ResourceARN: ChannelARN, Tags: [{ Key: 'floor', Value: '1' }, { Key: 'site', Value: 'office' }] }));
  t.deepEqual((await video.send(new ListTagsForResourceCommand({ ResourceARN: ChannelARN }))).Tags, { site: 'office', floor: '1' });
  await video.send(new UntagResourceCommand({ ResourceARN: ChannelARN, TagKeyList: ['floor', 'absent'] }));
  t.deepEqual((await video.send(new ListTagsForResourceCommand({ ResourceARN: ChannelARN }))).Tags, { site: 'office' });
  // Tags are not what Version tracks.
  t.is((await video.send(new DescribeSignalingChannelCommand({ ChannelARN }))).ChannelInfo!.Version, ChannelInfo!.Version);
  const many = Array.from({ length: 50 }, (_, index) => ({ Key: `k${index}`, Value: 'v' }));
  await t.throwsAsync(video.send(new TagResourceCommand({ ResourceARN: ChannelARN, Tags: many })), { instanceOf: TagsPerResourceExceededLimitException });
  await t.throwsAsync(video.send(new ListTagsForResourceCommand({ ResourceARN: ChannelARN!.replace('tagged', 'other') })), { instanceOf: ResourceNotFoundException });
});

test('signaling channels survive a restart', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-signaling-test-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const first = await startServer({ dataDir, port: 0 });
  const { video } = videoClients(first.url, 'http1.1', t);
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'garage' }));
  await first.close();
  const second = await startServer({ dataDir, port: 0 });
  t.teardown(() => second.close());
  const { video: again } = videoClients(second.url, 'http1.1', t);
  const { ChannelInfo } = await again.send(new DescribeSignalingChannelCommand({ ChannelName: 'garage' }));
  t.is(ChannelInfo!.ChannelARN, ChannelARN);
});

test('GetIceServerConfig mints coturn REST credentials for each TURN server and lists STUN', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-ice-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const iceServersFile = join(dir, 'ice.json');
  await writeFile(iceServersFile, JSON.stringify({ stun: ['stun:stun.example:3478'], turn: [{ uris: ['turn:turn.example:3478?transport=udp'], secret: 'shared' }] }));
  const { url, clock } = await startVideoServer(t, { iceServersFile });
  const { video } = videoClients(url, 'h2', t);
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'porch' }));
  const endpoints = await video.send(
    new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['HTTPS'], Role: 'VIEWER' } }),
  );
  const signaling = new KinesisVideoSignalingClient({
    region: 'us-east-1',
    endpoint: endpoints.ResourceEndpointList![0]!.ResourceEndpoint!,
    credentials: { ...TEST_CREDENTIALS },
    maxAttempts: 1,
  });
  t.teardown(() => signaling.destroy());

  const before = Math.floor(clock.now() / 1000);
  const { IceServerList } = await signaling.send(new GetIceServerConfigCommand({ ChannelARN, ClientId: 'viewer-1', Service: 'TURN' }));
  t.is(IceServerList!.length, 2);
  const [turn, stun] = IceServerList!;
  t.deepEqual(turn!.Uris, ['turn:turn.example:3478?transport=udp']);
  t.is(turn!.Ttl, 300);
  const [expiry, clientId] = turn!.Username!.split(':');
  t.is(clientId, 'viewer-1');
  t.true(Number(expiry) >= before + 300 && Number(expiry) <= before + 301);
  t.is(turn!.Password, createHmac('sha1', 'shared').update(turn!.Username!).digest('base64'));
  t.deepEqual(stun, { Uris: ['stun:stun.example:3478'], Ttl: 300 });

  await t.throwsAsync(signaling.send(new GetIceServerConfigCommand({ ChannelARN: ChannelARN!.replace('porch', 'shed'), ClientId: 'viewer-1' })), {
    name: 'ResourceNotFoundException',
  });
});

test('a malformed --ice-servers file stops the server from starting', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-ice-bad-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const iceServersFile = join(dataDir, 'ice.json');
  await writeFile(iceServersFile, JSON.stringify({ turn: [{ uris: ['turn:turn.example:3478'] }] }));
  await t.throwsAsync(startServer({ dataDir, port: 0, iceServersFile }), { instanceOf: ServerOptionsError, message: /"turn" must be a list/ });
});
