import type http from 'node:http';
import type http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/log.js';
import { decodeBody, encodeBody, encodeError, formatOf, type BodyFormat } from '../protocol/aws-json.js';
import { EventStreamResponse } from '../protocol/event-stream-response.js';
import { InternalFailure, ServiceError, UnknownOperationException } from '../protocol/errors.js';
import { eventMessage, exceptionMessage } from '../protocol/event-stream.js';
import { Input } from '../protocol/input.js';
import type { DataStreamsContext } from './context.js';
import { OPERATIONS, TARGET_PREFIX } from './operations.js';

type Response = http.ServerResponse | http2.Http2ServerResponse;

/** Counters the server exposes as metrics. */
export interface EndpointStats {
  requests: Map<string, number>;
  errors: Map<string, number>;
}

/**
 * Serves one Kinesis JSON 1.1 / CBOR request whose body has been read and authenticated.
 * `authorize` sees the operation and the decoded body before the operation runs, and throws to refuse it.
 */
export async function serveKinesis(
  ctx: DataStreamsContext,
  log: Logger,
  stats: EndpointStats,
  target: string,
  contentType: string | undefined,
  body: Buffer,
  response: Response,
  authorize?: (operation: string, decoded: unknown) => void,
): Promise<void> {
  const format = formatOf(contentType);
  const name = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
  const requestId = randomUUID();
  response.setHeader('x-amzn-requestid', requestId);
  try {
    const operation = Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
    if (!operation) throw new UnknownOperationException(target ? `Operation ${target} is not supported.` : 'Missing x-amz-target header.');
    stats.requests.set(name, (stats.requests.get(name) ?? 0) + 1);
    const decoded = decodeBody(format, body);
    authorize?.(name, decoded);
    const result = await operation(ctx, Input.of(decoded));
    if (result instanceof EventStreamResponse) await streamEvents(format, result, response);
    else send(response, 200, encodeBody(format, result));
  } catch (error) {
    const failure = error instanceof ServiceError ? error : new InternalFailure('Internal service failure.');
    if (!(error instanceof ServiceError)) log.error('operation failed', { operation: name, requestId, error });
    stats.errors.set(failure.name, (stats.errors.get(failure.name) ?? 0) + 1);
    if (response.headersSent) {
      response.end();
      return;
    }
    const encoded = encodeError(format, failure);
    for (const [header, value] of Object.entries(encoded.headers)) response.setHeader(header, value);
    send(response, encoded.status, { contentType: encoded.headers['content-type']!, body: encoded.body });
  }
}

function send(response: Response, status: number, { contentType, body }: { contentType: string; body: Buffer }): void {
  response.statusCode = status;
  response.setHeader('content-type', contentType);
  response.setHeader('content-length', body.length);
  response.end(body);
}

async function streamEvents(format: BodyFormat, result: EventStreamResponse, response: Response): Promise<void> {
  response.statusCode = 200;
  response.setHeader('content-type', 'application/vnd.amazon.eventstream');
  const closeListeners: (() => void)[] = [];
  let closed = false;
  const markClosed = () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener();
  };
  response.once('close', markClosed);
  const write = (message: Buffer) =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      if ((response.write as (chunk: Buffer) => boolean)(message)) resolve();
      else response.once('drain', () => resolve());
    });
  await result.run({
    event: (eventType, payload) => {
      const { contentType, body } = encodeBody(format, payload);
      return write(eventMessage(eventType, body, contentType));
    },
    exception: (error) => {
      const { contentType, body } = encodeBody(format, { message: error.message });
      return write(exceptionMessage(error.name, body, contentType));
    },
    get closed() {
      return closed;
    },
    onClose: (listener) => closeListeners.push(listener),
  });
  if (!closed) response.end();
  markClosed();
}
