// Who may do what. Admin keys (the server's --credentials file) may do everything; a device key
// may do only what its device needs, and only on the resources its record names. Pure: the
// callers resolve the principal (principals.ts) and name the resource from the request.

import { AccessDeniedException } from '../protocol/errors.js';
import type { DeviceRecord } from './device-keys.js';
import { deviceConfigTopic } from '../../lib/fleet-protocol.js';

/** Whoever signed a request (or connected to the broker). */
export type Principal = { kind: 'admin'; accessKeyId: string } | { kind: 'device'; accessKeyId: string; device: DeviceRecord };

/**
 * One request, as the authorizer sees it; `resource` undefined: the request names none it can be
 * checked against. `producerId`: the exactly-once producer a put names (ProducerId, or the one an
 * MQTT route makes from the topic).
 */
export type Access =
  | { service: 'kinesis'; action: string; resource: string | undefined; producerId?: string | undefined }
  | { service: 'kinesisvideo'; action: string; resource: string | undefined }
  | { service: 'signaling'; action: string; resource: string | undefined }
  | { service: 'heartbeat'; resource: string }
  | { service: 'admin'; action: string }
  | { service: 'mqtt'; action: 'publish'; topic: string; resource: string | undefined; producerId?: string | undefined }
  | { service: 'mqtt'; action: 'subscribe'; topic: string };

// What the agent calls: records in, its camera's video in (ListFragments: whether a fragment whose
// ack was lost is stored), its camera as a signaling master.
// DescribeSignalingChannel is how the agent's signaling client finds its channel's ARN.
const DEVICE_ACTIONS = {
  kinesis: new Set(['PutRecord', 'PutRecords', 'DescribeStream', 'DescribeStreamSummary', 'ListShards']),
  kinesisvideo: new Set(['DescribeStream', 'GetDataEndpoint', 'PutMedia', 'ListFragments']),
  signaling: new Set(['DescribeSignalingChannel', 'GetSignalingChannelEndpoint', 'GetIceServerConfig', 'ConnectAsMaster']),
};

/** Whether the principal may make that access. */
export function isAllowed(principal: Principal, access: Access): boolean {
  if (principal.kind === 'admin') return true;
  const { device } = principal;
  switch (access.service) {
    case 'kinesis':
      return DEVICE_ACTIONS.kinesis.has(access.action) && includes(device.streams, access.resource) && ownsProducer(device, access.producerId);
    case 'kinesisvideo':
      return DEVICE_ACTIONS.kinesisvideo.has(access.action) && includes(device.videoStreams, access.resource);
    case 'signaling':
      return DEVICE_ACTIONS.signaling.has(access.action) && includes(device.channels, access.resource);
    case 'heartbeat':
      return access.resource === device.name;
    case 'admin':
      return false;
    case 'mqtt':
      return access.action === 'publish' ? includes(device.streams, access.resource) && ownsProducer(device, access.producerId) : access.topic === deviceConfigTopic(device.name);
  }
}

/**
 * Throws the protocol's AccessDeniedException unless the principal may make that access; no
 * principal (a server without credentials) may do everything. Data Streams sends it with 400,
 * as AWS does for its JSON protocol; the REST and rivulet paths with 403.
 */
export function authorize(principal: Principal | undefined, access: Access): void {
  if (!principal || isAllowed(principal, access)) return;
  throw new AccessDeniedException(deniedMessage(principal, access), access.service === 'kinesis' ? 400 : 403);
}

function producerNote(principal: Principal, access: Access): string {
  if (principal.kind !== 'device' || !('producerId' in access) || access.producerId === undefined || ownsProducer(principal.device, access.producerId)) return '';
  return ` as producer ${access.producerId} (its producer ids start with ${principal.device.name}/)`;
}

function deniedMessage(principal: Principal, access: Access): string {
  const who = principal.kind === 'device' ? `Device ${principal.device.name} (access key ${principal.accessKeyId})` : `Access key ${principal.accessKeyId}`;
  switch (access.service) {
    case 'heartbeat':
      return `${who} may post heartbeats only for itself, not for ${access.resource}.`;
    case 'admin':
      return `${who} is not authorized to perform rivulet:${access.action}: the admin API takes admin keys only.`;
    case 'mqtt':
      return `${who} is not authorized to ${access.action} on topic ${access.topic}${producerNote(principal, access)}.`;
    default:
      return `${who} is not authorized to perform ${access.service}:${access.action} on resource ${access.resource ?? '(none named)'}${producerNote(principal, access)}.`;
  }
}

/**
 * A device's producer ids are `<name>/…` (the agent's are `<deviceId>/<buffer epoch>`): another
 * one would let it pass for another device's producer and have that device's records taken for
 * duplicates in a stream they share.
 */
function ownsProducer(device: DeviceRecord, producerId: string | undefined): boolean {
  return producerId === undefined || producerId.startsWith(`${device.name}/`);
}

function includes(names: string[], name: string | undefined): boolean {
  return name !== undefined && names.includes(name);
}

/**
 * The resource a request body names, by its name member or its ARN (`…:<type>/<name>[/…]`);
 * undefined when it names none, or two that disagree, so that a device is refused.
 */
export function namedResource(body: unknown, nameMember: string, arnMember: string, arnType: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  const name = typeof fields[nameMember] === 'string' ? (fields[nameMember] as string) : undefined;
  const arn = typeof fields[arnMember] === 'string' ? (fields[arnMember] as string) : undefined;
  const fromArn = arn === undefined ? undefined : nameInArn(arn, arnType);
  if (arn !== undefined && fromArn === undefined) return undefined;
  if (name !== undefined && fromArn !== undefined && name !== fromArn) return undefined;
  return name ?? fromArn;
}

/** The resource name in an ARN of the given type: `arn:…:stream/<name>` or `arn:…:channel/<name>/<creation>`. */
export function nameInArn(arn: string, type: string): string | undefined {
  const match = new RegExp(`^arn:[^:]+:[^:]+:[^:]*:[^:]*:${type}/([^/]+)(?:/[^/]*)?$`).exec(arn);
  return match?.[1];
}
