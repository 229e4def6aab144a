// What an agent and the server agree on for heartbeats and pushed configs: the agent posts its
// status document (agent/status.ts) to the heartbeat path, SigV4-signed for this service when it
// has keys; an agent on MQTT receives its config offers on its config topic, where only the
// server publishes.

/** The server path heartbeats are posted to. */
export const HEARTBEAT_PATH = '/agent/v1/heartbeat';
/** The SigV4 service name heartbeats are signed for. */
export const HEARTBEAT_SERVICE = 'rivulet';

/** The topic a device receives its pushed config on (retained, QoS 1). */
export function deviceConfigTopic(deviceId: string): string {
  return `rivulet/${deviceId}/config`;
}

/** Whether the topic is some device's config topic. */
export function isDeviceConfigTopic(topic: string): boolean {
  return /^rivulet\/[^/]+\/config$/.test(topic);
}
