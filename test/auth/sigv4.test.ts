// Requests are signed by the signer the AWS SDK for JavaScript v3 itself uses (@smithy/signature-v4
// with the SHA-256 from @smithy/core/checksum, exactly as @aws-sdk/client-kinesis wires it), and
// two end-to-end tests capture what the real Kinesis client puts on the wire over HTTP/1.1 and h2c.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { Sha256 } from '@smithy/core/checksum';
import { buildQueryString } from '@smithy/core/protocols';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { CredentialsFileError, loadCredentialsFile } from '../../ingest-server/auth/credentials.js';
import { verifySigV4, type SignedRequest } from '../../ingest-server/auth/sigv4.js';
import {
  IncompleteSignatureException,
  InvalidSignatureException,
  MissingAuthenticationTokenException,
  UnrecognizedClientException,
} from '../../ingest-server/protocol/errors.js';

const AKID = 'AKIDEXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const secretFor = (id: string) => (id === AKID ? SECRET : undefined);
const SIGNING_DATE = new Date('2024-05-01T12:00:00Z');
const NOW = SIGNING_DATE.getTime();
const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function signer(secretAccessKey = SECRET, options: { applyChecksum?: boolean } = {}) {
  return new SignatureV4({
    credentials: { accessKeyId: AKID, secretAccessKey },
    region: 'us-east-1',
    service: 'kinesis',
    sha256: Sha256,
    ...options,
  });
}

function listStreams(overrides: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 4567,
    path: '/',
    headers: {
      host: '127.0.0.1:4567',
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'Kinesis_20131202.ListStreams',
    },
    body: '{}',
    ...overrides,
  };
}

/** What node's http server would hand over for this request. */
function onTheWire(request: HttpRequest): SignedRequest {
  const query = request.query && Object.keys(request.query).length > 0 ? `?${buildQueryString(request.query)}` : '';
  const headers: SignedRequest['headers'] = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  return { method: request.method, path: request.path + query, headers, body: Buffer.from(request.body ?? '') };
}

async function signed(request = listStreams(), secret = SECRET): Promise<SignedRequest> {
  return onTheWire(await signer(secret).sign(request, { signingDate: SIGNING_DATE }));
}

const expected = { accessKeyId: AKID, region: 'us-east-1', service: 'kinesis' };

// ---- valid requests -------------------------------------------------------------------------

test('accepts a request signed in the Authorization header', async (t) => {
  const request = await signed();
  t.regex(String(request.headers['authorization']), /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20240501\//);
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
});

test('accepts clock skew up to 15 minutes either way', async (t) => {
  const request = await signed();
  t.deepEqual(verifySigV4(request, secretFor, NOW + 15 * 60_000), expected);
  t.deepEqual(verifySigV4(request, secretFor, NOW - 15 * 60_000), expected);
});

test('accepts an HTTP/2 request whose host arrives as :authority', async (t) => {
  const { host, ...rest } = (await signed()).headers;
  const request = await signed();
  request.headers = { ...rest, ':authority': host, ':method': 'POST', ':path': '/', ':scheme': 'http' };
  t.false('host' in request.headers);
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
});

test('accepts a path and query string that need encoding, in any wire order', async (t) => {
  const request = listStreams({
    method: 'GET',
    // As a client sends it: already percent-encoded once.
    path: '/some%20dir/caf%C3%A9/it%27s(1)*~/',
    query: { b: '2', a: ['z y', 'x'], 'k~e y': "it's (x)*+/=&", empty: '' },
    body: '',
  });
  const wire = await signed(request);
  t.is(
    wire.path,
    "/some%20dir/caf%C3%A9/it%27s(1)*~/?a=z%20y&a=x&b=2&empty=&k~e%20y=it%27s%20%28x%29%2A%2B%2F%3D%26",
  );
  t.deepEqual(verifySigV4(wire, secretFor, NOW), expected);

  const [path, query] = wire.path.split('?') as [string, string];
  const shuffled = { ...wire, path: `${path}?${query.split('&').reverse().join('&')}` };
  t.deepEqual(verifySigV4(shuffled, secretFor, NOW), expected);
});

test('accepts extra unsigned headers and header values with odd whitespace', async (t) => {
  const request = await signed(
    listStreams({
      headers: { ...listStreams().headers, 'x-custom': '  a   b \t c  ' },
    }),
  );
  t.regex(String(request.headers['authorization']), /SignedHeaders=[^,]*x-custom/);
  request.headers['user-agent'] = 'added after signing';
  request.headers['x-custom'] = 'a b c';
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
});

test('accepts UNSIGNED-PAYLOAD literally, without binding the body', async (t) => {
  const request = await signed(
    listStreams({ headers: { ...listStreams().headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }),
  );
  request.body = Buffer.from('{"anything":true}');
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
});

// ---- presigned URLs -------------------------------------------------------------------------

async function presigned(request: HttpRequest, expiresIn = 300): Promise<SignedRequest> {
  return onTheWire(await signer().presign(request, { signingDate: SIGNING_DATE, expiresIn }));
}

test('accepts a presigned request from signer.presign', async (t) => {
  const request = await presigned(listStreams());
  t.regex(request.path, /X-Amz-Algorithm=AWS4-HMAC-SHA256/);
  t.is(request.headers['authorization'], undefined);
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
});

test('accepts a presigned WebSocket-style GET with no body', async (t) => {
  const request = await presigned(
    listStreams({ method: 'GET', path: '/stream', query: { StreamName: 'my stream' }, body: undefined }),
  );
  t.deepEqual(verifySigV4({ ...request, method: 'GET' }, secretFor, NOW + 299_000), expected);
});

test('accepts a presigned request signed over UNSIGNED-PAYLOAD', async (t) => {
  const request = await presigned(
    listStreams({ headers: { ...listStreams().headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }),
  );
  t.regex(request.path, /x-amz-content-sha256=UNSIGNED-PAYLOAD/);
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
});

test('rejects a presigned request past X-Amz-Expires', async (t) => {
  const request = await presigned(listStreams(), 300);
  const error = t.throws(() => verifySigV4(request, secretFor, NOW + 301_000), {
    instanceOf: InvalidSignatureException,
  });
  t.is(error?.message, 'Signature expired: 20240501T120000Z is now earlier than 20240501T120001Z (20240501T120501Z - 300 sec.)');
});

test('rejects a tampered presigned query', async (t) => {
  const request = await presigned(listStreams());
  request.path = request.path.replace('X-Amz-Expires=300', 'X-Amz-Expires=600');
  t.throws(() => verifySigV4(request, secretFor, NOW), { instanceOf: InvalidSignatureException, message: MISMATCH });
});

test('rejects an incomplete presigned query, listing what is missing', (t) => {
  const error = t.throws(
    () => verifySigV4({ method: 'GET', path: '/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240501T120000Z', headers: { host: 'h' }, body: Buffer.alloc(0) }, secretFor, NOW),
    { instanceOf: IncompleteSignatureException },
  );
  t.is(
    error?.message,
    "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.",
  );
});

test('rejects both presigned query and Authorization header', async (t) => {
  const request = await presigned(listStreams());
  request.headers['authorization'] = (await signed()).headers['authorization'];
  t.throws(() => verifySigV4(request, secretFor, NOW), {
    instanceOf: InvalidSignatureException,
    message: /^Found both 'X-Amz-Algorithm'/,
  });
});

// ---- signature mismatches -------------------------------------------------------------------

test('rejects a tampered body (caught by the signed x-amz-content-sha256)', async (t) => {
  const request = await signed();
  request.body = Buffer.from('{"Limit":1}');
  t.throws(() => verifySigV4(request, secretFor, NOW), {
    instanceOf: InvalidSignatureException,
    message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  });
});

test('rejects a tampered body when no x-amz-content-sha256 was sent', async (t) => {
  const request = onTheWire(await signer(SECRET, { applyChecksum: false }).sign(listStreams(), { signingDate: SIGNING_DATE }));
  t.false('x-amz-content-sha256' in request.headers);
  t.deepEqual(verifySigV4(request, secretFor, NOW), expected);
  request.body = Buffer.from('{"Limit":1}');
  t.throws(() => verifySigV4(request, secretFor, NOW), { instanceOf: InvalidSignatureException, message: MISMATCH });
});

test('rejects a tampered signed header', async (t) => {
  const request = await signed();
  request.headers['x-amz-target'] = 'Kinesis_20131202.DeleteStream';
  t.throws(() => verifySigV4(request, secretFor, NOW), { instanceOf: InvalidSignatureException, message: MISMATCH });
});

test('rejects a tampered path', async (t) => {
  const request = await signed();
  request.path = '/?x=1';
  t.throws(() => verifySigV4(request, secretFor, NOW), { instanceOf: InvalidSignatureException, message: MISMATCH });
});

test('rejects a signature made with the wrong secret', async (t) => {
  const request = await signed(listStreams(), 'not-the-secret');
  t.throws(() => verifySigV4(request, secretFor, NOW), { instanceOf: InvalidSignatureException, message: MISMATCH });
});

test('rejects a request whose host is not signed', async (t) => {
  const request = onTheWire(
    await signer().sign(listStreams(), { signingDate: SIGNING_DATE, unsignableHeaders: new Set(['host']) }),
  );
  t.throws(() => verifySigV4(request, secretFor, NOW), {
    instanceOf: InvalidSignatureException,
    message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
  });
});

test('rejects a credential scope dated differently from x-amz-date', async (t) => {
  const request = await signed();
  request.headers['x-amz-date'] = '20240502T120000Z';
  t.throws(() => verifySigV4(request, secretFor, NOW + 24 * 3600_000), {
    instanceOf: InvalidSignatureException,
    message:
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240501' != '20240502', from '20240502T120000Z'.",
  });
});

// ---- identity and time ----------------------------------------------------------------------

test('rejects an unknown access key', async (t) => {
  const request = await signed();
  t.throws(() => verifySigV4(request, () => undefined, NOW), {
    instanceOf: UnrecognizedClientException,
    message: 'The security token included in the request is invalid.',
  });
});

test('rejects a signature older than 15 minutes', async (t) => {
  const request = await signed();
  const error = t.throws(() => verifySigV4(request, secretFor, NOW + 16 * 60_000), {
    instanceOf: InvalidSignatureException,
  });
  t.is(error?.message, 'Signature expired: 20240501T120000Z is now earlier than 20240501T120100Z (20240501T121600Z - 15 min.)');
});

test('rejects a signature more than 15 minutes in the future', async (t) => {
  const request = await signed();
  const error = t.throws(() => verifySigV4(request, secretFor, NOW - 16 * 60_000), {
    instanceOf: InvalidSignatureException,
  });
  t.is(
    error?.message,
    'Signature not yet current: 20240501T120000Z is still later than 20240501T115900Z (20240501T114400Z + 15 min.)',
  );
});

// ---- malformed authentication ---------------------------------------------------------------

const bare = (headers: SignedRequest['headers']): SignedRequest => ({
  method: 'POST',
  path: '/',
  headers: { host: '127.0.0.1:4567', ...headers },
  body: Buffer.from('{}'),
});

test('rejects a request with no authentication at all', (t) => {
  t.throws(() => verifySigV4(bare({}), secretFor, NOW), {
    instanceOf: MissingAuthenticationTokenException,
    message: 'Missing Authentication Token',
  });
});

test('rejects a garbage Authorization header as incomplete', (t) => {
  const error = t.throws(() => verifySigV4(bare({ authorization: 'garbage' }), secretFor, NOW), {
    instanceOf: IncompleteSignatureException,
  });
  t.is(
    error?.message,
    "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of a 'X-Amz-Date' header. Authorization=garbage",
  );
  t.throws(() => verifySigV4(bare({ authorization: 'Bearer abc.def' }), secretFor, NOW), {
    instanceOf: IncompleteSignatureException,
    message: "'abc.def' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc.def'.",
  });
});

test('rejects a missing x-amz-date, a bad date, a bad algorithm and a short credential as incomplete', async (t) => {
  const good = await signed();
  const { 'x-amz-date': _date, ...withoutDate } = good.headers;
  t.throws(() => verifySigV4({ ...good, headers: withoutDate }, secretFor, NOW), {
    instanceOf: IncompleteSignatureException,
    message: /^Authorization header requires existence of a 'X-Amz-Date' header\. Authorization=AWS4-HMAC-SHA256 /,
  });
  t.throws(() => verifySigV4({ ...good, headers: { ...good.headers, 'x-amz-date': '20241301T000000Z' } }, secretFor, NOW), {
    instanceOf: IncompleteSignatureException,
    message: "Date must be in ISO-8601 'basic format'. Got '20241301T000000Z'. See http://en.wikipedia.org/wiki/ISO_8601",
  });
  const authorization = String(good.headers['authorization']);
  t.throws(
    () => verifySigV4({ ...good, headers: { ...good.headers, authorization: authorization.replace('SHA256', 'SHA512') } }, secretFor, NOW),
    { instanceOf: IncompleteSignatureException, message: /^Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'/ },
  );
  t.throws(
    () => verifySigV4({ ...good, headers: { ...good.headers, authorization: authorization.replace('/aws4_request', '') } }, secretFor, NOW),
    {
      instanceOf: IncompleteSignatureException,
      message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20240501/us-east-1/kinesis'",
    },
  );
});

// ---- the real Kinesis client on the wire ----------------------------------------------------

type Verdict = { identity?: unknown; error?: string; headers?: SignedRequest['headers'] };

function respond(
  request: SignedRequest,
  send: (status: number, body: string) => void,
  verdicts: Verdict[],
  secrets: (id: string) => string | undefined,
) {
  try {
    verdicts.push({ identity: verifySigV4(request, secrets, Date.now()), headers: request.headers });
    send(200, JSON.stringify({ StreamNames: [], HasMoreStreams: false }));
  } catch (err) {
    const error = err as Error;
    verdicts.push({ error: `${error.name}: ${error.message}`, headers: request.headers });
    send(400, JSON.stringify({ __type: error.name, message: error.message }));
  }
}

function client(port: number, secretAccessKey: string, http1: boolean) {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: AKID, secretAccessKey },
    maxAttempts: 1,
    ...(http1 ? { requestHandler: new NodeHttpHandler() } : {}),
  });
}

/** A request handler (HTTP/1.1 or HTTP/2 compatibility API) that verifies and records each request. */
function verifying(verdicts: Verdict[]) {
  return (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      respond(
        { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks) },
        (status, body) => {
          res.statusCode = status;
          res.setHeader('content-type', 'application/x-amz-json-1.1');
          res.end(body);
        },
        verdicts,
        secretFor,
      ),
    );
  };
}

test('verifies what @aws-sdk/client-kinesis sends over HTTP/1.1', async (t) => {
  const verdicts: Verdict[] = [];
  const server = http.createServer(verifying(verdicts));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const good = client(port, SECRET, true);
    t.deepEqual((await good.send(new ListStreamsCommand({}))).StreamNames, []);
    good.destroy();
    const bad = client(port, 'wrong', true);
    await t.throwsAsync(bad.send(new ListStreamsCommand({})), { name: 'InvalidSignatureException', message: MISMATCH });
    bad.destroy();
  } finally {
    server.close();
  }
  t.deepEqual(verdicts[0]?.identity, expected);
  t.is(verdicts[1]?.error, `InvalidSignatureException: ${MISMATCH}`);
});

test('verifies what @aws-sdk/client-kinesis sends over HTTP/2 (its default handler)', async (t) => {
  const verdicts: Verdict[] = [];
  const server = http2.createServer(verifying(verdicts));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const kinesis = client(port, SECRET, false);
    t.deepEqual((await kinesis.send(new ListStreamsCommand({}))).StreamNames, []);
    kinesis.destroy();
  } finally {
    server.close();
  }
  t.deepEqual(verdicts[0]?.identity, expected, verdicts[0]?.error);
  // The fallback to :authority is what makes this pass: node's http2 has no host header.
  t.is(verdicts[0]?.headers?.[':authority'], `127.0.0.1:${port}`);
  t.false('host' in (verdicts[0]?.headers ?? {}));
});

// ---- credentials file -----------------------------------------------------------------------

async function withFile(t: { teardown: (fn: () => Promise<void>) => void }, contents: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-credentials-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'credentials.json');
  await writeFile(path, contents);
  return path;
}

test('loads a valid credentials file', async (t) => {
  const path = await withFile(
    t,
    JSON.stringify({
      accessKeys: [
        { accessKeyId: 'AKIAEXAMPLE1', secretAccessKey: 'secret/one+', name: 'camera 1' },
        { accessKeyId: 'local_dev', secretAccessKey: 's2' },
      ],
    }),
  );
  t.deepEqual(
    await loadCredentialsFile(path),
    new Map([
      ['AKIAEXAMPLE1', 'secret/one+'],
      ['local_dev', 's2'],
    ]),
  );
});

const invalidFiles: [string, unknown, string][] = [
  ['not an object', [1], 'must contain a JSON object with an "accessKeys" array'],
  ['no accessKeys', {}, 'accessKeys must be an array'],
  ['unknown top-level field', { accessKeys: [], keys: [] }, 'unknown field "keys" (expected only "accessKeys")'],
  ['empty accessKeys', { accessKeys: [] }, 'accessKeys must contain at least one access key'],
  ['entry not an object', { accessKeys: ['AKIA'] }, 'accessKeys[0] must be an object'],
  ['missing id', { accessKeys: [{ secretAccessKey: 's' }] }, 'accessKeys[0].accessKeyId must be a non-empty string'],
  ['bad id', { accessKeys: [{ accessKeyId: 'AK/ID', secretAccessKey: 's' }] }, `accessKeys[0].accessKeyId must contain only letters, digits and '_', got "AK/ID"`],
  [
    'empty secret',
    { accessKeys: [{ accessKeyId: 'A', secretAccessKey: 's' }, { accessKeyId: 'B', secretAccessKey: '' }] },
    'accessKeys[1].secretAccessKey must be a non-empty string',
  ],
  ['non-string name', { accessKeys: [{ accessKeyId: 'A', secretAccessKey: 's', name: 7 }] }, 'accessKeys[0].name must be a string if present'],
  [
    'misspelt field',
    { accessKeys: [{ accessKeyId: 'A', secretAccessKey: 's', nmae: 'x' }] },
    'accessKeys[0] has unknown field "nmae" (expected accessKeyId, secretAccessKey, name)',
  ],
  [
    'duplicate id',
    { accessKeys: [{ accessKeyId: 'A', secretAccessKey: 's' }, { accessKeyId: 'B', secretAccessKey: 's' }, { accessKeyId: 'A', secretAccessKey: 't' }] },
    'accessKeys[2].accessKeyId "A" duplicates accessKeys[0].accessKeyId',
  ],
];

for (const [title, contents, message] of invalidFiles) {
  test(`rejects a credentials file: ${title}`, async (t) => {
    const path = await withFile(t, JSON.stringify(contents));
    await t.throwsAsync(loadCredentialsFile(path), {
      instanceOf: CredentialsFileError,
      message: `credentials file ${path}: ${message}`,
    });
  });
}

test('rejects a credentials file that is not JSON, or not there, naming the path', async (t) => {
  const path = await withFile(t, '{"accessKeys": [');
  await t.throwsAsync(loadCredentialsFile(path), {
    instanceOf: CredentialsFileError,
    message: new RegExp(`^credentials file ${path.replace(/[.\\]/g, '\\$&')}: is not valid JSON: `),
  });
  const missing = join(path, '..', 'nope.json');
  const error = await t.throwsAsync(loadCredentialsFile(missing), { instanceOf: CredentialsFileError });
  t.true(error?.message.startsWith(`credentials file ${missing}: cannot be read: ENOENT`), error?.message);
});
