// What an agent and the server agree on for heartbeats: the agent posts its status document
// (agent/status.ts) here, SigV4-signed for this service when it has keys.

/** The server path heartbeats are posted to. */
export const HEARTBEAT_PATH = '/agent/v1/heartbeat';
/** The SigV4 service name heartbeats are signed for. */
export const HEARTBEAT_SERVICE = 'rivulet';
