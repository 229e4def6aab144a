// What the device identity tests share: a real `rivulet server --credentials … --mqtt-port …`
// process, the real `rivulet devices …` CLI against it, SDK clients signed with admin or device
// keys, heartbeats sent through the agent's own signed POST, and the `mqtt` package client.

import { stat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { signedPost } from '../../agent/signed-post.js';
import { runCli, startServerProcess, tempDir, type ServerProcess } from '../helpers/server-process.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The server's admin key (the first of its credentials file). */
export const ADMIN: Keys = { accessKeyId: 'AKIDFLEETADMIN', secretAccessKey: 'fleet-admin-secret' };

/** MQTT routes: meters/<stream>/<meter> and the agent's rivulet/<device>/<stream>/… store into <stream>. */
export const STREAMS = ['van-1-data', 'van-2-data', 'van-3-data', 'van-4-data', 'van-5-data'];

export interface FleetServer {
  process: ServerProcess;
  url: string;
  mqttUrl: string;
  credentialsFile: string;
  dir: string;
}

/**
 * Starts `rivulet server` with admin credentials and an MQTT broker routing to each of STREAMS;
 * `args` are added; `dir` (a previous server's) restarts on its data.
 */
export async function startFleetServer(args: string[] = [], dir?: string): Promise<FleetServer> {
  dir ??= (await tempDir('rivulet-devices-')).path;
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ accessKeys: [ADMIN] }));
  const mqttConfig = join(dir, 'mqtt.json');
  const routes = STREAMS.flatMap((stream) => [
    { topic: `meters/${stream}/+`, stream, partitionKey: '{3}' },
    // The agent's topics (README "Over MQTT"): the producer id is <deviceId>/<buffer epoch>.
    { topic: `rivulet/+/${stream}/+/+/+`, stream, partitionKey: '{4}', producer: { id: '{2}/{5}', sequence: '{6}' } },
  ]);
  await writeFile(mqttConfig, JSON.stringify({ routes }));
  const process = await startServerProcess({ dataDir: join(dir, 'data'), args: ['--credentials', credentialsFile, '--mqtt-port', '0', '--mqtt-config', mqttConfig, ...args], timeoutMs: 60_000 });
  const mqttLine = /^MQTT broker listening on (\S+)\s*$/m.exec(process.stdout());
  if (!mqttLine) throw new Error(`no MQTT line in ${process.stdout()}`);
  return { process, url: process.url, mqttUrl: mqttLine[1]!, credentialsFile, dir };
}

/** Runs `rivulet devices <args> --server URL --credentials FILE`. */
export function devicesCli(server: FleetServer, args: string[]) {
  return runCli(['devices', ...args, '--server', server.url, '--credentials', server.credentialsFile], 60_000);
}

/** `rivulet devices add NAME …args --out FILE`: the device's keys as written to FILE, which must be mode 600. */
export async function addDevice(server: FleetServer, name: string, args: string[]): Promise<Keys> {
  const out = join(server.dir, `${name}.credentials.json`);
  const run = await devicesCli(server, ['add', name, ...args, '--out', out]);
  if (run.code !== 0) throw new Error(`devices add ${name} failed (${run.code}): ${run.stderr}`);
  if (((await stat(out)).mode & 0o777) !== 0o600) throw new Error(`${out} is not mode 600`);
  return JSON.parse(await readFile(out, 'utf8')) as Keys;
}

export function kinesis(server: FleetServer, keys: Keys): KinesisClient {
  return new KinesisClient({ region: 'us-east-1', endpoint: server.url, credentials: { ...keys }, maxAttempts: 1, requestHandler: new NodeHttpHandler() });
}

export function kinesisVideo(server: FleetServer, keys: Keys): KinesisVideoClient {
  return new KinesisVideoClient({ region: 'us-east-1', endpoint: server.url, credentials: { ...keys }, maxAttempts: 1, requestHandler: new NodeHttpHandler() });
}

/** A signed request to the server as the agent and the CLI make it (service rivulet); status and parsed JSON body. */
export async function rivuletRequest(server: FleetServer, keys: Keys | undefined, method: string, path: string, body: string | object = ''): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const answer = await signedPost({
    method,
    url: new URL(path, server.url),
    headers: { 'content-type': 'application/json' },
    body: bytes,
    ...(keys ? { credentials: keys } : {}),
    region: 'us-east-1',
    service: 'rivulet',
    timeoutMs: 15_000,
  });
  return { status: answer.status, json: answer.body ? (JSON.parse(answer.body) as Record<string, unknown>) : undefined };
}

/** A heartbeat as the agent posts it: its status document, signed with `keys`. */
export function heartbeat(server: FleetServer, keys: Keys, status: object) {
  return rivuletRequest(server, keys, 'POST', '/agent/v1/heartbeat', status);
}

/** An MQTT 3.1.1 client connected with the keys as username and password; no automatic reconnect. */
export function connectMqtt(server: FleetServer, keys: Keys, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(server.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, username: keys.accessKeyId, password: keys.secretAccessKey, ...options });
}
