// AWS Signature Version 4 verification, for the Authorization header and for presigned query
// strings. Pure: the caller supplies the secret lookup and the clock. Error types and messages
// follow what AWS's JSON services return (as recorded by kinesalite/dynalite), and the checks run
// in roughly AWS's order, so clients and their retry logic see the error they would from AWS.

import { timingSafeEqual } from 'node:crypto';
import {
  SIGV4_ALGORITHM as ALGORITHM,
  canonicalRequest,
  credentialScope as scopeOf,
  formatAmzDate,
  header,
  parseQuery,
  sha256Hex,
  signature,
  signingKey as deriveSigningKey,
  stringToSign as stringToSignOf,
} from '../../lib/sigv4.js';
import {
  IncompleteSignatureException,
  InvalidSignatureException,
  MissingAuthenticationTokenException,
  UnrecognizedClientException,
} from '../protocol/errors.js';

export interface SignedRequest {
  method: string;
  /** Raw request target including the query string, e.g. '/?a=b'. */
  path: string;
  /** Lower-case names as node's http/http2 give them; http2 pseudo-headers are ignored. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * Undefined for a body still streaming in (Kinesis Video PutMedia): the signature is checked
   * over the declared x-amz-content-sha256 (UNSIGNED-PAYLOAD when none), and the body is not.
   */
  body: Buffer | undefined;
}

export interface VerifiedIdentity {
  accessKeyId: string;
  region: string;
  service: string;
}

const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_EXPIRES_S = 7 * 24 * 60 * 60;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** What the two auth styles have in common once parsed. */
interface AuthParams {
  credential: string;
  signedHeaders: string;
  signature: string;
  date: string;
  /** Seconds; only presigned URLs carry one. */
  expires?: number;
  /** Candidate payload hashes; the signature may match any of them. */
  payloadHashes: string[];
  /** The literal payload hash the client declared, to check against the body. */
  declaredPayloadHash?: string;
}

export function verifySigV4(
  request: SignedRequest,
  secretFor: (accessKeyId: string) => string | undefined,
  nowMs: number,
): VerifiedIdentity {
  const queryIndex = request.path.indexOf('?');
  const rawPath = queryIndex < 0 ? request.path : request.path.slice(0, queryIndex);
  const query = parseQuery(queryIndex < 0 ? '' : request.path.slice(queryIndex + 1));
  const authorization = header(request.headers, 'authorization');
  const presigned = query.some(([key]) => key === 'X-Amz-Algorithm');

  if (authorization !== undefined && presigned) {
    throw new InvalidSignatureException(
      "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
    );
  }
  if (authorization === undefined && !presigned) {
    throw new MissingAuthenticationTokenException('Missing Authentication Token');
  }
  const auth =
    authorization !== undefined
      ? parseAuthorizationHeader(authorization, request)
      : parsePresignedQuery(query, request);

  const requestTimeMs = parseAmzDate(auth.date);
  checkRequestTime(auth.date, requestTimeMs, auth.expires, nowMs);

  const signedHeaders = auth.signedHeaders.split(';').map((name) => name.trim().toLowerCase());
  if (!signedHeaders.includes('host') && !signedHeaders.includes(':authority')) {
    throw new InvalidSignatureException(
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
  }

  const scope = parseCredential(auth.credential, auth.date);
  const secret = secretFor(scope.accessKeyId);
  if (!secret) {
    throw new UnrecognizedClientException('The security token included in the request is invalid.');
  }

  const signingKey = deriveSigningKey(secret, scope.date, scope.region, scope.service);
  const credentialScope = scopeOf(scope.date, scope.region, scope.service);
  const matches = auth.payloadHashes.some((payloadHash) => {
    const canonical = canonicalRequest({ method: request.method, rawPath, query, headers: request.headers, signedHeaders, payloadHash });
    return constantTimeEqual(signature(signingKey, stringToSignOf(auth.date, credentialScope, canonical)), auth.signature);
  });
  if (!matches) throw new InvalidSignatureException(SIGNATURE_MISMATCH);

  // A signed x-amz-content-sha256 vouches for the body only if the body really hashes to it.
  if (
    request.body !== undefined &&
    auth.declaredPayloadHash !== undefined &&
    /^[0-9a-f]{64}$/i.test(auth.declaredPayloadHash) &&
    auth.declaredPayloadHash.toLowerCase() !== sha256Hex(request.body)
  ) {
    throw new InvalidSignatureException(
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }

  return { accessKeyId: scope.accessKeyId, region: scope.region, service: scope.service };
}

function parseAuthorizationHeader(authorization: string, request: SignedRequest): AuthParams {
  const trimmed = authorization.trim();
  const space = trimmed.search(/\s/);
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  const params = new Map<string, string>();
  // AWS accepts the parameters separated by commas, whitespace, or both.
  for (const part of (space < 0 ? '' : trimmed.slice(space)).split(/[\s,]+/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      throw new IncompleteSignatureException(
        `'${part}' not a valid key=value pair (missing equal-sign) in Authorization header: '${authorization}'.`,
      );
    }
    params.set(part.slice(0, eq), part.slice(eq + 1));
  }

  const date = header(request.headers, 'x-amz-date');
  let missing = '';
  for (const name of ['Credential', 'Signature', 'SignedHeaders']) {
    if (!params.get(name)) missing += `Authorization header requires '${name}' parameter. `;
  }
  // AWS also accepts a 'Date' header; every SDK sends X-Amz-Date, so only that is supported.
  if (!date) missing += "Authorization header requires existence of a 'X-Amz-Date' header. ";
  if (missing) throw new IncompleteSignatureException(`${missing}Authorization=${authorization}`);
  checkAlgorithm(algorithm);

  const declared = header(request.headers, 'x-amz-content-sha256');
  return {
    credential: params.get('Credential')!,
    signedHeaders: params.get('SignedHeaders')!,
    signature: params.get('Signature')!,
    date: date!,
    payloadHashes: [declared ?? (request.body ? sha256Hex(request.body) : UNSIGNED_PAYLOAD)],
    declaredPayloadHash: declared,
  };
}

function parsePresignedQuery(query: [string, string][], request: SignedRequest): AuthParams {
  const param = (name: string) => query.find(([key]) => key === name)?.[1];
  let missing = '';
  for (const name of ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date']) {
    if (!param(name)) missing += `AWS query-string parameters must include '${name}'. `;
  }
  if (missing) throw new IncompleteSignatureException(`${missing}Re-examine the query-string parameters.`);
  checkAlgorithm(param('X-Amz-Algorithm')!);

  const rawExpires = param('X-Amz-Expires');
  let expires: number | undefined;
  if (rawExpires !== undefined) {
    if (!/^\d+$/.test(rawExpires)) {
      throw new IncompleteSignatureException('X-Amz-Expires should be a number');
    }
    expires = Number(rawExpires);
    if (expires > MAX_PRESIGN_EXPIRES_S) {
      throw new IncompleteSignatureException(
        `X-Amz-Expires must be less than a week (in seconds) that is; ${MAX_PRESIGN_EXPIRES_S}`,
      );
    }
  }

  const declared =
    query.find(([key]) => key.toLowerCase() === 'x-amz-content-sha256')?.[1] ??
    header(request.headers, 'x-amz-content-sha256');
  return {
    credential: param('X-Amz-Credential')!,
    signedHeaders: param('X-Amz-SignedHeaders')!,
    signature: param('X-Amz-Signature')!,
    date: param('X-Amz-Date')!,
    expires,
    // S3-style presigners sign UNSIGNED-PAYLOAD; the SDK's presign() and the Kinesis Video
    // WebSocket signers hash the (usually empty) body instead. Both are legitimate.
    payloadHashes: declared !== undefined ? [declared] : request.body ? [UNSIGNED_PAYLOAD, sha256Hex(request.body)] : [UNSIGNED_PAYLOAD],
    declaredPayloadHash: declared,
  };
}

function checkAlgorithm(algorithm: string): void {
  if (algorithm !== ALGORITHM) {
    throw new IncompleteSignatureException(
      `Unsupported AWS 'algorithm': '${algorithm}' (only ${ALGORITHM} for now). `,
    );
  }
}

/** Milliseconds since the epoch of an ISO-8601 basic-format UTC time (yyyymmddThhmmssZ). */
function parseAmzDate(date: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  const ms = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
  // Date.UTC rolls over out-of-range fields (month 13); a round trip catches that.
  if (Number.isNaN(ms) || formatAmzDate(ms) !== date) {
    throw new IncompleteSignatureException(
      `Date must be in ISO-8601 'basic format'. Got '${date}'. See http://en.wikipedia.org/wiki/ISO_8601`,
    );
  }
  return ms;
}

function checkRequestTime(date: string, requestMs: number, expiresS: number | undefined, nowMs: number): void {
  if (requestMs - nowMs > MAX_SKEW_MS) {
    throw new InvalidSignatureException(
      `Signature not yet current: ${date} is still later than ${formatAmzDate(nowMs + MAX_SKEW_MS)} (${formatAmzDate(nowMs)} + 15 min.)`,
    );
  }
  if (expiresS === undefined) {
    if (nowMs - requestMs > MAX_SKEW_MS) {
      throw new InvalidSignatureException(
        `Signature expired: ${date} is now earlier than ${formatAmzDate(nowMs - MAX_SKEW_MS)} (${formatAmzDate(nowMs)} - 15 min.)`,
      );
    }
  } else if (nowMs - requestMs > expiresS * 1000) {
    throw new InvalidSignatureException(
      `Signature expired: ${date} is now earlier than ${formatAmzDate(nowMs - expiresS * 1000)} (${formatAmzDate(nowMs)} - ${expiresS} sec.)`,
    );
  }
}

function parseCredential(credential: string, date: string) {
  // AWS ignores trailing slashes here.
  const parts = credential.replace(/\/+$/, '').split('/');
  if (parts.length !== 5) {
    throw new IncompleteSignatureException(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`,
    );
  }
  const [accessKeyId, scopeDate, region, service, terminator] = parts as [string, string, string, string, string];
  const problems: string[] = [];
  if (!region) problems.push(`Credential should be scoped to a valid region, not '${region}'.`);
  if (!service) problems.push(`Credential should be scoped to a valid service, not '${service}'.`);
  if (terminator !== 'aws4_request') {
    problems.push(`Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`);
  }
  if (scopeDate !== date.slice(0, 8)) {
    problems.push(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${date.slice(0, 8)}', from '${date}'.`,
    );
  }
  if (problems.length > 0) throw new InvalidSignatureException(problems.join(' '));
  return { accessKeyId, date: scopeDate, region, service };
}

function constantTimeEqual(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(provided, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
