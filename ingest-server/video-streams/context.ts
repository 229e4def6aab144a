import type { Logger } from '../../lib/log.js';
import type { Principal } from '../devices/authorization.js';
import type { VideoStore } from '../storage/video-store.js';
import type { PutMediaLimits } from './put-media.js';
import type { VideoThroughputLimiter } from './throughput.js';

/** Settings an operator can change; defaults follow AWS. */
export interface VideoStreamsSettings {
  region: string;
  accountId: string;
  /** PutMedia's limits, AWS's where not given; tests lower them to provoke the errors cheaply. */
  putMediaLimits?: Partial<PutMediaLimits>;
}

/** What signature verification needs of a request. */
export interface SignedVideoRequest {
  method: string;
  /** Request target including the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
}

/** What every Kinesis Video operation works with. */
export interface VideoStreamsContext {
  store: VideoStore;
  settings: VideoStreamsSettings;
  log: Logger;
  now: () => number;
  /**
   * Seals HLS/DASH session tokens. Kept by the store, so sessions outlive a restart and work on
   * every node; absent where nothing plays media back (e.g. a retention job).
   */
  playbackSecret?: Buffer;
  /**
   * Checks a request's SigV4 signature (throws a ServiceError); absent when the server runs
   * without credentials. `body` undefined (streaming PutMedia): only the signature over the
   * declared x-amz-content-sha256 is checked. Names the signer, for the authorizer.
   */
  verify?: (request: SignedVideoRequest) => Principal;
  /** AWS's per-stream PutMedia and GetMedia quotas; only with --enforce-throughput. */
  throughput?: VideoThroughputLimiter;
  /** Resolves once every PutMedia and GetMedia call has ended; set while the server shuts down. */
  readonly closing: { signal: AbortSignal };
}
