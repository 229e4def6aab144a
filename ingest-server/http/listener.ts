import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Duplex } from 'node:stream';

/** A request handler that serves HTTP/1.1 and HTTP/2 alike through node's compatibility API. */
export type RequestHandler = (request: http.IncomingMessage | http2.Http2ServerRequest, response: Response) => void;
type Response = http.ServerResponse | http2.Http2ServerResponse;
/** Takes over an HTTP/1.1 connection that asked to switch protocols (a WebSocket). */
export type UpgradeHandler = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Without one, upgrade requests are dropped. */
  upgrade?: UpgradeHandler;
}

export interface Listener {
  /** The bound port (useful when port 0 was asked for). */
  port: number;
  url: string;
  /** Stops accepting, lets in-flight requests finish for up to graceMs, then drops what is left. */
  close(graceMs: number): Promise<void>;
}

const HTTP2_PREFACE_START = Buffer.from('PRI');

/**
 * One port for every client: HTTP/2 with prior knowledge (the AWS SDK v3 default for http://
 * endpoints) and HTTP/1.1 (the AWS CLI, boto3) are told apart by the first bytes of each
 * connection. With TLS, ALPN makes the same choice.
 */
export async function listen(options: ListenOptions, handler: RequestHandler): Promise<Listener> {
  const sockets = new Set<Socket>();
  const sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 connections, and plain ones not yet identified, with the responses in flight on
  // each. node's own idle tracking (closeIdleConnections) only works for an http.Server that
  // listens itself, which ours does not, and never counts a connection that has not sent a
  // request yet as idle; so close() uses this to end idle connections at once and the others
  // right after their last response, instead of waiting out the grace period.
  const http1 = new Map<Duplex, Set<Response>>();
  let closing = false;
  let front: net.Server;

  const tracked: RequestHandler = (request, response) => {
    const inFlight = request.httpVersionMajor < 2 ? http1.get(request.socket) : undefined;
    if (inFlight) {
      const socket = request.socket;
      inFlight.add(response);
      if (closing) response.setHeader('connection', 'close');
      response.once('close', () => {
        inFlight.delete(response);
        if (closing && inFlight.size === 0 && http1.has(socket)) closeSoon(socket);
      });
    }
    handler(request, response);
  };
  const trackHttp1 = (socket: Duplex) => {
    http1.set(socket, new Set());
    socket.once('close', () => http1.delete(socket));
  };

  if (options.tls) {
    const secure = http2.createSecureServer({ allowHTTP1: true, cert: options.tls.cert, key: options.tls.key }, tracked);
    secure.on('session', (session) => trackSession(sessions, session));
    secure.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') trackHttp1(socket);
    });
    // With allowHTTP1, HTTP/1.1 connections run node's HTTP/1 parser, which emits 'upgrade' here.
    if (options.upgrade) secure.on('upgrade', options.upgrade);
    front = secure;
  } else {
    const h1 = http.createServer({ keepAliveTimeout: 65_000 }, tracked);
    if (options.upgrade) h1.on('upgrade', options.upgrade);
    const h2 = http2.createServer({}, tracked);
    h2.on('session', (session) => trackSession(sessions, session));
    front = net.createServer((socket) => {
      trackHttp1(socket);
      sniff(socket, (head) => {
        if (head.subarray(0, HTTP2_PREFACE_START.length).equals(HTTP2_PREFACE_START)) {
          http1.delete(socket);
          // node's HTTP/2 session reads the socket's handle directly and takes bytes put back
          // with unshift() only on the next tick; handing the socket over from inside the read
          // callback would let the handle read on first and scramble the preface.
          socket.unshift(head);
          setImmediate(() => h2.emit('connection', socket));
        } else {
          socket.unshift(head);
          h1.emit('connection', socket);
          socket.resume();
        }
      });
    });
  }
  front.on('connection', (socket: Socket) => {
    // Responses are small and latency matters more than packet count.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(options.port, options.host, () => {
      front.off('error', reject);
      resolve();
    });
  });
  const port = (front.address() as net.AddressInfo).port;
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host;

  return {
    port,
    url: `${options.tls ? 'https' : 'http'}://${hostInUrl}:${port}`,
    async close(graceMs: number) {
      closing = true;
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const [socket, inFlight] of http1) {
        if (inFlight.size === 0) closeSoon(socket);
        for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close');
      }
      for (const session of sessions) session.close();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** Closes a connection once what was written to it has been handed to the OS. */
function closeSoon(socket: Duplex): void {
  if (socket.writableLength === 0) socket.destroy();
  else socket.end(() => socket.destroy());
}

function trackSession(sessions: Set<http2.Http2Session>, session: http2.Http2Session): void {
  sessions.add(session);
  session.once('close', () => sessions.delete(session));
}

/** Reads just enough of a new connection to tell HTTP/2's preface from an HTTP/1 request line. */
function sniff(socket: Socket, route: (head: Buffer) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    if (seen.length < HTTP2_PREFACE_START.length && HTTP2_PREFACE_START.subarray(0, seen.length).equals(seen)) return;
    socket.off('data', onData);
    socket.pause();
    route(seen);
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
}

