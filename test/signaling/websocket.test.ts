// The signaling WebSocket, driven by the public Kinesis Video WebRTC SDK's SignalingClient (as
// a browser or camera would use it) and, for what that client refuses to send, by a raw socket.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateSignalingChannelCommand, DeleteSignalingChannelCommand, GetSignalingChannelEndpointCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { Role, SignalingClient, SigV4RequestSigner, type RequestSigner } from 'amazon-kinesis-video-streams-webrtc';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { WebSocket } from 'ws';
import type { RunningServer } from '../../ingest-server/server.js';
import { encodePayload, type ServerMessage } from '../../ingest-server/signaling/messages.js';
import { startVideoServer, TEST_CREDENTIALS, videoClients } from '../helpers/video.js';

// Node 20 has no global WebSocket; the SDK looks for one.
Object.assign(globalThis, { WebSocket });

/** Connects to the plain ws:// endpoint unsigned, as against a server without credentials. */
const UNSIGNED: RequestSigner = { getSignedURL: async (endpoint, query) => endpoint + '/?' + new URLSearchParams(query as Record<string, string>) };

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=viewer\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=master\r\n' };
const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

interface Channel {
  arn: string;
  /** The WSS endpoint GetSignalingChannelEndpoint gave. */
  endpoint: string;
  video: KinesisVideoClient;
  server: RunningServer;
}

async function channel(t: ExecutionContext, options: Parameters<typeof startVideoServer>[1] = {}, ttlSeconds = 60): Promise<Channel> {
  const { url, server } = await startVideoServer(t, options);
  const { video } = videoClients(url, 'http1.1', t);
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'door', SingleMasterConfiguration: { MessageTtlSeconds: ttlSeconds } }));
  const { ResourceEndpointList } = await video.send(
    new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'MASTER' } }),
  );
  return { arn: ChannelARN!, endpoint: ResourceEndpointList![0]!.ResourceEndpoint!, video, server };
}

/** An open SignalingClient; closed when the test ends. */
async function connect(t: ExecutionContext, { arn, endpoint }: Channel, clientId?: string, requestSigner: RequestSigner = UNSIGNED): Promise<SignalingClient> {
  const client = new SignalingClient({
    channelARN: arn,
    channelEndpoint: endpoint,
    region: 'us-east-1',
    role: clientId === undefined ? Role.MASTER : Role.VIEWER,
    ...(clientId !== undefined ? { clientId } : {}),
    requestSigner,
    systemClockOffset: 0,
  });
  t.teardown(() => client.close());
  client.open();
  await once(client, 'open');
  return client;
}

/** A raw socket on the channel and the messages it receives. */
async function rawSocket(t: ExecutionContext, { arn, endpoint }: Channel, clientId?: string): Promise<{ socket: WebSocket; next: () => Promise<ServerMessage> }> {
  const query = new URLSearchParams({ 'X-Amz-ChannelARN': arn, ...(clientId !== undefined ? { 'X-Amz-ClientId': clientId } : {}) });
  const socket = new WebSocket(`${endpoint}?${query}`);
  t.teardown(() => socket.close());
  const received: ServerMessage[] = [];
  const waiting: ((message: ServerMessage) => void)[] = [];
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as ServerMessage;
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else received.push(message);
  });
  await once(socket, 'open');
  return { socket, next: () => (received.length > 0 ? Promise.resolve(received.shift()!) : new Promise((resolve) => waiting.push(resolve))) };
}

/** The HTTP status a refused WebSocket upgrade was answered with. */
async function refusal(url: string): Promise<{ status: number; errorType: string }> {
  const socket = new WebSocket(url);
  // Ending a socket that never opened reports an error; the refusal is what this looks at.
  socket.on('error', () => {});
  const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number; headers: Record<string, string> }];
  socket.terminate();
  return { status: response.statusCode, errorType: response.headers['x-amzn-errortype']! };
}

test('a viewer and the master exchange offer, answer and candidates through the server', async (t) => {
  const door = await channel(t);
  const master = await connect(t, door);
  const viewer = await connect(t, door, 'viewer-1');

  const offer = once(master, 'sdpOffer');
  viewer.sendSdpOffer(OFFER as RTCSessionDescription);
  t.deepEqual(await offer, [OFFER, 'viewer-1']);

  const viewerCandidate = once(master, 'iceCandidate');
  viewer.sendIceCandidate(CANDIDATE as RTCIceCandidate);
  t.deepEqual(await viewerCandidate, [CANDIDATE, 'viewer-1']);

  const answer = once(viewer, 'sdpAnswer');
  master.sendSdpAnswer(ANSWER as RTCSessionDescription, 'viewer-1');
  t.deepEqual((await answer)[0], ANSWER);

  const masterCandidate = once(viewer, 'iceCandidate');
  master.sendIceCandidate(CANDIDATE as RTCIceCandidate, 'viewer-1');
  t.deepEqual((await masterCandidate)[0], CANDIDATE);
});

test('messages reach only the viewer they name', async (t) => {
  const door = await channel(t);
  const master = await connect(t, door);
  const first = await connect(t, door, 'viewer-1');
  const second = await connect(t, door, 'viewer-2');
  let strayAnswers = 0;
  first.on('sdpAnswer', () => strayAnswers++);
  const answer = once(second, 'sdpAnswer');
  master.sendSdpAnswer(ANSWER as RTCSessionDescription, 'viewer-2');
  t.deepEqual((await answer)[0], ANSWER);
  // A round trip on the first viewer's socket: anything sent to it before has arrived by then.
  const offer = once(master, 'sdpOffer');
  first.sendSdpOffer(OFFER as RTCSessionDescription);
  await offer;
  t.is(strayAnswers, 0);
});

test('an offer sent before the master connects is delivered when it does', async (t) => {
  const door = await channel(t);
  const viewer = await connect(t, door, 'early');
  viewer.sendSdpOffer(OFFER as RTCSessionDescription);
  viewer.sendIceCandidate(CANDIDATE as RTCIceCandidate);
  const master = new SignalingClient({ channelARN: door.arn, channelEndpoint: door.endpoint, region: 'us-east-1', role: Role.MASTER, requestSigner: UNSIGNED });
  t.teardown(() => master.close());
  const offer = once(master, 'sdpOffer');
  const candidate = once(master, 'iceCandidate');
  master.open();
  t.deepEqual(await offer, [OFFER, 'early']);
  t.deepEqual(await candidate, [CANDIDATE, 'early']);
});

test('a message for a client that never connects is answered with STATUS_RESPONSE after the TTL', async (t) => {
  const door = await channel(t, {}, 5);
  const master = await connect(t, door);
  const started = Date.now();
  const status = once(master, 'statusResponse');
  master.sendSdpAnswer(ANSWER as RTCSessionDescription, 'ghost', 'answer-1');
  const [response] = (await status) as [Record<string, string>];
  t.like(response, { correlationId: 'answer-1', errorType: 'ResourceNotFoundException', statusCode: '404' });
  t.true(Date.now() - started >= 4900);
});

test('malformed messages are answered with STATUS_RESPONSE', async (t) => {
  const door = await channel(t);
  const { socket, next } = await rawSocket(t, door);

  socket.send('{not json');
  t.like(await next(), { messageType: 'STATUS_RESPONSE', statusResponse: { errorType: 'InvalidArgumentException', statusCode: '400' } });

  socket.send(JSON.stringify({ action: 'SDP_BANANA', messagePayload: encodePayload(OFFER), recipientClientId: 'v', correlationId: 'c-1' }));
  t.like(await next(), { statusResponse: { correlationId: 'c-1', errorType: 'InvalidArgumentException' } });

  socket.send(JSON.stringify({ action: 'SDP_ANSWER', messagePayload: encodePayload(ANSWER), correlationId: 'c-2' }));
  const missingRecipient = await next();
  t.like(missingRecipient, { statusResponse: { correlationId: 'c-2', errorType: 'InvalidArgumentException' } });
  t.regex(missingRecipient.statusResponse!.description!, /recipientClientId/);

  socket.send(JSON.stringify({ action: 'SDP_ANSWER', messagePayload: encodePayload({ sdp: 'x'.repeat(11 * 1024) }), recipientClientId: 'v', correlationId: 'c-3' }));
  const tooBig = await next();
  t.like(tooBig, { statusResponse: { correlationId: 'c-3', errorType: 'InvalidArgumentException' } });
  t.regex(tooBig.statusResponse!.description!, /10240/);

  socket.send(JSON.stringify({ action: 'SDP_ANSWER', messagePayload: '!!not base64!!', recipientClientId: 'v', correlationId: 'c-4' }));
  t.like(await next(), { statusResponse: { correlationId: 'c-4', errorType: 'InvalidArgumentException' } });
});

test('a second master replaces the first, which gets GO_AWAY', async (t) => {
  const door = await channel(t);
  const first = await rawSocket(t, door);
  const closed = once(first.socket, 'close');
  const second = await connect(t, door);
  t.deepEqual(await first.next(), { messageType: 'GO_AWAY' });
  await closed;
  const viewer = await connect(t, door, 'viewer-1');
  const offer = once(second, 'sdpOffer');
  viewer.sendSdpOffer(OFFER as RTCSessionDescription);
  t.deepEqual(await offer, [OFFER, 'viewer-1']);
});

test('deleting a channel sends GO_AWAY to everyone on it and closes them', async (t) => {
  const door = await channel(t);
  const master = await rawSocket(t, door);
  const viewer = await rawSocket(t, door, 'viewer-1');
  const closed = Promise.all([once(master.socket, 'close'), once(viewer.socket, 'close')]);
  await door.video.send(new DeleteSignalingChannelCommand({ ChannelARN: door.arn }));
  t.deepEqual(await master.next(), { messageType: 'GO_AWAY' });
  t.deepEqual(await viewer.next(), { messageType: 'GO_AWAY' });
  await closed;
  t.deepEqual(await refusal(`${door.endpoint}?${new URLSearchParams({ 'X-Amz-ChannelARN': door.arn })}`), { status: 404, errorType: 'ResourceNotFoundException' });
});

test('stopping the server sends GO_AWAY to everyone connected and does not wait for them', async (t) => {
  const door = await channel(t);
  const master = await rawSocket(t, door);
  const closed = once(master.socket, 'close');
  const started = Date.now();
  await door.server.close();
  t.deepEqual(await master.next(), { messageType: 'GO_AWAY' });
  await closed;
  t.true(Date.now() - started < 2000);
});

test('an unknown channel, a malformed ARN or a bad client id is refused before the upgrade', async (t) => {
  const door = await channel(t);
  const url = (query: Record<string, string>) => `${door.endpoint}?${new URLSearchParams(query)}`;
  t.deepEqual(await refusal(url({ 'X-Amz-ChannelARN': door.arn.replace('door', 'gate') })), { status: 404, errorType: 'ResourceNotFoundException' });
  t.deepEqual(await refusal(url({ 'X-Amz-ChannelARN': 'not-an-arn' })), { status: 400, errorType: 'InvalidArgumentException' });
  t.deepEqual(await refusal(url({})), { status: 400, errorType: 'InvalidArgumentException' });
  t.deepEqual(await refusal(url({ 'X-Amz-ChannelARN': door.arn, 'X-Amz-ClientId': 'bad id!' })), { status: 400, errorType: 'InvalidArgumentException' });
});

test('with credentials, only a presigned URL connects', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-signaling-auth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [TEST_CREDENTIALS] }));
  const door = await channel(t, { credentialsFile });

  t.deepEqual(await refusal(`${door.endpoint}?${new URLSearchParams({ 'X-Amz-ChannelARN': door.arn })}`), { status: 403, errorType: 'MissingAuthenticationTokenException' });

  // The SDK's signer insists on wss://; the signature covers host, path and query, not the scheme.
  const sigV4 = new SigV4RequestSigner('us-east-1', TEST_CREDENTIALS);
  const presigned: RequestSigner = {
    getSignedURL: async (endpoint, query, date) => (await sigV4.getSignedURL(endpoint.replace(/^ws:/, 'wss:'), query, date)).replace(/^wss:/, 'ws:'),
  };
  const master = await connect(t, door, undefined, presigned);
  const viewer = await connect(t, door, 'viewer-1', presigned);
  const offer = once(master, 'sdpOffer');
  viewer.sendSdpOffer(OFFER as RTCSessionDescription);
  t.deepEqual(await offer, [OFFER, 'viewer-1']);

  const wrongSecret = new SigV4RequestSigner('us-east-1', { ...TEST_CREDENTIALS, secretAccessKey: 'wrong' });
  const forged = await wrongSecret.getSignedURL(door.endpoint.replace(/^ws:/, 'wss:'), { 'X-Amz-ChannelARN': door.arn });
  t.deepEqual(await refusal(forged.replace(/^wss:/, 'ws:')), { status: 403, errorType: 'InvalidSignatureException' });
});

test('with TLS the endpoint is wss:// on the same port, and signaling works over it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-signaling-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ]);
  const ca = await readFile(certFile);
  const { url } = await startVideoServer(t, { tls: { certFile, keyFile } });
  // Trusts the test CA through its https.Agent; nothing turns verification off.
  const video = new KinesisVideoClient({
    region: 'us-east-1',
    endpoint: url,
    credentials: { ...TEST_CREDENTIALS },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca }) }),
  });
  t.teardown(() => video.destroy());
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'tls-door' }));
  const { ResourceEndpointList } = await video.send(
    new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'VIEWER' } }),
  );
  const endpoint = ResourceEndpointList![0]!.ResourceEndpoint!;
  t.is(endpoint, url.replace('https://', 'wss://') + '/signaling');

  const open = async (query: Record<string, string>) => {
    const socket = new WebSocket(`${endpoint}?${new URLSearchParams({ 'X-Amz-ChannelARN': ChannelARN!, ...query })}`, { ca });
    t.teardown(() => socket.close());
    await once(socket, 'open');
    return socket;
  };
  const master = await open({});
  const viewer = await open({ 'X-Amz-ClientId': 'viewer-1' });
  const received = once(master, 'message');
  viewer.send(JSON.stringify({ action: 'SDP_OFFER', messagePayload: encodePayload(OFFER) }));
  const [data] = (await received) as [Buffer];
  t.deepEqual(JSON.parse(data.toString()), { messageType: 'SDP_OFFER', messagePayload: encodePayload(OFFER), senderClientId: 'viewer-1' });
});
