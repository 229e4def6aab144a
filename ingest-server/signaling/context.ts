import type { Principal } from '../devices/authorization.js';
import type { SignedVideoRequest } from '../video-streams/context.js';
import type { ChannelStore } from './channel-store.js';
import type { SignalingHub } from './hub.js';
import type { IceServers } from './ice-servers.js';

/** What every signaling operation and the signaling WebSocket work with. */
export interface SignalingContext {
  channels: ChannelStore;
  hub: SignalingHub;
  ice: IceServers;
  settings: { region: string; accountId: string };
  now: () => number;
  /** Checks a request's SigV4 signature (throws a ServiceError) and names the signer; absent when the server runs without credentials. */
  verify?: (request: SignedVideoRequest) => Principal;
}
