// AWS Signature Version 4, the parts the verifier (ingest-server/auth/sigv4.ts) and the signer
// (the agent's uploader) must compute identically: canonical request, string to sign, signing
// key. One implementation, so a signature the agent makes is by construction one the server checks.

import { createHash, createHmac } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

/** Headers as node gives them: lower-case names, arrays for repeated headers. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** What a signature covers, once parsed. */
export interface CanonicalParts {
  method: string;
  /** The raw (percent-encoded once) path, without the query string. */
  rawPath: string;
  /** Decoded [key, value] pairs in wire order. */
  query: [string, string][];
  headers: HeaderMap;
  /** Lower-case names of the signed headers, in the order they are signed. */
  signedHeaders: string[];
  payloadHash: string;
}

/** The canonical request of SigV4 (task 1). */
export function canonicalRequest(parts: CanonicalParts): string {
  return [
    parts.method,
    canonicalUri(parts.rawPath),
    canonicalQuery(parts.query),
    parts.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(parts.headers, name)}\n`).join(''),
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

/** `date/region/service/aws4_request`. */
export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

/** The string to sign (task 2): algorithm, request time, scope, hash of the canonical request. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

/** The signing key (task 3), derived from the secret and the scope. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return [date, region, service, 'aws4_request'].reduce<Buffer>((key, part) => hmac(key, part), Buffer.from(`AWS4${secret}`, 'utf8'));
}

/** The hex signature of a string to sign. */
export function signature(key: Buffer, toSign: string): string {
  return hmac(key, toSign).toString('hex');
}

/** ISO-8601 basic format UTC time (yyyymmddThhmmssZ) of milliseconds since the epoch. */
export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** Decoded [key, value] pairs of a raw query string, in wire order. */
export function parseQuery(rawQuery: string): [string, string][] {
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))];
    });
}

/** A header's value, repeated values joined with commas. */
export function header(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What signRequest needs to sign a request. */
export interface SignOptions {
  method: string;
  /** Raw request target including the query string, e.g. '/'. */
  path: string;
  /** Lower-case names; must include `host`. Signed and returned with the auth headers added. */
  headers: Record<string, string>;
  /** The body to hash, or the literal payload hash to sign (e.g. UNSIGNED-PAYLOAD for a body streamed after signing). */
  body: Buffer | { payloadHash: string };
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  /** Milliseconds since the epoch; Date.now() unless given. */
  now?: number;
}

/** Signs a request with the Authorization header: returns its headers plus x-amz-date and authorization. */
export function signRequest(options: SignOptions): Record<string, string> {
  const amzDate = formatAmzDate(options.now ?? Date.now());
  const date = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers)) headers[name.toLowerCase()] = value;
  if (headers['host'] === undefined) throw new TypeError('headers.host is required to sign a request');
  headers['x-amz-date'] = amzDate;
  const signedHeaders = Object.keys(headers).sort();
  const queryIndex = options.path.indexOf('?');
  const canonical = canonicalRequest({
    method: options.method,
    rawPath: queryIndex < 0 ? options.path : options.path.slice(0, queryIndex),
    query: parseQuery(queryIndex < 0 ? '' : options.path.slice(queryIndex + 1)),
    headers,
    signedHeaders,
    payloadHash: Buffer.isBuffer(options.body) ? sha256Hex(options.body) : options.body.payloadHash,
  });
  const scope = credentialScope(date, options.region, options.service);
  const key = signingKey(options.secretAccessKey, date, options.region, options.service);
  const signed = signature(key, stringToSign(amzDate, scope, canonical));
  headers['authorization'] = `${SIGV4_ALGORITHM} Credential=${options.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signed}`;
  return headers;
}

function canonicalQuery(query: [string, string][]): string {
  return query
    .filter(([key]) => key.toLowerCase() !== 'x-amz-signature')
    .map(([key, value]) => [uriEncode(key), uriEncode(value)] as const)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

/**
 * The raw path is already percent-encoded once by the client; encoding it once more is what the
 * SDK signers do (AWS's "encode twice" rule for every service but S3). Dot segments and empty
 * segments are dropped first, as the SDK does.
 */
function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailingSlash = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return `/${segments.map(uriEncode).join('/')}${trailingSlash}`;
}

function canonicalHeaderValue(headers: HeaderMap, name: string): string {
  // HTTP/2 carries the host in :authority; the client signed it as 'host'.
  const value = header(headers, name) ?? (name === 'host' ? header(headers, ':authority') : undefined);
  return (value ?? '').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

/** RFC 3986 encoding: everything but unreserved characters, upper-case hex. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // Malformed escapes cannot have come from a conforming signer; let the signature fail.
    return value;
  }
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** What presignUrl needs: the URL to sign (its query kept) and the keys. */
export interface PresignOptions {
  /** http(s):// or ws(s):// URL; its existing query parameters are signed too. */
  url: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  /** How long the signature stays valid, in seconds; 300 unless given. */
  expiresSeconds?: number;
  /** Milliseconds since the epoch; Date.now() unless given. */
  now?: number;
}

/**
 * A GET URL signed in its query string (X-Amz-Signature and friends), for requests that cannot carry
 * headers, such as a WebSocket upgrade. Signs only `host` and the empty body's hash, as the Kinesis
 * Video WebSocket signers do.
 */
export function presignUrl(options: PresignOptions): string {
  const url = new URL(options.url);
  const amzDate = formatAmzDate(options.now ?? Date.now());
  const date = amzDate.slice(0, 8);
  const scope = credentialScope(date, options.region, options.service);
  url.searchParams.set('X-Amz-Algorithm', SIGV4_ALGORITHM);
  url.searchParams.set('X-Amz-Credential', `${options.accessKeyId}/${scope}`);
  url.searchParams.set('X-Amz-Date', amzDate);
  url.searchParams.set('X-Amz-Expires', String(options.expiresSeconds ?? 300));
  url.searchParams.set('X-Amz-SignedHeaders', 'host');
  const canonical = canonicalRequest({
    method: 'GET',
    rawPath: url.pathname || '/',
    query: parseQuery(url.search.slice(1)),
    headers: { host: url.host },
    signedHeaders: ['host'],
    payloadHash: sha256Hex(''),
  });
  const key = signingKey(options.secretAccessKey, date, options.region, options.service);
  url.searchParams.set('X-Amz-Signature', signature(key, stringToSign(amzDate, scope, canonical)));
  return url.toString();
}
