import type http from 'node:http';
import type http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';

/**
 * The scheme and host a client used to reach this server, e.g. http://10.0.0.5:4567: endpoints
 * handed back to clients (GetDataEndpoint, playback and signaling URLs) must work from where
 * the client is, not from where the server thinks it listens.
 */
export function originOf(request: http.IncomingMessage | http2.Http2ServerRequest): string {
  const scheme = (request as http2.Http2ServerRequest).scheme ?? ((request.socket as TLSSocket).encrypted ? 'https' : 'http');
  const host = request.headers.host ?? request.headers[':authority'];
  return `${scheme}://${Array.isArray(host) ? host[0] : host}`;
}
