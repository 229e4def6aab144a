import { InvalidArgumentException, type ServiceError } from '../protocol/errors.js';

// The signaling WebSocket's wire format, shared by the server, the agent's master and tests:
// JSON text frames whose messagePayload is base64 of the JSON an RTCPeerConnection produced
// (an RTCSessionDescription or an RTCIceCandidate). Pure: no sockets here.

/** What a client may ask the server to forward. */
export type SignalingAction = 'SDP_OFFER' | 'SDP_ANSWER' | 'ICE_CANDIDATE';

/** A frame a client sends. */
export interface ClientMessage {
  action: SignalingAction;
  /** The viewer a master's message is for; viewers leave it out (their messages go to the master). */
  recipientClientId?: string;
  /** Base64 of JSON. */
  messagePayload: string;
  /** Asks for a STATUS_RESPONSE naming it when the message fails. */
  correlationId?: string;
}

/** A frame the server sends. */
export interface ServerMessage {
  senderClientId?: string;
  messageType: SignalingAction | 'GO_AWAY' | 'RECONNECT_ICE_SERVER' | 'STATUS_RESPONSE';
  messagePayload?: string;
  statusResponse?: { correlationId?: string; errorType?: string; statusCode?: string; description?: string };
}

const ACTIONS: readonly SignalingAction[] = ['SDP_OFFER', 'SDP_ANSWER', 'ICE_CANDIDATE'];
/** AWS's limit on messagePayload. */
const MAX_PAYLOAD_BYTES = 10 * 1024;
const CLIENT_ID = /^[a-zA-Z0-9_.-]{1,256}$/;
const CORRELATION_ID = /^[a-zA-Z0-9_.-]{1,256}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 of a value's JSON, as messagePayload carries it. */
export function encodePayload(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/** The value a messagePayload carries; InvalidArgumentException when it is not base64 of JSON. */
export function decodePayload(text: string): unknown {
  if (!BASE64.test(text)) throw new InvalidArgumentException('messagePayload is not valid base64.');
  try {
    return JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    throw new InvalidArgumentException('messagePayload is not base64 of JSON.');
  }
}

/** Whether a text is a valid client id (X-Amz-ClientId, recipientClientId). */
export function isClientId(text: string): boolean {
  return CLIENT_ID.test(text);
}

/** A client frame, checked member by member; InvalidArgumentException naming the member otherwise. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentException('The message is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentException('The message must be a JSON object.');
  const { action, recipientClientId, messagePayload, correlationId } = value as Record<string, unknown>;
  if (typeof action !== 'string' || !ACTIONS.includes(action as SignalingAction)) {
    throw new InvalidArgumentException(`action must be one of ${ACTIONS.join(', ')}; got ${JSON.stringify(action ?? null)}.`);
  }
  if (correlationId !== undefined && (typeof correlationId !== 'string' || !CORRELATION_ID.test(correlationId))) {
    throw new InvalidArgumentException('correlationId must be 1 to 256 characters of [a-zA-Z0-9_.-].');
  }
  if (recipientClientId !== undefined && (typeof recipientClientId !== 'string' || !isClientId(recipientClientId))) {
    throw new InvalidArgumentException('recipientClientId must be 1 to 256 characters of [a-zA-Z0-9_.-].');
  }
  if (typeof messagePayload !== 'string' || messagePayload.length === 0) throw new InvalidArgumentException('messagePayload must be a non-empty string.');
  if (messagePayload.length > MAX_PAYLOAD_BYTES) throw new InvalidArgumentException(`messagePayload must be at most ${MAX_PAYLOAD_BYTES} bytes.`);
  decodePayload(messagePayload);
  return {
    action: action as SignalingAction,
    messagePayload,
    ...(recipientClientId !== undefined ? { recipientClientId } : {}),
    ...(correlationId !== undefined ? { correlationId } : {}),
  };
}

/**
 * The correlationId of a frame that failed to parse, when one can be read: the error reply
 * names it so the client can tell which message failed.
 */
export function correlationIdOf(text: string): string | undefined {
  try {
    const { correlationId } = JSON.parse(text) as { correlationId?: unknown };
    return typeof correlationId === 'string' && CORRELATION_ID.test(correlationId) ? correlationId : undefined;
  } catch {
    return undefined;
  }
}

/** The STATUS_RESPONSE reporting an error, in AWS's shape (statusCode as a string). */
export function statusResponse(error: ServiceError, correlationId: string | undefined): ServerMessage {
  return {
    messageType: 'STATUS_RESPONSE',
    statusResponse: {
      ...(correlationId !== undefined ? { correlationId } : {}),
      errorType: error.name,
      statusCode: String(error.status),
      description: error.message,
    },
  };
}
