import type { Input } from '../protocol/input.js';
import type { VideoStreamsContext } from './context.js';
import { streamFor } from './streams.js';

// Every API is served by this one server, so the data endpoint is the address the client used
// to reach it: that is the address that works from where the client is (a camera behind NAT, a
// container network), which an address configured on the server might not be.

const API_NAMES = [
  'PUT_MEDIA',
  'GET_MEDIA',
  'LIST_FRAGMENTS',
  'GET_MEDIA_FOR_FRAGMENT_LIST',
  'GET_HLS_STREAMING_SESSION_URL',
  'GET_DASH_STREAMING_SESSION_URL',
  'GET_CLIP',
  'GET_IMAGES',
] as const;

/** Where the request came in, e.g. http://127.0.0.1:4567. */
export interface RequestOrigin {
  origin: string;
}

/** GetDataEndpoint: the URL to call the named media API at, for a stream that exists. */
export async function getDataEndpoint(ctx: VideoStreamsContext, input: Input, request: RequestOrigin): Promise<object> {
  input.requiredEnumeration('APIName', API_NAMES);
  await streamFor(ctx, input);
  return { DataEndpoint: request.origin };
}
