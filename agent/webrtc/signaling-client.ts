// The agent's side of a Kinesis Video signaling channel, as its master: resolves the channel's ARN,
// WebSocket endpoint and ICE servers through the server's control plane, then keeps one WebSocket
// open and passes viewers' messages up.
//
// Supervised like a capture: a failed lookup, a dropped socket or GO_AWAY (another master took
// the channel, the channel was deleted, the server is stopping) reconnects after a backoff that
// doubles up to maxBackoffMs and resets once a connection stays up; a ping every 20 s finds a
// link that died without a close. Every reconnect resolves everything again: a deleted and
// recreated channel has a new ARN, a moved server a new endpoint.

import WebSocket from 'ws';
import { silentLogger, type Logger } from '../../lib/log.js';
import { presignUrl } from '../../lib/sigv4.js';
import { signedPost } from '../signed-post.js';
import type { ClientMessage, ServerMessage } from '../../ingest-server/signaling/messages.js';

/** Options of {@link MasterSignalingClient}. */
export interface MasterSignalingOptions {
  /** The server's control plane, http(s)://host:port. */
  serverUrl: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  channel: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: Logger;
}

/** An ICE server as RTCPeerConnection takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** What a connection resolved: the channel and how to reach its peers. */
export interface SignalingSession {
  channelArn: string;
  iceServers: IceServer[];
}

const SERVICE = 'kinesisvideo';
const TIMEOUT_MS = 10_000;
/** A connection that lasted this long was healthy: the next failure starts the backoff afresh. */
const HEALTHY_MS = 10_000;
const PING_MS = 20_000;

/** A channel's master connection; start() / stop(). */
export class MasterSignalingClient {
  readonly #options: MasterSignalingOptions;
  readonly #log: Logger;
  readonly #messageListeners: ((message: ServerMessage) => void)[] = [];
  #socket: WebSocket | undefined;
  #session: SignalingSession | undefined;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #lastError: string | null = null;

  constructor(options: MasterSignalingOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#backoffMs = options.minBackoffMs ?? 500;
  }

  /** Whether the WebSocket is open now. */
  get connected(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /** What the current (or last) connection resolved. */
  get session(): SignalingSession | undefined {
    return this.#session;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Messages from viewers (SDP_OFFER, ICE_CANDIDATE) and the server's STATUS_RESPONSEs. */
  onMessage(listener: (message: ServerMessage) => void): void {
    this.#messageListeners.push(listener);
  }

  start(): void {
    if (!this.#stopped) throw new Error('a signaling client starts once');
    this.#stopped = false;
    void this.#connect();
  }

  /** Sends a message to a viewer; false when the socket is not open (the viewer will retry or time out). */
  send(message: ClientMessage): boolean {
    if (!this.connected) return false;
    this.#socket!.send(JSON.stringify(message));
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.close();
      // A peer that never answers the close handshake must not hold shutdown up.
      setTimeout(() => {
        socket.terminate();
        resolve();
      }, 1000).unref();
    });
  }

  async #connect(): Promise<void> {
    let session: SignalingSession;
    let endpoint: string;
    try {
      ({ session, endpoint } = await this.#resolve());
    } catch (error) {
      this.#retry(`signaling lookup failed: ${(error as Error).message}`);
      return;
    }
    if (this.#stopped) return;
    const url = new URL(endpoint);
    url.searchParams.set('X-Amz-ChannelARN', session.channelArn);
    const credentials = this.#options.credentials;
    const target = credentials ? presignUrl({ url: url.toString(), ...credentials, region: this.#options.region, service: SERVICE }) : url.toString();
    const socket = new WebSocket(target, { handshakeTimeout: TIMEOUT_MS });
    this.#socket = socket;
    let openedAt = 0;
    // The first cause wins: a refused upgrade also ends in an 'error' about the aborted handshake.
    let reason: string | undefined;
    let alive = true;
    let heartbeat: NodeJS.Timeout | undefined;
    socket.on('open', () => {
      openedAt = Date.now();
      this.#session = session;
      this.#log.info('signaling connected', { channel: this.#options.channel, channelArn: session.channelArn });
      // A cut link closes nothing: a ping left unanswered for a whole period is what tells.
      heartbeat = setInterval(() => {
        if (!alive) {
          reason = `signaling: no pong within ${PING_MS} ms`;
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, PING_MS).unref();
    });
    socket.on('pong', () => (alive = true));
    socket.on('message', (data: WebSocket.RawData) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(data.toString()) as ServerMessage;
      } catch {
        this.#log.warn('signaling: a message that is not JSON was ignored');
        return;
      }
      if (message.messageType === 'GO_AWAY') {
        reason = 'GO_AWAY from the server';
        socket.close();
        return;
      }
      if (message.messageType === 'STATUS_RESPONSE') this.#log.warn('signaling: the server refused a message', { ...message.statusResponse });
      for (const listener of this.#messageListeners) listener(message);
    });
    socket.on('unexpected-response', (_request, response) => {
      reason = `signaling endpoint answered HTTP ${response.statusCode}`;
      socket.terminate();
    });
    socket.on('error', (error) => {
      reason ??= `signaling: ${error.message}`;
    });
    socket.on('close', () => {
      clearInterval(heartbeat);
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      if (openedAt > 0 && Date.now() - openedAt >= HEALTHY_MS) this.#backoffMs = this.#options.minBackoffMs ?? 500;
      this.#retry(reason ?? 'signaling connection closed');
    });
  }

  /** DescribeSignalingChannel → GetSignalingChannelEndpoint → get-ice-server-config. */
  async #resolve(): Promise<{ session: SignalingSession; endpoint: string }> {
    const described = (await this.#post(this.#options.serverUrl, '/describeSignalingChannel', { ChannelName: this.#options.channel })) as { ChannelInfo?: { ChannelARN?: string } };
    const channelArn = described.ChannelInfo?.ChannelARN;
    if (!channelArn) throw new Error('DescribeSignalingChannel gave no ChannelARN');
    const endpoints = (await this.#post(this.#options.serverUrl, '/getSignalingChannelEndpoint', {
      ChannelARN: channelArn,
      SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: 'MASTER' },
    })) as { ResourceEndpointList?: { Protocol?: string; ResourceEndpoint?: string }[] };
    const find = (protocol: string) => endpoints.ResourceEndpointList?.find((each) => each.Protocol === protocol)?.ResourceEndpoint;
    const wss = find('WSS');
    if (!wss) throw new Error('GetSignalingChannelEndpoint gave no WSS endpoint');
    const iceServers: IceServer[] = [];
    const https = find('HTTPS');
    if (https) {
      const config = (await this.#post(https, '/v1/get-ice-server-config', { ChannelARN: channelArn, Service: 'TURN' })) as { IceServerList?: { Uris?: string[]; Username?: string; Password?: string }[] };
      for (const server of config.IceServerList ?? []) {
        if (server.Uris?.length) iceServers.push({ urls: server.Uris, ...(server.Username ? { username: server.Username } : {}), ...(server.Password ? { credential: server.Password } : {}) });
      }
    }
    return { session: { channelArn, iceServers }, endpoint: wss };
  }

  async #post(base: string, path: string, body: unknown): Promise<unknown> {
    const response = await signedPost({
      url: new URL(path, base),
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(body)),
      region: this.#options.region,
      service: SERVICE,
      timeoutMs: TIMEOUT_MS,
      ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
    });
    if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status} ${response.body.slice(0, 200)}`);
    return JSON.parse(response.body) as unknown;
  }

  #retry(reason: string): void {
    if (this.#stopped) return;
    this.#lastError = reason;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 30_000);
    this.#log.warn('signaling disconnected; reconnecting', { reason, inMs: delay });
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }
}
