import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** A request handler that serves HTTP/1.1 and HTTP/2 alike through node's compatibility API. */
export type RequestHandler = (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
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
  let front: net.Server;
  let h1: http.Server | undefined;

  if (options.tls) {
    const secure = http2.createSecureServer({ allowHTTP1: true, cert: options.tls.cert, key: options.tls.key }, handler);
    secure.on('session', (session) => trackSession(sessions, session));
    front = secure;
  } else {
    h1 = http.createServer({ keepAliveTimeout: 65_000 }, handler);
    const h2 = http2.createServer({}, handler);
    h2.on('session', (session) => trackSession(sessions, session));
    const plain = h1;
    front = net.createServer((socket) =>
      sniff(socket, (head) => {
        if (head.subarray(0, HTTP2_PREFACE_START.length).equals(HTTP2_PREFACE_START)) {
          h2.emit('connection', replaying(socket, head));
        } else {
          socket.unshift(head);
          plain.emit('connection', socket);
          socket.resume();
        }
      }),
    );
  }
  front.on('connection', (socket: Socket) => {
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
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      h1?.closeIdleConnections();
      for (const session of sessions) session.close();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      // Keep-alive HTTP/1.1 sockets that go idle after their last response are closed too.
      const idle = setInterval(() => h1?.closeIdleConnections(), 100);
      await closed;
      clearTimeout(timer);
      clearInterval(idle);
    },
  };
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

/**
 * The socket as a plain stream that first replays the bytes already read. node's HTTP/2 server
 * reads a TCP socket's handle directly, past anything put back with unshift(); given a plain
 * stream it reads through the stream API instead, so the replayed preface comes first.
 */
function replaying(socket: Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk, encoding, callback) => void socket.write(chunk, encoding, callback),
    final: (callback) => void socket.end(callback),
    destroy: (error, callback) => {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  stream.push(head);
  socket.on('data', (chunk) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  return stream;
}
