import { Decoder, Encoder, Tag, addExtension } from 'cbor-x';
import { SerializationException, type ServiceError } from './errors.js';
import { Blob, Timestamp } from './wire-values.js';

// The awsJson1_1 protocol body codec, and its CBOR twin that the Java SDKs and KPL send by
// default. Java clients write timestamps as tag 1 around integer epoch milliseconds (not the
// seconds RFC 8949 specifies) and read them back the same way, so that is what we do here.

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const CBOR_CONTENT_TYPE = 'application/x-amz-cbor-1.1';

addExtension({ tag: 1, decode: (value: number | bigint) => new Date(Number(value)) } as never);

const cborEncoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const cborDecoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** The body encoding a request chose, by its content type. */
export type BodyFormat = 'json' | 'cbor';

export function formatOf(contentType: string | undefined): BodyFormat {
  return contentType?.startsWith('application/x-amz-cbor') ? 'cbor' : 'json';
}

/** Decodes a request body; an empty body is an empty object, as the SDKs send for no input. */
export function decodeBody(format: BodyFormat, body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return format === 'cbor' ? cborDecoder.decode(body) : JSON.parse(body.toString('utf8'));
  } catch {
    throw new SerializationException(format === 'cbor' ? 'Request body is not valid CBOR.' : 'Start of structure or map found where not expected.');
  }
}

/** Encodes a response body in the request's format. */
export function encodeBody(format: BodyFormat, value: unknown): { contentType: string; body: Buffer } {
  if (format === 'cbor') return { contentType: CBOR_CONTENT_TYPE, body: Buffer.from(cborEncoder.encode(forCbor(value))) };
  return { contentType: JSON_CONTENT_TYPE, body: Buffer.from(JSON.stringify(value), 'utf8') };
}

/** The error shape every SDK reads: `__type` and `message` in the body, plus x-amzn-ErrorType. */
export function encodeError(format: BodyFormat, error: ServiceError): { status: number; headers: Record<string, string>; body: Buffer } {
  const { contentType, body } = encodeBody(format, { __type: error.name, message: error.message });
  return { status: error.status, headers: { 'content-type': contentType, 'x-amzn-errortype': error.name }, body };
}

/** Replaces wire values with what the CBOR encoder writes for them. */
function forCbor(value: unknown): unknown {
  if (value instanceof Blob) return Buffer.from(value.base64, 'base64');
  if (value instanceof Timestamp) return new Tag(BigInt(Math.round(value.ms)), 1);
  if (Array.isArray(value)) return value.map(forCbor);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, forCbor(member)]));
  }
  return value;
}
