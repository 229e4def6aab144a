// The server side of agent heartbeats: POST /agent/v1/heartbeat with the agent's status document
// (AgentStatus of agent/status.ts) as JSON, SigV4-signed for service `rivulet` when the server has
// credentials (a device key only for its own deviceId), answered 204 — or 200 with
// {"config":{"version","document"}} while the server holds a desired config for the device that it
// neither runs nor rejected. The latest status per deviceId is what the console's device list
// shows; it is persisted (<dataDir>/devices.json, or a KV bucket on NATS) so a restart does not
// empty the list.

import type http from 'node:http';
import type http2 from 'node:http2';
import { join } from 'node:path';
import type { AgentStatus } from '../../agent/status.js';
import type { SignedRequest } from '../auth/sigv4.js';
import { authorize } from '../devices/authorization.js';
import { configToDeliver, reportedConfigOf, type DesiredConfigs } from '../devices/desired-configs.js';
import type { Authenticated } from '../devices/principals.js';
import { JsonRecordMap, type RecordMap } from '../devices/record-map.js';
import { readBody } from '../http/body.js';
import { encodeError } from '../protocol/aws-json.js';
import { InvalidSignatureException, SerializationException, ServiceError, ValidationException } from '../protocol/errors.js';
import { HEARTBEAT_PATH, HEARTBEAT_SERVICE } from '../../lib/fleet-protocol.js';


const MAX_HEARTBEAT_BYTES = 1024 * 1024;
const MAX_DEVICE_ID_LENGTH = 256;
const DEVICES_FILE = 'devices.json';

/** A device as last heard from. */
export interface DeviceHeartbeat {
  deviceId: string;
  /** Server clock, epoch ms. */
  receivedAt: number;
  status: AgentStatus;
}

/**
 * The latest heartbeat per device: in memory, mirrored to <dataDir>/devices.json, or with --store
 * nats to a KV bucket every node follows, so whichever node a device reaches, every node's console
 * and `rivulet devices list` show it.
 */
export class DeviceRegistry {
  readonly #records: RecordMap<DeviceHeartbeat>;

  constructor(records: RecordMap<DeviceHeartbeat>) {
    this.#records = records;
  }

  /** The embedded store: <dataDir>/devices.json. */
  static inDataDir(dataDir: string): DeviceRegistry {
    return new DeviceRegistry(new JsonRecordMap(join(dataDir, DEVICES_FILE)));
  }

  /** Reads the persisted list; a missing file is an empty list. */
  load(): Promise<void> {
    return this.#records.load();
  }

  /** The latest heartbeat of a device, if it sent one. */
  get(deviceId: string): DeviceHeartbeat | undefined {
    return this.#records.get(deviceId);
  }

  /** Devices by deviceId. */
  list(): DeviceHeartbeat[] {
    return this.#records.values().sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  }

  /** Keeps the status as its device's latest and persists it; a failed write fails this heartbeat only. */
  async record(status: AgentStatus, receivedAt: number): Promise<void> {
    const latest: DeviceHeartbeat = { deviceId: status.deviceId, receivedAt, status };
    // Another node may store a heartbeat of the same device meanwhile: the later one stays.
    for (;;) {
      const current = this.#records.get(status.deviceId);
      if (current && current.receivedAt > receivedAt) return;
      if (await this.#records.compareAndSet(status.deviceId, current, latest)) return;
    }
  }

  /** Resolves once every accepted heartbeat is stored (or its write has failed). */
  flush(): Promise<void> {
    return this.#records.flush();
  }

  close(): Promise<void> {
    return this.#records.close();
  }
}

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** What the heartbeat endpoint works with. */
export interface HeartbeatContext {
  registry: DeviceRegistry;
  configs: DesiredConfigs;
  /** Verifies the signature and names the signer; absent when the server runs without credentials. */
  verify?: (request: SignedRequest) => Authenticated;
  now: () => number;
}

/** Serves POST /agent/v1/heartbeat: verifies, validates and records one status document; answers with the config to apply, if any. */
export async function serveHeartbeat(ctx: HeartbeatContext, request: Request, response: Response): Promise<void> {
  try {
    if (request.method !== 'POST') throw new ServiceError(`Only POST is served at ${HEARTBEAT_PATH}.`, 405);
    const body = await readBody(request, MAX_HEARTBEAT_BYTES);
    const signed = ctx.verify?.({ method: request.method, path: request.url ?? HEARTBEAT_PATH, headers: request.headers, body });
    if (signed && signed.service !== HEARTBEAT_SERVICE) {
      throw new InvalidSignatureException(`Credential should be scoped to correct service: '${HEARTBEAT_SERVICE}'.`);
    }
    const status = agentStatusOf(body);
    authorize(signed?.principal, { service: 'heartbeat', resource: status.deviceId });
    await ctx.registry.record(status, ctx.now());
    const config = configToDeliver(ctx.configs.get(status.deviceId), reportedConfigOf(status));
    if (!config) {
      response.statusCode = 204;
      response.end();
      return;
    }
    const answer = Buffer.from(JSON.stringify({ config }), 'utf8');
    response.statusCode = 200;
    response.setHeader('content-type', 'application/json');
    response.setHeader('content-length', answer.length);
    response.end(answer);
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    const encoded = encodeError('json', error);
    response.statusCode = encoded.status;
    for (const [name, value] of Object.entries(encoded.headers)) response.setHeader(name, value);
    response.setHeader('content-type', 'application/json');
    response.end(encoded.body);
  }
}

/** The body as a status document: a JSON object with a deviceId; the rest is the agent's to define. */
function agentStatusOf(body: Buffer): AgentStatus {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new SerializationException('The heartbeat body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ValidationException('The heartbeat body must be a JSON object (the agent status).');
  }
  const deviceId = (parsed as { deviceId?: unknown }).deviceId;
  if (typeof deviceId !== 'string' || deviceId.length === 0 || deviceId.length > MAX_DEVICE_ID_LENGTH) {
    throw new ValidationException(`deviceId must be a string of 1 to ${MAX_DEVICE_ID_LENGTH} characters.`);
  }
  return parsed as AgentStatus;
}
