import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { authorize, nameInArn, type Principal } from '../devices/authorization.js';
import type { DeviceConnections } from '../devices/connections.js';
import { encodeError } from '../protocol/aws-json.js';
import { InternalFailure, InvalidArgumentException, ServiceError } from '../protocol/errors.js';
import { channelByArn, isChannelArn, SIGNALING_PATH } from './channels.js';
import type { SignalingContext } from './context.js';
import type { Peer } from './hub.js';
import { correlationIdOf, isClientId, parseClientMessage, statusResponse } from './messages.js';

// The signaling WebSocket: GET /signaling?X-Amz-ChannelARN=…[&X-Amz-ClientId=…] upgraded on the
// server's own port. Everything that can be refused (signature, channel, client id) is checked
// before the upgrade, so a client hears an HTTP error with AWS's error body rather than a socket
// that opens and closes. Without X-Amz-ClientId the client is the channel's master.

/** Room for a 10 KB payload in its JSON envelope; larger frames close the connection. */
const MAX_FRAME_BYTES = 64 * 1024;
const PING_INTERVAL_MS = 30_000;

// Only frames in and out: the hub tracks who is connected, so the server keeps no client list.
const server = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: MAX_FRAME_BYTES });

/** Whether a request target (query string allowed) is the signaling WebSocket. */
export function isSignalingPath(target: string): boolean {
  const path = target.split('?', 1)[0];
  // The SDK's signers append "/?query" to the endpoint they are given.
  return path === SIGNALING_PATH || path === SIGNALING_PATH + '/';
}

/**
 * Checks an upgrade request and, when it may connect, joins it to its channel; else answers with
 * the AWS error. A device's connection is added to `connections`, so revoking the device ends it.
 */
export async function acceptSignalingUpgrade(ctx: SignalingContext, request: http.IncomingMessage, socket: Duplex, head: Buffer, connections?: DeviceConnections): Promise<void> {
  const target = request.url ?? '/';
  let principal: Principal | undefined;
  try {
    // A browser signed in to the console repeats that Basic sign-in on the upgrade; the presigned
    // query is what authenticates it, so the header is left out of the check.
    const { authorization, ...unsigned } = request.headers;
    const headers = /^Basic\s/i.test(authorization ?? '') ? unsigned : request.headers;
    // The SDK signs an empty body's hash (a GET has none).
    principal = ctx.verify?.({ method: request.method ?? 'GET', path: target, headers, body: Buffer.alloc(0) });
  } catch (error) {
    // AWS refuses any unauthenticated WebSocket upgrade with 403, whatever the signature's fault.
    if (error instanceof ServiceError) return refuse(socket, error, 403);
    throw error;
  }
  let joined: { channelArn: string; clientId: string | undefined };
  try {
    joined = await admit(ctx, target);
    authorize(principal, { service: 'signaling', action: joined.clientId === undefined ? 'ConnectAsMaster' : 'ConnectAsViewer', resource: nameInArn(joined.channelArn, 'channel') });
  } catch (error) {
    if (error instanceof ServiceError) return refuse(socket, error, error.status);
    throw error;
  }
  server.handleUpgrade(request, socket, head, (webSocket) => {
    serve(ctx, webSocket, joined.channelArn, joined.clientId);
    if (principal?.kind === 'device' && connections) {
      const forget = connections.add(principal.device, () => webSocket.terminate());
      webSocket.once('close', forget);
    }
  });
}

/** The channel and client id an upgrade asks for, once both are known to be valid. */
async function admit(ctx: SignalingContext, target: string): Promise<{ channelArn: string; clientId: string | undefined }> {
  const query = new URL(target, 'http://signaling').searchParams;
  const channelArn = query.get('X-Amz-ChannelARN');
  if (channelArn === null || !isChannelArn(channelArn)) throw new InvalidArgumentException('X-Amz-ChannelARN must be a signaling channel ARN.');
  const clientId = query.get('X-Amz-ClientId') ?? undefined;
  if (clientId !== undefined && !isClientId(clientId)) throw new InvalidArgumentException('X-Amz-ClientId must be 1 to 256 characters of [a-zA-Z0-9_.-].');
  await channelByArn(ctx, channelArn);
  return { channelArn, clientId };
}

function refuse(socket: Duplex, error: ServiceError, status: number): void {
  const encoded = encodeError('json', error);
  const headers = Object.entries({ ...encoded.headers, 'content-type': 'application/json', 'content-length': String(encoded.body.length), connection: 'close' });
  const head = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`, ...headers.map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), encoded.body]));
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' };

function serve(ctx: SignalingContext, webSocket: WebSocket, channelArn: string, clientId: string | undefined): void {
  const peer: Peer = {
    send: (message) => webSocket.send(JSON.stringify(message)),
    close: () => webSocket.close(1000, 'GO_AWAY'),
  };
  const leave = ctx.hub.join(channelArn, clientId, peer);
  // Pings find peers that vanished without a close (a camera losing power), which would
  // otherwise hold the master's place and swallow offers.
  let alive = true;
  const pinger = setInterval(() => {
    if (!alive) webSocket.terminate();
    alive = false;
    webSocket.ping();
  }, PING_INTERVAL_MS);
  pinger.unref();
  webSocket.on('pong', () => (alive = true));
  // One message at a time, so the channel lookup cannot reorder an offer and its candidates.
  let handling = Promise.resolve();
  webSocket.on('message', (data: RawData, isBinary: boolean) => {
    const text = isBinary ? '' : data.toString();
    handling = handling.then(() => handle(ctx, channelArn, clientId, peer, text));
  });
  webSocket.on('error', () => webSocket.terminate());
  webSocket.on('close', () => {
    clearInterval(pinger);
    leave();
  });
}

async function handle(ctx: SignalingContext, channelArn: string, clientId: string | undefined, peer: Peer, text: string): Promise<void> {
  try {
    const message = parseClientMessage(text);
    const channel = await channelByArn(ctx, channelArn);
    ctx.hub.forward(channelArn, { clientId, peer }, message, channel.messageTtlSeconds);
  } catch (error) {
    peer.send(statusResponse(error instanceof ServiceError ? error : new InternalFailure('Internal service failure.'), correlationIdOf(text)));
  }
}
