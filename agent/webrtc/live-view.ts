// What the agent's camera wiring needs to publish a camera live: a publisher with its channel's
// signaling master, from the camera's webrtc config and the agent's server settings.

import type { Logger } from '../../lib/log.js';
import type { AgentConfig, CameraWebRtcConfig } from '../config.js';
import { WebRtcPublisher } from './publisher.js';
import { MasterSignalingClient } from './signaling-client.js';

export { WebRtcPublisher, type WebRtcStatus } from './publisher.js';

/** A camera's live-view publisher (not started), signaling through the agent's server with its keys. */
export function createPublisher(config: CameraWebRtcConfig, server: AgentConfig['server'], log: Logger): WebRtcPublisher {
  const signaling = new MasterSignalingClient({
    serverUrl: server.url,
    region: server.region,
    channel: config.channel,
    ...(server.accessKeyId && server.secretAccessKey ? { credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } } : {}),
    log,
  });
  return new WebRtcPublisher({ config, signaling, log });
}
