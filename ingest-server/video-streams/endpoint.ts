import type http from 'node:http';
import type http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { authorize, namedResource } from '../devices/authorization.js';
import { readBody } from '../http/body.js';
import { encodeError } from '../protocol/aws-json.js';
import { InternalFailure, InvalidArgumentException, SerializationException, ServiceError, ValidationException } from '../protocol/errors.js';
import { Input } from '../protocol/input.js';
import * as channels from '../signaling/channels.js';
import type { SignalingContext } from '../signaling/context.js';
import { getIceServerConfig } from '../signaling/ice-servers.js';
import * as channelTags from '../signaling/tags.js';
import type { VideoStreamsContext } from './context.js';
import { getDataEndpoint, type RequestOrigin } from './data-endpoint.js';
import { getMediaForFragmentList, listFragments } from './fragment-list.js';
import { getClip } from './clip.js';
import { DASH_PREFIX, DASH_ROUTES, getDASHStreamingSessionURL } from './dash.js';
import { getMedia } from './get-media.js';
import { HLS_PREFIX, HLS_ROUTES, getHLSStreamingSessionURL } from './hls.js';
import { getImages } from './images.js';
import type { PlaybackGet } from './playback-media.js';
import { putMedia } from './put-media.js';
import * as streams from './streams.js';
import * as tags from './tags.js';
import { originOf } from '../http/origin.js';

// Kinesis Video's REST-JSON front: one POST path per operation (the paths the AWS SDK v3 models
// use), a JSON body in and out, errors as {__type, message} plus x-amzn-ErrorType. PutMedia's
// body is a long-lived stream, so it is handed over unread; GetMedia and
// GetMediaForFragmentList answer with streams of their own. HLS and DASH players fetch
// playlists and media with plain GETs that the session token in the query authorises.

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
type JsonOperation = (ctx: VideoStreamsContext, body: unknown, origin: RequestOrigin) => Promise<unknown>;
type StreamingOperation = (ctx: VideoStreamsContext, input: unknown, response: Response) => Promise<void>;

const MAX_BODY_BYTES = 1024 * 1024;
const PUT_MEDIA_PATH = '/putMedia';

/** A control-plane operation, which reads its members through Input. */
function control(operation: (ctx: VideoStreamsContext, input: Input, origin: RequestOrigin) => Promise<object>): JsonOperation {
  return (ctx, body, origin) => operation(ctx, Input.of(body), origin);
}

const JSON_OPERATIONS: Record<string, JsonOperation> = {
  '/createStream': control(streams.createStream),
  '/describeStream': control(streams.describeStream),
  '/listStreams': control(streams.listStreams),
  '/deleteStream': control(streams.deleteStream),
  '/updateStream': control(streams.updateStream),
  '/updateDataRetention': control(streams.updateDataRetention),
  '/getDataEndpoint': control(getDataEndpoint),
  '/tagStream': control(tags.tagStream),
  '/untagStream': control(tags.untagStream),
  '/listTagsForStream': control(tags.listTagsForStream),
  '/listFragments': listFragments,
  '/getHLSStreamingSessionURL': control(getHLSStreamingSessionURL),
  '/getDASHStreamingSessionURL': control(getDASHStreamingSessionURL),
  '/getImages': control(getImages),
};

/** Signaling channels' control plane and the signaling service's HTTPS API. */
const SIGNALING_OPERATIONS: Record<string, (ctx: SignalingContext, input: Input, origin: RequestOrigin) => Promise<object>> = {
  '/createSignalingChannel': channels.createSignalingChannel,
  '/describeSignalingChannel': channels.describeSignalingChannel,
  '/listSignalingChannels': channels.listSignalingChannels,
  '/deleteSignalingChannel': channels.deleteSignalingChannel,
  '/updateSignalingChannel': channels.updateSignalingChannel,
  '/getSignalingChannelEndpoint': channels.getSignalingChannelEndpoint,
  '/TagResource': channelTags.tagResource,
  '/UntagResource': channelTags.untagResource,
  '/ListTagsForResource': channelTags.listTagsForResource,
  '/v1/get-ice-server-config': getIceServerConfig,
};

const STREAMING_OPERATIONS: Record<string, StreamingOperation> = {
  '/getMedia': getMedia,
  '/getMediaForFragmentList': getMediaForFragmentList,
  '/getClip': getClip,
};

/** Playback GETs by path: /hls/v1/<file> and /dash/v1/<file>. */
const PLAYBACK_GETS: Record<string, PlaybackGet> = Object.fromEntries([
  ...Object.entries(HLS_ROUTES).map(([file, route]) => [HLS_PREFIX + file, route] as const),
  ...Object.entries(DASH_ROUTES).map(([file, route]) => [DASH_PREFIX + file, route] as const),
]);

/** Whether a request target (query string allowed) is a Kinesis Video API path. */
export function isVideoPath(path: string): boolean {
  const bare = withoutQuery(path);
  return bare === PUT_MEDIA_PATH || Object.hasOwn(JSON_OPERATIONS, bare) || Object.hasOwn(SIGNALING_OPERATIONS, bare) || Object.hasOwn(STREAMING_OPERATIONS, bare) || Object.hasOwn(PLAYBACK_GETS, bare);
}

/**
 * Serves one Kinesis Video request end to end: authentication, body, dispatch, and the error
 * shape. Signaling channel operations need `signaling`; without it they are not found.
 */
export async function serveVideo(ctx: VideoStreamsContext, request: Request, response: Response, signaling?: SignalingContext): Promise<void> {
  const target = request.url ?? '/';
  const path = withoutQuery(target);
  response.setHeader('x-amzn-requestid', randomUUID());
  try {
    if (Object.hasOwn(PLAYBACK_GETS, path)) {
      await servePlayback(ctx, PLAYBACK_GETS[path]!, request, response);
      return;
    }
    if (request.method !== 'POST') throw new ServiceError(`Only POST is served at ${path}.`, 404);
    if (path === PUT_MEDIA_PATH) {
      const principal = ctx.verify?.({ method: request.method, path: target, headers: request.headers, body: undefined });
      const named = { StreamName: request.headers['x-amzn-stream-name'], StreamARN: request.headers['x-amzn-stream-arn'] };
      authorize(principal, { service: 'kinesisvideo', action: 'PutMedia', resource: namedResource(named, 'StreamName', 'StreamARN', 'stream') });
      await putMedia(ctx, request, response);
      return;
    }
    const body = await readBody(request, MAX_BODY_BYTES);
    const principal = ctx.verify?.({ method: request.method, path: target, headers: request.headers, body });
    const decoded = parseJson(body);
    if (Object.hasOwn(SIGNALING_OPERATIONS, path)) {
      authorize(principal, { service: 'signaling', action: actionOf(path), resource: namedResource(decoded, 'ChannelName', 'ChannelARN', 'channel') });
    } else {
      authorize(principal, { service: 'kinesisvideo', action: actionOf(path), resource: namedResource(decoded, 'StreamName', 'StreamARN', 'stream') });
    }
    const streaming = Object.hasOwn(STREAMING_OPERATIONS, path) ? STREAMING_OPERATIONS[path]! : undefined;
    if (streaming) {
      await streaming(ctx, decoded, response);
      return;
    }
    const origin = { origin: originOf(request) };
    let result: unknown;
    if (Object.hasOwn(SIGNALING_OPERATIONS, path)) {
      if (!signaling) throw new ServiceError(`Signaling is not served at ${path}.`, 404);
      result = await SIGNALING_OPERATIONS[path]!(signaling, Input.of(decoded), origin);
    } else {
      result = await JSON_OPERATIONS[path]!(ctx, decoded, origin);
    }
    const encoded = Buffer.from(JSON.stringify(result), 'utf8');
    response.statusCode = 200;
    response.setHeader('content-type', 'application/json');
    response.setHeader('content-length', encoded.length);
    response.end(encoded);
  } catch (error) {
    const failure = asKinesisVideoError(error);
    if (!(error instanceof ServiceError)) ctx.log.error('video operation failed', { path, error });
    if (response.headersSent) {
      response.end();
      return;
    }
    const encoded = encodeError('json', failure);
    response.statusCode = encoded.status;
    for (const [name, value] of Object.entries(encoded.headers)) response.setHeader(name, value);
    // The body is the same in both JSON protocols; REST-JSON labels it plainly.
    response.setHeader('content-type', 'application/json');
    response.end(encoded.body);
  }
}

/** Serves a playback GET (HEAD too): no signature, the SessionToken in the query authorises it. */
async function servePlayback(ctx: VideoStreamsContext, route: PlaybackGet, request: Request, response: Response): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw new ServiceError(`Only GET is served at ${withoutQuery(request.url ?? '/')}.`, 405);
  // Players on other origins (a web page, the console on another port) fetch these directly.
  response.setHeader('access-control-allow-origin', '*');
  const reply = await route(ctx, new URL(request.url ?? '/', 'http://playback').searchParams);
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body;
  response.statusCode = 200;
  response.setHeader('content-type', reply.contentType);
  response.setHeader('content-length', body.length);
  response.setHeader('cache-control', reply.immutable ? 'max-age=86400' : 'no-cache');
  if (request.method === 'HEAD') response.end();
  else response.end(body);
}

/**
 * The Kinesis Video models declare no ValidationException or SerializationException: AWS
 * reports a malformed or out-of-range member as InvalidArgumentException, which SDKs then
 * surface as a typed error.
 */
function asKinesisVideoError(error: unknown): ServiceError {
  if (error instanceof ValidationException || error instanceof SerializationException) return new InvalidArgumentException(error.message);
  if (error instanceof ServiceError) return error;
  return new InternalFailure('Internal service failure.');
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new SerializationException('The request body is not valid JSON.');
  }
}

/** The operation a path serves, as IAM names it: /getDataEndpoint → GetDataEndpoint. */
function actionOf(path: string): string {
  if (path === '/v1/get-ice-server-config') return 'GetIceServerConfig';
  return path.charAt(1).toUpperCase() + path.slice(2);
}

function withoutQuery(target: string): string {
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

/** The scheme and host the client used to reach this server. */
