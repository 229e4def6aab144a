import type { ServiceError } from './errors.js';

/** Where a streaming operation sends its events; the HTTP layer encodes them in the request's format. */
export interface EventSink {
  /** Sends one event; resolves when the transport can take more. */
  event(eventType: string, payload: object): Promise<void>;
  /** Sends an exception event; the stream ends after it. */
  exception(error: ServiceError): Promise<void>;
  readonly closed: boolean;
  /** Called once when the client goes away or the response ends. */
  onClose(listener: () => void): void;
}

/** A handler result answered as an application/vnd.amazon.eventstream body instead of one document. */
export class EventStreamResponse {
  constructor(readonly run: (sink: EventSink) => Promise<void>) {}
}
