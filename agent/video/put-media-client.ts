// The PutMedia client: one long-lived chunked POST carrying a Matroska stream, with the server's
// acknowledgements read from the response while the body is still being sent. The AWS SDK v3
// has no PutMedia (AWS ships it only in the Java and C/C++ producers), so the agent and the
// tests use this one.

import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { signRequest } from '../../lib/sigv4.js';
import { readWireError } from '../../lib/wire-error.js';
import { AckLineReader, type Ack } from '../../ingest-server/video-streams/acks.js';

/** Where and how to open a PutMedia session. */
export interface PutMediaOptions {
  /** The data endpoint, e.g. http://127.0.0.1:4567 (GetDataEndpoint with APIName PUT_MEDIA). */
  endpoint: string;
  streamName: string;
  /** Signs the request (SigV4, service kinesisvideo, unsigned payload) when given. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  /** How Cluster timecodes are read: epoch ms (ABSOLUTE) or ms since producerStartTimestampMs (RELATIVE, the default). */
  timecodeType?: 'ABSOLUTE' | 'RELATIVE';
  /** Epoch ms that RELATIVE timecodes count from; now unless given. */
  producerStartTimestampMs?: number;
  /** No answer to the request within this long means a dead link: the request is dropped and openPutMedia rejects. 30 s unless given. */
  openTimeoutMs?: number;
}

/** PutMedia refused before streaming began (HTTP status other than 200); `name` is the wire error, e.g. ResourceNotFoundException. */
export class PutMediaRequestError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** The session is over (the server ended it, or the connection broke) and takes no more data. */
export class PutMediaSessionClosedError extends Error {
  override readonly name = 'PutMediaSessionClosedError';
}

// Signed requests whose body is streamed cannot hash it up front; AWS's marker for that.
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** Opens POST /putMedia and resolves once the server has answered 200; rejects with PutMediaRequestError otherwise. */
export async function openPutMedia(options: PutMediaOptions): Promise<PutMediaSession> {
  const url = new URL('/putMedia', options.endpoint);
  let headers: Record<string, string> = {
    host: url.host,
    'x-amzn-stream-name': options.streamName,
    'x-amzn-fragment-timecode-type': options.timecodeType ?? 'RELATIVE',
    'x-amzn-producer-start-timestamp': ((options.producerStartTimestampMs ?? Date.now()) / 1000).toFixed(3),
    'x-amzn-fragment-acknowledgment-required': '1',
    'x-amz-content-sha256': UNSIGNED_PAYLOAD,
  };
  if (options.credentials) {
    headers = signRequest({
      method: 'POST',
      path: url.pathname,
      headers,
      body: { payloadHash: UNSIGNED_PAYLOAD },
      ...options.credentials,
      region: options.region ?? 'us-east-1',
      service: 'kinesisvideo',
    });
  }

  const request = (url.protocol === 'https:' ? https : http).request(url, {
    method: 'POST',
    // A connection of its own: the session holds it for hours.
    agent: false,
    headers: { ...headers, 'transfer-encoding': 'chunked', expect: '100-continue', connection: 'keep-alive' },
  });
  const openTimeoutMs = options.openTimeoutMs ?? 30_000;
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => request.destroy(new PutMediaSessionClosedError(`no answer to PutMedia within ${openTimeoutMs} ms`)), openTimeoutMs);
    request.once('response', (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
    request.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.flushHeaders();
  });
  if (response.statusCode !== 200) {
    request.destroy();
    throw await requestError(response);
  }
  return new PutMediaSession(request, response);
}

async function requestError(response: http.IncomingMessage): Promise<PutMediaRequestError> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const typeHeader = response.headers['x-amzn-errortype'];
  const error = readWireError(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), typeof typeHeader === 'string' ? typeHeader : undefined);
  return new PutMediaRequestError(error.name, error.message, response.statusCode ?? 0);
}

/**
 * A running PutMedia call. write() the Matroska stream (header first, then Clusters), end() it,
 * and read the acknowledgements with `for await (const ack of session)` or `on('ack', …)`.
 * Acks are queued for iteration unless 'ack' listeners take them and no iteration has begun.
 */
export class PutMediaSession extends EventEmitter<{ ack: [Ack]; end: [] }> implements AsyncIterable<Ack> {
  private readonly queued: Ack[] = [];
  private iterating = false;
  private wakeIterator: (() => void) | undefined;
  private failure: Error | undefined;
  private responseEnded = false;
  private readonly ended: Promise<void>;

  constructor(
    private readonly request: http.ClientRequest,
    private readonly response: http.IncomingMessage,
  ) {
    super();
    const lines = new AckLineReader();
    this.ended = new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => {
        try {
          for (const ack of lines.push(chunk)) this.deliver(ack);
        } catch (error) {
          this.fail(error as Error);
          request.destroy();
        }
      });
      response.once('end', () => {
        try {
          for (const ack of lines.end()) this.deliver(ack);
        } catch (error) {
          this.fail(error as Error);
        }
        this.responseEnded = true;
        this.wakeIterator?.();
        this.emit('end');
        if (this.failure) reject(this.failure);
        else resolve();
      });
      const broken = (error?: Error) => {
        if (this.responseEnded) return;
        this.fail(error ?? new PutMediaSessionClosedError('the PutMedia connection closed before the server ended the acknowledgements'));
        reject(this.failure);
      };
      response.once('error', broken);
      response.once('close', () => broken());
      request.once('error', broken);
    });
    // end() and the iterator report failures; an unobserved one must not crash the agent.
    this.ended.catch(() => undefined);
  }

  /** Sends bytes of the Matroska stream; resolves once the connection can take more (backpressure). */
  write(bytes: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.responseEnded) return Promise.reject(new PutMediaSessionClosedError('the server ended the PutMedia session'));
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.request.once('error', onError);
      const done = () => {
        this.request.off('error', onError);
        this.request.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.request.off('error', onError);
        this.request.off('drain', done);
        reject(this.failure ?? new PutMediaSessionClosedError('the PutMedia connection closed'));
      };
      this.request.once('close', onClose);
      if (this.request.write(bytes)) done();
      else this.request.once('drain', done);
    });
  }

  /** Ends the stream; resolves once the server has sent its last acknowledgement. */
  end(): Promise<void> {
    if (!this.request.writableEnded) this.request.end();
    return this.ended;
  }

  /** Drops the connection at once (acks not yet received are lost). */
  destroy(): void {
    this.request.destroy();
    this.response.destroy();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Ack> {
    this.iterating = true;
    for (;;) {
      const ack = this.queued.shift();
      if (ack) {
        yield ack;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.responseEnded) return;
      await new Promise<void>((resolve) => (this.wakeIterator = resolve));
      this.wakeIterator = undefined;
    }
  }

  private deliver(ack: Ack): void {
    if (this.iterating || this.listenerCount('ack') === 0) this.queued.push(ack);
    this.emit('ack', ack);
    this.wakeIterator?.();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wakeIterator?.();
  }
}
