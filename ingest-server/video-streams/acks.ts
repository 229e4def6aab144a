// PutMedia's acknowledgement stream: one JSON object per line, per fragment BUFFERING, RECEIVED,
// PERSISTED (or ERROR with an id), and IDLE while nothing arrives. Shared by the server, which
// writes it, and the agent's client, which reads it, so both spell the events the same way.

/** The acknowledgement events PutMedia sends. */
export type AckEventType = 'BUFFERING' | 'RECEIVED' | 'PERSISTED' | 'ERROR' | 'IDLE';

/** One acknowledgement as it travels (AWS's member names). */
export interface Ack {
  EventType: AckEventType;
  /** The Cluster timecode of the fragment as the producer sent it. */
  FragmentTimecode: number;
  /** Decimal fragment number; present once the fragment has one (PERSISTED). */
  FragmentNumber?: string;
  /** Present on ERROR: one of ACK_ERROR_IDS. */
  ErrorId?: number;
}

/** PutMedia error ids by their AWS names (the producer SDKs switch on these numbers). */
export const ACK_ERROR_IDS = {
  STREAM_READ_ERROR: 4000,
  MAX_FRAGMENT_SIZE_REACHED: 4001,
  MAX_FRAGMENT_DURATION_REACHED: 4002,
  MAX_CONNECTION_DURATION_REACHED: 4003,
  FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS: 4004,
  /** Deprecated by AWS in favour of MORE_THAN_ALLOWED_TRACKS_FOUND (4012); kept so clients can name it. */
  MULTI_TRACK_MKV: 4005,
  INVALID_MKV_DATA: 4006,
  INVALID_PRODUCER_TIMESTAMP: 4007,
  STREAM_NOT_ACTIVE: 4008,
  FRAGMENT_METADATA_LIMIT_REACHED: 4009,
  TRACK_NUMBER_MISMATCH: 4010,
  FRAMES_MISSING_FOR_TRACK: 4011,
  MORE_THAN_ALLOWED_TRACKS_FOUND: 4012,
  KMS_KEY_ACCESS_DENIED: 4500,
  KMS_KEY_DISABLED: 4501,
  KMS_KEY_VALIDATION_ERROR: 4502,
  KMS_KEY_UNAVAILABLE: 4503,
  KMS_KEY_INVALID_USAGE: 4504,
  KMS_KEY_INVALID_STATE: 4505,
  KMS_KEY_NOT_FOUND: 4506,
  INTERNAL_ERROR: 5000,
  ARCHIVAL_ERROR: 5001,
} as const;

/** An AWS name of a PutMedia error. */
export type AckErrorName = keyof typeof ACK_ERROR_IDS;

/** The AWS name of an error id, for logs and messages; undefined for ids AWS does not define. */
export function ackErrorName(id: number): AckErrorName | undefined {
  return (Object.keys(ACK_ERROR_IDS) as AckErrorName[]).find((name) => ACK_ERROR_IDS[name] === id);
}

/** A fragment PutMedia refused, with the error id the producer is told. */
export class FragmentRejectedError extends Error {
  override readonly name = 'FragmentRejectedError';
  constructor(
    readonly errorName: AckErrorName,
    message: string,
  ) {
    super(message);
  }
  get errorId(): number {
    return ACK_ERROR_IDS[this.errorName];
  }
}

/** One acknowledgement as a line of the response body. */
export function encodeAck(ack: Ack): string {
  return JSON.stringify(ack) + '\n';
}

/** Splits the acknowledgement stream into acks, whatever the chunk boundaries (pure: bytes in, acks out). */
export class AckLineReader {
  private readonly decoder = new TextDecoder();
  private partial = '';

  /** The acks completed by this chunk; throws SyntaxError on a line that is not an ack. */
  push(chunk: Uint8Array): Ack[] {
    this.partial += this.decoder.decode(chunk, { stream: true });
    const lines = this.partial.split('\n');
    this.partial = lines.pop()!;
    return lines.filter((line) => line.trim() !== '').map(parseAck);
  }

  /** The last ack when the stream ended without a newline after it. */
  end(): Ack[] {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    return rest.trim() === '' ? [] : [parseAck(rest)];
  }
}

const EVENT_TYPES: readonly string[] = ['BUFFERING', 'RECEIVED', 'PERSISTED', 'ERROR', 'IDLE'];

function parseAck(line: string): Ack {
  const value: unknown = JSON.parse(line);
  const ack = value as Partial<Ack> | null;
  if (ack === null || typeof ack !== 'object' || typeof ack.EventType !== 'string' || !EVENT_TYPES.includes(ack.EventType)) {
    throw new SyntaxError(`not a PutMedia acknowledgement: ${line}`);
  }
  return value as Ack;
}
