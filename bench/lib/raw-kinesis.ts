import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

// A minimal Kinesis JSON client for load generation: it sends prepared bodies and reads only
// what the benchmark needs from the answers, so the client's own CPU use stays small and the
// figures measure the server. The AWS SDK client is measured separately.

const DUMMY_AUTHORIZATION = 'AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0';

/** One connection to a Kinesis endpoint that posts operations. */
export interface RawConnection {
  call(operation: string, body: string): Promise<string>;
  close(): void;
}

function headers(operation: string): Record<string, string> {
  return {
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': `Kinesis_20131202.${operation}`,
    'x-amz-date': '20260101T000000Z',
    authorization: DUMMY_AUTHORIZATION,
  };
}

export function connectHttp1(url: string): RawConnection {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    call: (operation, body) =>
      new Promise((resolve, reject) => {
        const request = http.request(url, { method: 'POST', agent, headers: { ...headers(operation), 'content-length': Buffer.byteLength(body) } }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode !== 200) reject(new Error(`${operation}: HTTP ${response.statusCode} ${text.slice(0, 200)}`));
            else resolve(text);
          });
        });
        // Headers and body leave as two writes; with Nagle's algorithm on, the second would
        // wait for the server's delayed ACK (~40 ms) and the figures would measure that.
        request.on('socket', (socket) => socket.setNoDelay(true));
        request.on('error', reject);
        request.end(body);
      }),
    close: () => agent.destroy(),
  };
}

export function connectHttp2(url: string): RawConnection {
  const { hostname, port } = new URL(url);
  const session = http2.connect(url, { createConnection: () => net.connect({ host: hostname, port: Number(port), noDelay: true }) });
  session.on('error', () => {});
  return {
    call: (operation, body) =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/', ...headers(operation) });
        const chunks: Buffer[] = [];
        let status = 0;
        stream.on('response', (responseHeaders) => (status = Number(responseHeaders[':status'])));
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (status !== 200) reject(new Error(`${operation}: HTTP ${status} ${text.slice(0, 200)}`));
          else resolve(text);
        });
        stream.on('error', reject);
        stream.end(body);
      }),
    close: () => session.close(),
  };
}

/** How many times `needle` occurs in `text`. */
export function occurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** A string member's value from a JSON answer, found without parsing the whole answer. */
export function member(text: string, name: string): string | undefined {
  const at = text.lastIndexOf(`"${name}":"`);
  if (at === -1) return undefined;
  const start = at + name.length + 4;
  return text.slice(start, text.indexOf('"', start));
}
