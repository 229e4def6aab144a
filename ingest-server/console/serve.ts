// Serves the web console: the page at `/`, its assets under /console/ (compiled browser modules
// from dist/console, the stylesheet, hls.js from its package), the JSON API under /console/api/,
// and /console/api/kvs/<operation>, which runs a playback operation (HLS session, images, clip)
// on the browser's behalf. With server credentials all of it asks for HTTP Basic auth with an
// access key id and its secret: browsers cannot sign SigV4, but they can prompt for a password.

import type http from 'node:http';
import type http2 from 'node:http2';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../lib/log.js';
import { encodeError } from '../protocol/aws-json.js';
import { InternalFailure, ServiceError } from '../protocol/errors.js';
import type { VideoStreamsContext } from '../video-streams/context.js';
import { serveVideo } from '../video-streams/endpoint.js';
import { consoleApi, type ConsoleCaller, type ConsoleSources } from './api.js';
import { originOf } from '../http/origin.js';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** What the console needs from the server. */
export interface ConsoleOptions extends ConsoleSources {
  /** Access key id → secret; the console is open when absent (loopback only). */
  credentials?: Map<string, string>;
  videoCtx: VideoStreamsContext;
  log: Logger;
}

const API_PREFIX = '/console/api/';
const KVS_PREFIX = '/console/api/kvs/';
// Playback operations the browser may run through the console (signed calls it cannot make itself).
const PROXIED_OPERATIONS = new Set(['getHLSStreamingSessionURL', 'getDASHStreamingSessionURL', 'getImages', 'getClip', 'listFragments']);
const MODULE_NAME = /^[\w-]+\.js(\.map)?$/;
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

/** Whether a request belongs to the console; `/` only for GET and HEAD, since Kinesis clients POST there. */
export function isConsoleRequest(method: string | undefined, target: string): boolean {
  const path = pathOf(target);
  if (path === '/') return method === 'GET' || method === 'HEAD';
  return path === '/console' || path.startsWith('/console/');
}

/** Serves one console request: Basic auth, then the page, an asset, the API or a proxied playback call. */
export async function serveConsole(options: ConsoleOptions, request: Request, response: Response): Promise<void> {
  const target = request.url ?? '/';
  const path = pathOf(target);
  const keys = options.credentials && basicAuthorized(options.credentials, request.headers.authorization);
  if (options.credentials && !keys) {
    response.statusCode = 401;
    response.setHeader('www-authenticate', 'Basic realm="Rivulet console", charset="UTF-8"');
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    response.end('Sign in with an access key id (user name) and its secret access key (password).\n');
    return;
  }
  if (path.startsWith(KVS_PREFIX)) {
    await proxyPlayback(options, path.slice(KVS_PREFIX.length), request, response);
    return;
  }
  if (path.startsWith(API_PREFIX)) {
    const caller: ConsoleCaller = { origin: originOf(request), ...(keys ? { keys } : {}) };
    await answerApi(options, path.slice(API_PREFIX.length), new URL(target, 'http://console').searchParams, caller, request, response);
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    sendText(response, 405, 'GET only\n');
    return;
  }
  const file = assetFile(path);
  if (!file) {
    sendText(response, 404, `no console asset at ${path}\n`);
    return;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    sendText(response, 404, `${path} is missing: build the console with \`bash scripts/setup.sh\`\n`);
    return;
  }
  response.statusCode = 200;
  response.setHeader('content-type', CONTENT_TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream');
  response.setHeader('content-length', bytes.length);
  response.setHeader('cache-control', 'no-cache');
  if (request.method === 'HEAD') response.end();
  else response.end(bytes);
}

async function answerApi(options: ConsoleOptions, route: string, query: URLSearchParams, caller: ConsoleCaller, request: Request, response: Response): Promise<void> {
  try {
    if (request.method !== 'GET') throw new ServiceError('The console API answers GET only.', 405);
    const result = await consoleApi(options, route, query, caller);
    if (result === undefined) throw new ServiceError(`No console API at /console/api/${route}.`, 404);
    const body = Buffer.from(JSON.stringify(result), 'utf8');
    response.statusCode = 200;
    response.setHeader('content-type', 'application/json');
    response.setHeader('cache-control', 'no-store');
    response.setHeader('content-length', body.length);
    response.end(body);
  } catch (error) {
    if (!(error instanceof ServiceError)) options.log.error('console API failed', { route, error });
    const encoded = encodeError('json', error instanceof ServiceError ? error : new InternalFailure('Internal failure.'));
    response.statusCode = encoded.status;
    for (const [name, value] of Object.entries(encoded.headers)) response.setHeader(name, value);
    response.setHeader('content-type', 'application/json');
    response.end(encoded.body);
  }
}

/**
 * Runs a playback operation as if the browser had called it signed: Basic auth already checked
 * the same access key, so the operation is dispatched in-process without SigV4.
 */
async function proxyPlayback(options: ConsoleOptions, operation: string, request: Request, response: Response): Promise<void> {
  if (!PROXIED_OPERATIONS.has(operation)) {
    sendText(response, 404, `the console does not proxy ${operation}\n`);
    return;
  }
  // The Kinesis Video front dispatches on the request target; it is this operation's path now.
  request.url = `/${operation}`;
  const { verify: _signed, ...unsigned } = options.videoCtx;
  await serveVideo(unsigned, request, response);
}

/** The known access key whose Basic credentials an Authorization header carries, if any. */
function basicAuthorized(credentials: Map<string, string>, authorization: string | undefined): { accessKeyId: string; secretAccessKey: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const accessKeyId = decoded.slice(0, colon);
  const secret = credentials.get(accessKeyId);
  if (secret === undefined) return undefined;
  const given = Buffer.from(decoded.slice(colon + 1), 'utf8');
  const expected = Buffer.from(secret, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected) ? { accessKeyId, secretAccessKey: secret } : undefined;
}

/** Where the browser reached the server (scheme and host), which the signaling URL it gets must match. */

const ROOT = projectRoot();
const require = createRequire(import.meta.url);

/** The file behind an asset path, or undefined when the path names none. */
function assetFile(path: string): string | undefined {
  if (path === '/' || path === '/console' || path === '/console/') return join(ROOT, 'console', 'static', 'index.html');
  const name = path.slice('/console/'.length);
  if (name === 'style.css') return join(ROOT, 'console', 'static', 'style.css');
  if (name === 'hls.min.js') return require.resolve('hls.js/dist/hls.min.js');
  if (MODULE_NAME.test(name)) return join(ROOT, 'dist', 'console', name);
  return undefined;
}

/** The checkout or package root: the folder holding console/static, from source or from dist/. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'console', 'static', 'index.html'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('console/static/index.html not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

function sendText(response: Response, status: number, text: string): void {
  response.statusCode = status;
  response.setHeader('content-type', 'text/plain; charset=utf-8');
  response.end(text);
}
