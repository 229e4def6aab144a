// The admin API on the server's own port, for `rivulet devices`: create, list and revoke device
// identities, and set the config each device should run. SigV4-signed for service `rivulet` with
// an admin key (unauthenticated when the server has no credentials, which keeps it on loopback).
// Errors use the awsJson shape, like every other answer of the server.
//
//   POST   /admin/v1/devices                {"name","streams"?,"videoStreams"?,"channels"?} → 201 the device and its secret
//   GET    /admin/v1/devices                → 200 {"devices":[…]} with last heartbeat and config state, no secrets
//   DELETE /admin/v1/devices/<name>         → 200 {"name","revokedAt"}
//   PUT    /admin/v1/devices/<name>/config  an agent config object → 200 {"name","version"}
//   GET    /admin/v1/devices/<name>/config  → 200 {"version","document"}

import type http from 'node:http';
import type http2 from 'node:http2';
import type { SignedRequest } from '../auth/sigv4.js';
import type { DeviceRegistry } from '../console/heartbeats.js';
import { readBody } from '../http/body.js';
import { encodeError } from '../protocol/aws-json.js';
import { InvalidSignatureException, ResourceInUseException, ResourceNotFoundException, SerializationException, ServiceError, UnknownOperationException, ValidationException } from '../protocol/errors.js';
import { Input } from '../protocol/input.js';
import { authorize } from './authorization.js';
import { configStateOf, reportedConfigOf, type DesiredConfigs } from './desired-configs.js';
import { DeviceExistsError, UnknownDeviceError, type DeviceKeyStore } from './device-keys.js';
import type { Authenticated } from './principals.js';

/** The SigV4 service name admin requests are signed for. */
export const ADMIN_SERVICE = 'rivulet';
/** Where the admin API is served. */
export const ADMIN_PREFIX = '/admin/v1/';
export const DEVICES_PATH = `${ADMIN_PREFIX}devices`;

// The agent's deviceId rule (agent/config.ts), which also keeps names out of MQTT wildcards.
const DEVICE_NAME = { min: 1, max: 128, pattern: /[\w.:-]+/ };
const STREAM_NAME = { min: 1, max: 128, pattern: /[a-zA-Z0-9_.-]+/ };
const VIDEO_NAME = { min: 1, max: 256, pattern: /[a-zA-Z0-9_.-]+/ };
const MAX_GRANTS = 100;
const CREATE_MEMBERS = new Set(['name', 'streams', 'videoStreams', 'channels']);
// An agent config with many sources is a few KiB.
const MAX_BODY_BYTES = 1024 * 1024;

/** What the admin API works with. */
export interface AdminContext {
  devices: DeviceKeyStore;
  configs: DesiredConfigs;
  heartbeats: DeviceRegistry;
  now: () => number;
  /** Verifies the signature and names the signer; absent when the server runs without credentials. */
  verify?: (request: SignedRequest) => Authenticated;
}

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** Whether a request target is under the admin API. */
export function isAdminPath(target: string): boolean {
  return target.startsWith(ADMIN_PREFIX);
}

/** Serves one admin request: verifies, authorizes (admin keys only), dispatches and encodes errors. */
export async function serveAdmin(ctx: AdminContext, request: Request, response: Response): Promise<void> {
  const target = request.url ?? '/';
  const method = request.method ?? 'GET';
  try {
    const body = await readBody(request, MAX_BODY_BYTES);
    if (ctx.verify) {
      const signed = ctx.verify({ method, path: target, headers: request.headers, body });
      if (signed.service !== ADMIN_SERVICE) throw new InvalidSignatureException(`Credential should be scoped to correct service: '${ADMIN_SERVICE}'.`);
      authorize(signed.principal, { service: 'admin', action: `${method} ${withoutQuery(target)}` });
    }
    const [status, result] = await route(ctx, method, withoutQuery(target), body);
    send(response, status, Buffer.from(JSON.stringify(result), 'utf8'));
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    const encoded = encodeError('json', error);
    for (const [name, value] of Object.entries(encoded.headers)) response.setHeader(name, value);
    send(response, encoded.status, encoded.body);
  }
}

async function route(ctx: AdminContext, method: string, path: string, body: Buffer): Promise<[number, unknown]> {
  if (path === DEVICES_PATH) {
    if (method === 'POST') return [201, await createDevice(ctx, objectOf(body))];
    if (method === 'GET') return [200, listDevices(ctx)];
    throw methodNotAllowed(method, path, 'GET, POST');
  }
  const parts = path.slice(DEVICES_PATH.length + 1).split('/');
  if (!path.startsWith(`${DEVICES_PATH}/`) || parts.length > 2 || (parts.length === 2 && parts[1] !== 'config')) {
    throw new UnknownOperationException(`No admin resource at ${path}.`, 404);
  }
  const name = decodeName(parts[0]!);
  if (parts.length === 1) {
    if (method === 'DELETE') return [200, await revokeDevice(ctx, name)];
    throw methodNotAllowed(method, path, 'DELETE');
  }
  if (method === 'PUT') return [200, await setConfig(ctx, name, objectOf(body))];
  if (method === 'GET') return [200, getConfig(ctx, name)];
  throw methodNotAllowed(method, path, 'GET, PUT');
}

async function createDevice(ctx: AdminContext, body: Record<string, unknown>) {
  for (const member of Object.keys(body)) {
    if (!CREATE_MEMBERS.has(member)) throw new ValidationException(`Unknown member ${member}: a device has name, streams, videoStreams and channels.`);
  }
  const input = new Input(body);
  const name = input.requiredString('name', DEVICE_NAME);
  const grant = {
    streams: input.stringList('streams', { max: MAX_GRANTS, each: STREAM_NAME }) ?? [],
    videoStreams: input.stringList('videoStreams', { max: MAX_GRANTS, each: VIDEO_NAME }) ?? [],
    channels: input.stringList('channels', { max: MAX_GRANTS, each: VIDEO_NAME }) ?? [],
  };
  try {
    const { revokedAt: _never, ...created } = await ctx.devices.add(name, grant, ctx.now());
    return created;
  } catch (error) {
    if (error instanceof DeviceExistsError) throw new ResourceInUseException(error.message, 409);
    throw error;
  }
}

function listDevices(ctx: AdminContext) {
  return {
    devices: ctx.devices.list().map((device) => {
      const heartbeat = ctx.heartbeats.get(device.name);
      const desired = ctx.configs.get(device.name);
      return {
        ...device,
        ...(heartbeat ? { lastHeartbeat: { receivedAt: heartbeat.receivedAt, status: heartbeat.status } } : {}),
        ...(desired ? { config: configStateOf(desired, reportedConfigOf(heartbeat?.status)) } : {}),
      };
    }),
  };
}

async function revokeDevice(ctx: AdminContext, name: string) {
  try {
    const { revokedAt } = await ctx.devices.revoke(name, ctx.now());
    return { name, revokedAt };
  } catch (error) {
    if (error instanceof UnknownDeviceError) throw new ResourceNotFoundException(error.message, 404);
    throw error;
  }
}

async function setConfig(ctx: AdminContext, name: string, document: Record<string, unknown>) {
  const device = ctx.devices.get(name);
  // Devices without an identity of their own (a shared admin key, a server without credentials) are known by their heartbeats.
  if (!device && !ctx.heartbeats.get(name)) throw new ResourceNotFoundException(`Device ${name} does not exist and has sent no heartbeat.`, 404);
  if (device?.revokedAt !== undefined) throw new ResourceNotFoundException(`Device ${name} is revoked.`, 404);
  if (document['deviceId'] !== undefined && document['deviceId'] !== name) {
    throw new ValidationException(`deviceId ${JSON.stringify(document['deviceId'])} of the config does not match the device ${name}.`);
  }
  const { version } = await ctx.configs.set(name, document, ctx.now());
  return { name, version };
}

function getConfig(ctx: AdminContext, name: string) {
  const desired = ctx.configs.get(name);
  if (!desired) throw new ResourceNotFoundException(`No config has been pushed to device ${name}.`, 404);
  return desired;
}

function objectOf(body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new SerializationException('The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SerializationException('The request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}

function decodeName(segment: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw new ValidationException(`The device name in the path is not valid percent-encoding: ${segment}.`);
  }
  // Checked like the name member, so an error names the rule.
  return new Input({ name }).requiredString('name', DEVICE_NAME);
}

function methodNotAllowed(method: string, path: string, allowed: string): ServiceError {
  return new UnknownOperationException(`${method} is not served at ${path} (allowed: ${allowed}).`, 405);
}

function send(response: Response, status: number, body: Buffer): void {
  response.statusCode = status;
  response.setHeader('content-type', 'application/json');
  response.setHeader('content-length', body.length);
  response.end(body);
}

function withoutQuery(target: string): string {
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}
