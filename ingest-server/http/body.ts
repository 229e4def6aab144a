import type http from 'node:http';
import type http2 from 'node:http2';
import { ServiceError } from '../protocol/errors.js';

/** Thrown when a body passes the size limit; HTTP 413 like AWS's front end. */
export class RequestEntityTooLargeException extends ServiceError {
  constructor(limit: number) {
    super(`Request body is larger than ${limit} bytes.`, 413);
  }
}

/** Reads a whole request body, refusing to hold more than `limit` bytes. */
export function readBody(request: http.IncomingMessage | http2.Http2ServerRequest, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (declared > limit) return Promise.reject(new RequestEntityTooLargeException(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        reject(new RequestEntityTooLargeException(limit));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    request.on('error', reject);
    request.on('aborted', () => reject(new Error('request aborted')));
  });
}
