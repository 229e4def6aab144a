// The agent's configuration file: JSON, hand-edited on a device, so every field is checked when it
// is loaded and a mistake is reported with the file and the field's path
// (`agent config /etc/rivulet/agent.json: sources[0].port must be a string`). Unknown fields are
// errors too: a typo ("partitonKey") would otherwise silently fall back to a default. Everything
// but deviceId, server.url, dataDir, each source's type, port and stream, and each camera's name,
// source type and stream has a default. An agent needs at least one source or one camera.

import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve, dirname } from 'node:path';
import { checkLineFormat, type LineFormat } from '../hardware/line/parse.js';
import { validateRegisterMap, type RegisterMapEntry } from '../hardware/modbus/register-map.js';
import type { SerialSettings } from '../hardware/serial/transport.js';
import type { OnFull, SynchronousMode } from './buffer/index.js';
import { ENCODERS, type EncoderChoice } from '../video/gstreamer/pipeline.js';

export const SOURCE_TYPES = ['gps', 'dsmr', 'modbus', 'iec62056', 'line'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** A source as configured, defaults applied. */
export interface SourceConfig {
  type: SourceType;
  /** Unique name: `name` if given, else `${type}` (then `${type}-2`, … for repeats). */
  name: string;
  port: string;
  stream: string;
  partitionKey: string;
  serial: Required<SerialSettings>;
  sampling: { minIntervalMs: number };
  priority: number;
  onFull: OnFull;
  /** Attach the latest GPS fix to every record of this source. */
  attachGps: boolean;
  /** type line */
  line?: { format: LineFormat };
  /** type modbus */
  modbus?: { meter?: 'sdm120' | 'sdm630'; registers?: RegisterMapEntry[]; address: number; intervalMs: number };
  /** type iec62056 */
  iec62056?: { address: string; intervalMs: number };
  /** type dsmr */
  dsmr?: { version: DsmrVersion };
}

export type DsmrVersion = '2.2' | '3' | '4' | '5';

export const CAMERA_SOURCE_TYPES = ['v4l2', 'libcamera', 'rtsp', 'test'] as const;
export type CameraSourceType = (typeof CAMERA_SOURCE_TYPES)[number];

/** A camera as configured, defaults applied. */
export interface CameraConfig {
  /** Unique among cameras: names its spool folder and its status row. */
  name: string;
  source: {
    type: CameraSourceType;
    /** v4l2: the device, /dev/video0 unless given. */
    device?: string;
    /** v4l2: what to ask the device for; "auto" picks H.264, then MJPEG, then raw from what it offers. */
    format?: 'auto' | 'h264' | 'mjpeg' | 'raw';
    /** rtsp: rtsp://… */
    url?: string;
    /** test: a videotestsrc pattern (smpte, ball, …). */
    pattern?: string;
    /** libcamera: which camera (its id), the first one unless given. */
    cameraName?: string;
  };
  /** The Kinesis Video stream. */
  stream: string;
  width?: number;
  height?: number;
  fps?: number;
  /** Fragment length (a fragment is cut at the first keyframe after it), 1 to 10. */
  fragmentSeconds: number;
  encoder: 'auto' | EncoderChoice;
  spool: { maxBytes: number; maxAgeMs: number; onFull: OnFull };
  /** Sent as Matroska tags after every fragment. */
  tags: Record<string, string>;
  /** Attach the latest GPS fix to every fragment's tags. */
  attachGps: boolean;
  /** Publish the camera live over WebRTC as its signaling channel's master. */
  webrtc?: CameraWebRtcConfig;
}

/** A camera's WebRTC live view, defaults applied. */
export interface CameraWebRtcConfig {
  /** The signaling channel (it must exist on the server, like the camera's stream). */
  channel: string;
  /** Viewers at once; further offers are refused. */
  maxViewers: number;
  /** The live view's frame size and rate (the recording keeps the camera's own). */
  width: number;
  height: number;
  fps: number;
  /** Test cameras only: draw the send time into each frame (bench/webrtc measures latency with it). */
  burnTimestamp: boolean;
}

/** The whole configuration, defaults applied. */
export interface AgentConfig {
  /** The file it came from (absolute). */
  file: string;
  deviceId: string;
  server: {
    url: string;
    region: string;
    /** How records are sent: PutRecords over HTTP (the default) or QoS 1 PUBLISHes to the server's MQTT broker. */
    transport: 'http' | 'mqtt';
    /** The broker (mqtt:// or mqtts://); set when transport is "mqtt". */
    mqttUrl?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    credentialsFile?: string;
  };
  dataDir: string;
  /** commitIntervalMs: how long readings gather before one buffer commit (SD card wear vs. what a power cut can take). */
  buffer: { maxBytes: number; maxAgeMs: number; synchronous: SynchronousMode; commitIntervalMs: number };
  upload: { batchRecords: number; intervalMs: number; maxBackoffMs: number };
  sources: SourceConfig[];
  cameras: CameraConfig[];
  /** upload.order: after an outage, live video before the backlog (two sessions) or everything in capture order. */
  videoUpload: { order: 'live-first' | 'oldest-first' };
  status: { port: number; host: string };
  /** How often the agent posts its status to the server (agent/heartbeat.ts); 0 = never. */
  heartbeat: { intervalMs: number };
  /** applyTimeoutMs: how long a pushed config has to come up healthy before it is rolled back (agent/fleet/). */
  fleet: { applyTimeoutMs: number };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** A configuration that cannot be used; the message names the file and the field. */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';

  constructor(
    message: string,
    /** What is wrong, naming the field but not the file (what a pushed config's rejection reports). */
    readonly problem = message,
  ) {
    super(message);
  }
}

export const DEFAULTS = {
  region: 'us-east-1',
  bufferMaxBytes: 256 * 1024 * 1024,
  bufferMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
  // One commit a second keeps SD-card writes near the readings' own size at serial rates (each
  // commit rewrites whole WAL pages); a power cut can take at most the last second of readings,
  // which no device was ever told were stored.
  bufferCommitIntervalMs: 1000,
  batchRecords: 500,
  uploadIntervalMs: 1000,
  maxBackoffMs: 30_000,
  statusPort: 4500,
  statusHost: '127.0.0.1',
  heartbeatIntervalMs: 30_000,
  fleetApplyTimeoutMs: 30_000,
  modbusIntervalMs: 5000,
  iec62056IntervalMs: 60_000,
  fragmentSeconds: 2,
  cameraSpoolMaxBytes: 1024 * 1024 * 1024,
  cameraSpoolMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
  webrtcMaxViewers: 4,
  webrtcWidth: 640,
  webrtcHeight: 360,
  webrtcFps: 15,
} as const;

/** Per-type serial defaults: what the devices of that kind ship with. */
function serialDefaults(type: SourceType, dsmrVersion: DsmrVersion): Required<SerialSettings> {
  switch (type) {
    case 'dsmr':
      // DSMR 2.2 and 3 meters talk 9600 7E1; DSMR 4 and 5 meters 115200 8N1.
      return dsmrVersion === '2.2' || dsmrVersion === '3' ? { baudRate: 9600, dataBits: 7, parity: 'even', stopBits: 1 } : { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 };
    case 'iec62056':
      // Mode C signs on at 300 baud 7E1 and switches speed itself.
      return { baudRate: 300, dataBits: 7, parity: 'even', stopBits: 1 };
    default:
      return { baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 };
  }
}

/** Reads and validates a configuration file. */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new AgentConfigError(`agent config ${file}: cannot be read: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AgentConfigError(`agent config ${file}: is not valid JSON: ${(error as Error).message}`);
  }
  return agentConfigFrom(parsed, file);
}

/**
 * Validates a parsed configuration and reads its server.credentialsFile: what both a config file
 * and a config pushed by the server (agent/fleet/) go through.
 */
export async function agentConfigFrom(input: unknown, file: string, base = dirname(file)): Promise<AgentConfig> {
  const config = parseAgentConfig(input, file, base);
  if (config.server.credentialsFile) {
    const keys = await loadDeviceCredentials((await serviceCredential(DEVICE_KEYS_CREDENTIAL)) ?? config.server.credentialsFile, file);
    config.server.accessKeyId = keys.accessKeyId;
    config.server.secretAccessKey = keys.secretAccessKey;
  }
  return config;
}

/** Validates a parsed configuration; `file` names it in messages, `base` anchors relative paths (the file's folder unless given). */
export function parseAgentConfig(input: unknown, file: string, base = dirname(file)): AgentConfig {
  const fail = (message: string): never => {
    throw new AgentConfigError(`agent config ${file}: ${message}`, message);
  };
  const root = object(input, '', fail, ['deviceId', 'server', 'dataDir', 'buffer', 'upload', 'sources', 'cameras', 'status', 'heartbeat', 'fleet', 'logLevel']);

  const deviceId = string(root, 'deviceId', '', fail, { required: true, pattern: /^[\w.:-]{1,128}$/, patternText: 'letters, digits, _ . : - (1 to 128)' })!;

  const serverIn = object(root['server'], 'server', fail, ['url', 'region', 'transport', 'mqttUrl', 'accessKeyId', 'secretAccessKey', 'credentialsFile']);
  const url = string(serverIn, 'url', 'server.', fail, { required: true })!;
  let parsedUrl: URL | undefined;
  try {
    parsedUrl = new URL(url);
  } catch {
    fail(`server.url must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsedUrl!.protocol !== 'http:' && parsedUrl!.protocol !== 'https:') fail(`server.url must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
  const accessKeyId = string(serverIn, 'accessKeyId', 'server.', fail, { pattern: /^\w+$/, patternText: "letters, digits and '_'" });
  const secretAccessKey = string(serverIn, 'secretAccessKey', 'server.', fail);
  const credentialsFile = string(serverIn, 'credentialsFile', 'server.', fail);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) fail('server.accessKeyId and server.secretAccessKey go together');
  if (credentialsFile !== undefined && accessKeyId !== undefined) fail('server.credentialsFile replaces server.accessKeyId and server.secretAccessKey; give one or the other');
  const transport = oneOf(serverIn, 'transport', 'server.', fail, ['http', 'mqtt'] as const) ?? 'http';
  const mqttUrl = string(serverIn, 'mqttUrl', 'server.', fail);
  if (transport === 'mqtt' && mqttUrl === undefined) fail('server.mqttUrl is required when server.transport is "mqtt" (e.g. "mqtt://127.0.0.1:1883")');
  if (transport !== 'mqtt' && mqttUrl !== undefined) fail('server.mqttUrl applies only when server.transport is "mqtt"');
  if (mqttUrl !== undefined && !/^mqtts?:\/\/[^/]/.test(mqttUrl)) fail(`server.mqttUrl must be an mqtt:// or mqtts:// URL, got ${JSON.stringify(mqttUrl)}`);
  if (mqttUrl !== undefined) {
    try {
      new URL(mqttUrl);
    } catch {
      fail(`server.mqttUrl must be an mqtt:// or mqtts:// URL, got ${JSON.stringify(mqttUrl)}`);
    }
  }
  const server: AgentConfig['server'] = { url, region: string(serverIn, 'region', 'server.', fail) ?? DEFAULTS.region, transport };
  if (mqttUrl !== undefined) server.mqttUrl = mqttUrl;
  if (accessKeyId !== undefined) Object.assign(server, { accessKeyId, secretAccessKey });
  if (credentialsFile !== undefined) server.credentialsFile = absolute(base, credentialsFile);

  const dataDir = absolute(base, string(root, 'dataDir', '', fail, { required: true })!);

  const bufferIn = object(root['buffer'] ?? {}, 'buffer', fail, ['maxBytes', 'maxAgeMs', 'synchronous', 'commitIntervalMs']);
  const synchronous = oneOf(bufferIn, 'synchronous', 'buffer.', fail, ['FULL', 'NORMAL'] as const) ?? 'FULL';
  const buffer = {
    maxBytes: integer(bufferIn, 'maxBytes', 'buffer.', fail, { min: 64 * 1024 }) ?? DEFAULTS.bufferMaxBytes,
    maxAgeMs: integer(bufferIn, 'maxAgeMs', 'buffer.', fail, { min: 1 }) ?? DEFAULTS.bufferMaxAgeMs,
    synchronous,
    commitIntervalMs: integer(bufferIn, 'commitIntervalMs', 'buffer.', fail, { min: 0, max: 60_000 }) ?? DEFAULTS.bufferCommitIntervalMs,
  };

  const uploadIn = object(root['upload'] ?? {}, 'upload', fail, ['batchRecords', 'intervalMs', 'maxBackoffMs', 'order']);
  const videoUpload = { order: oneOf(uploadIn, 'order', 'upload.', fail, ['live-first', 'oldest-first'] as const) ?? 'live-first' };
  const upload = {
    batchRecords: integer(uploadIn, 'batchRecords', 'upload.', fail, { min: 1, max: 500 }) ?? DEFAULTS.batchRecords,
    intervalMs: integer(uploadIn, 'intervalMs', 'upload.', fail, { min: 1 }) ?? DEFAULTS.uploadIntervalMs,
    maxBackoffMs: integer(uploadIn, 'maxBackoffMs', 'upload.', fail, { min: 1 }) ?? DEFAULTS.maxBackoffMs,
  };

  const statusIn = object(root['status'] ?? {}, 'status', fail, ['port', 'host']);
  const status = {
    port: integer(statusIn, 'port', 'status.', fail, { min: 0, max: 65535 }) ?? DEFAULTS.statusPort,
    host: string(statusIn, 'host', 'status.', fail) ?? DEFAULTS.statusHost,
  };

  const heartbeatIn = object(root['heartbeat'] ?? {}, 'heartbeat', fail, ['intervalMs']);
  const heartbeat = { intervalMs: integer(heartbeatIn, 'intervalMs', 'heartbeat.', fail, { min: 0 }) ?? DEFAULTS.heartbeatIntervalMs };

  const fleetIn = object(root['fleet'] ?? {}, 'fleet', fail, ['applyTimeoutMs']);
  const fleet = { applyTimeoutMs: integer(fleetIn, 'applyTimeoutMs', 'fleet.', fail, { min: 100, max: 600_000 }) ?? DEFAULTS.fleetApplyTimeoutMs };

  const logLevel = oneOf(root, 'logLevel', '', fail, ['debug', 'info', 'warn', 'error'] as const) ?? 'info';

  const cameras = parseCameras(root['cameras'], fail);
  // An agent with cameras only needs no serial sources.
  const sourcesIn = root['sources'] ?? (cameras.length > 0 ? [] : undefined);
  if (!Array.isArray(sourcesIn) || (sourcesIn.length === 0 && cameras.length === 0)) fail('sources must be a non-empty array');
  const names = new Map<string, number>();
  const typeCounts = new Map<string, number>();
  const sources = (sourcesIn as unknown[]).map((raw, index) => {
    const source = parseSource(raw, `sources[${index}]`, deviceId, fail);
    if (source.name === '') {
      const count = (typeCounts.get(source.type) ?? 0) + 1;
      typeCounts.set(source.type, count);
      source.name = count === 1 ? source.type : `${source.type}-${count}`;
    }
    const previous = names.get(source.name);
    if (previous !== undefined) fail(`sources[${index}].name ${JSON.stringify(source.name)} is used by sources[${previous}]; give each source its own name`);
    names.set(source.name, index);
    return source;
  });
  if (sources.filter((source) => source.type === 'gps').length > 1) fail('sources: at most one gps source');
  const attaching = sources.findIndex((source) => source.attachGps);
  if (attaching >= 0 && !sources.some((source) => source.type === 'gps')) fail(`sources[${attaching}].attachGps needs a source of type "gps"`);
  const cameraAttaching = cameras.findIndex((camera) => camera.attachGps);
  if (cameraAttaching >= 0 && !sources.some((source) => source.type === 'gps')) fail(`cameras[${cameraAttaching}].attachGps needs a source of type "gps"`);
  if (transport === 'mqtt') {
    // Over MQTT the partition key is one level of the topic (see agent/mqtt-uploader.ts).
    sources.forEach((source, index) => {
      if (/[/+#\u0000]/u.test(source.partitionKey)) fail(`sources[${index}].partitionKey must not contain '/', '+' or '#' when server.transport is "mqtt" (it becomes one MQTT topic level), got ${JSON.stringify(source.partitionKey)}`);
    });
  }

  return { file, deviceId, server, dataDir, buffer, upload, sources, cameras, videoUpload, status, heartbeat, fleet, logLevel };
}

const CAMERA_FIELDS = ['name', 'source', 'stream', 'width', 'height', 'fps', 'fragmentSeconds', 'encoder', 'spool', 'tags', 'attachGps', 'webrtc'];
const CAMERA_SOURCE_FIELDS: Record<CameraSourceType, string[]> = {
  v4l2: ['type', 'device', 'format'],
  libcamera: ['type', 'cameraName'],
  rtsp: ['type', 'url'],
  test: ['type', 'pattern'],
};

function parseCameras(raw: unknown, fail: (message: string) => never): CameraConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) fail('cameras must be an array');
  const names = new Map<string, number>();
  return (raw as unknown[]).map((entry, index) => {
    const at = `cameras[${index}]`;
    const p = `${at}.`;
    const fields = object(entry, at, fail, CAMERA_FIELDS);
    const name = string(fields, 'name', p, fail, { required: true, pattern: /^[\w.-]{1,64}$/, patternText: 'letters, digits, _ . - (1 to 64)' })!;
    const previous = names.get(name);
    if (previous !== undefined) fail(`${p}name ${JSON.stringify(name)} is used by cameras[${previous}]; give each camera its own name`);
    names.set(name, index);
    const sourceLoose = object(fields['source'], `${p}source`, fail, null);
    const type = oneOf(sourceLoose, 'type', `${p}source.`, fail, CAMERA_SOURCE_TYPES, true)!;
    const sourceIn = object(sourceLoose, `${p}source`, fail, CAMERA_SOURCE_FIELDS[type], ` for type ${JSON.stringify(type)}`);
    const source: CameraConfig['source'] = { type };
    if (type === 'v4l2') {
      source.device = string(sourceIn, 'device', `${p}source.`, fail, { pattern: /^\/dev\/\S+$/, patternText: 'a device path such as /dev/video0' }) ?? '/dev/video0';
      source.format = oneOf(sourceIn, 'format', `${p}source.`, fail, ['auto', 'h264', 'mjpeg', 'raw'] as const) ?? 'auto';
    }
    if (type === 'rtsp') source.url = string(sourceIn, 'url', `${p}source.`, fail, { required: true, pattern: /^rtsps?:\/\/\S+$/, patternText: 'an rtsp:// URL' })!;
    if (type === 'test') {
      const pattern = string(sourceIn, 'pattern', `${p}source.`, fail, { pattern: /^[\w-]{1,32}$/, patternText: 'a videotestsrc pattern name such as smpte or ball' });
      if (pattern !== undefined) source.pattern = pattern;
    }
    if (type === 'libcamera') {
      const cameraName = string(sourceIn, 'cameraName', `${p}source.`, fail);
      if (cameraName !== undefined) source.cameraName = cameraName;
    }
    const stream = string(fields, 'stream', p, fail, { required: true, pattern: /^[a-zA-Z0-9_.-]{1,256}$/, patternText: 'a stream name: letters, digits, _ . - (1 to 256)' })!;
    const encoder = oneOf(fields, 'encoder', p, fail, ['auto', 'passthrough', ...ENCODERS] as const) ?? 'auto';
    if (encoder !== 'auto' && encoder !== 'passthrough' && type === 'rtsp') fail(`${p}encoder must be "auto" or "passthrough" for an rtsp source (its H.264 is passed through)`);
    const spoolIn = object(fields['spool'] ?? {}, `${p}spool`, fail, ['maxBytes', 'maxAgeMs', 'onFull']);
    const tagsIn = object(fields['tags'] ?? {}, `${p}tags`, fail, null);
    const tags: Record<string, string> = {};
    for (const [key, value] of Object.entries(tagsIn)) {
      if (!/^[\w.:-]{1,128}$/.test(key)) fail(`${p}tags: the name ${JSON.stringify(key)} must be letters, digits, _ . : - (1 to 128)`);
      if (typeof value !== 'string') fail(`${p}tags.${key} must be a string`);
      tags[key] = value as string;
    }
    const camera: CameraConfig = {
      name,
      source,
      stream,
      fragmentSeconds: integer(fields, 'fragmentSeconds', p, fail, { min: 1, max: 10 }) ?? DEFAULTS.fragmentSeconds,
      encoder,
      spool: {
        maxBytes: integer(spoolIn, 'maxBytes', `${p}spool.`, fail, { min: 1024 * 1024 }) ?? DEFAULTS.cameraSpoolMaxBytes,
        maxAgeMs: integer(spoolIn, 'maxAgeMs', `${p}spool.`, fail, { min: 1000 }) ?? DEFAULTS.cameraSpoolMaxAgeMs,
        onFull: oneOf(spoolIn, 'onFull', `${p}spool.`, fail, ['drop-oldest', 'reject-new'] as const) ?? 'drop-oldest',
      },
      tags,
      attachGps: boolean(fields, 'attachGps', p, fail) ?? false,
    };
    const width = integer(fields, 'width', p, fail, { min: 16, max: 7680 });
    const height = integer(fields, 'height', p, fail, { min: 16, max: 4320 });
    const fps = integer(fields, 'fps', p, fail, { min: 1, max: 120 });
    if (width !== undefined) camera.width = width;
    if (height !== undefined) camera.height = height;
    if (fps !== undefined) camera.fps = fps;
    if (fields['webrtc'] !== undefined) camera.webrtc = parseWebRtc(fields['webrtc'], `${p}webrtc`, type, camera, fail);
    return camera;
  });
}

function parseWebRtc(raw: unknown, at: string, sourceType: CameraSourceType, camera: CameraConfig, fail: (message: string) => never): CameraWebRtcConfig {
  const p = `${at}.`;
  const fields = object(raw, at, fail, ['channel', 'maxViewers', 'width', 'height', 'fps', 'burnTimestamp']);
  // Multiples of 8 and 2: GStreamer pads I420 rows to 4 bytes per plane, and a padded frame is not
  // what the WebRTC video source takes.
  const width = integer(fields, 'width', p, fail, { min: 64, max: 3840 }) ?? DEFAULTS.webrtcWidth;
  if (width % 8 !== 0) fail(`${p}width must be a multiple of 8, got ${width}`);
  const height = integer(fields, 'height', p, fail, { min: 48, max: 2160 }) ?? DEFAULTS.webrtcHeight;
  if (height % 2 !== 0) fail(`${p}height must be even, got ${height}`);
  const burnTimestamp = boolean(fields, 'burnTimestamp', p, fail) ?? false;
  if (burnTimestamp && sourceType !== 'test') fail(`${p}burnTimestamp applies only to a camera of source type "test"`);
  return {
    channel: string(fields, 'channel', p, fail, { required: true, pattern: /^[a-zA-Z0-9_.-]{1,256}$/, patternText: 'a channel name: letters, digits, _ . - (1 to 256)' })!,
    maxViewers: integer(fields, 'maxViewers', p, fail, { min: 1, max: 32 }) ?? DEFAULTS.webrtcMaxViewers,
    width,
    height,
    fps: integer(fields, 'fps', p, fail, { min: 1, max: 60 }) ?? Math.min(camera.fps ?? DEFAULTS.webrtcFps, 60),
    burnTimestamp,
  };
}

const COMMON_SOURCE_FIELDS = ['type', 'name', 'port', 'stream', 'partitionKey', 'baudRate', 'dataBits', 'parity', 'stopBits', 'sampling', 'priority', 'onFull', 'attachGps'];
const TYPE_FIELDS: Record<SourceType, string[]> = {
  gps: [],
  dsmr: ['version'],
  modbus: ['meter', 'registers', 'address', 'intervalMs'],
  iec62056: ['address', 'intervalMs'],
  line: ['format', 'columns', 'delimiter'],
};

function parseSource(raw: unknown, at: string, deviceId: string, fail: (message: string) => never): SourceConfig {
  const loose = object(raw, at, fail, null);
  const type = oneOf(loose, 'type', `${at}.`, fail, SOURCE_TYPES, true)!;
  const fields = object(raw, at, fail, [...COMMON_SOURCE_FIELDS, ...TYPE_FIELDS[type]], ` for type ${JSON.stringify(type)}`);
  const p = `${at}.`;
  const name = string(fields, 'name', p, fail, { pattern: /^[\w.-]{1,64}$/, patternText: 'letters, digits, _ . - (1 to 64)' }) ?? '';
  const port = string(fields, 'port', p, fail, { required: true })!;
  const stream = string(fields, 'stream', p, fail, { required: true, pattern: /^[a-zA-Z0-9_.-]{1,128}$/, patternText: 'a stream name: letters, digits, _ . - (1 to 128)' })!;
  const partitionKey = string(fields, 'partitionKey', p, fail, { pattern: /^.{1,256}$/su, patternText: '1 to 256 characters' }) ?? deviceId;
  const dsmrVersion = type === 'dsmr' ? (oneOf(fields, 'version', p, fail, ['2.2', '3', '4', '5'] as const) ?? '5') : '5';
  const defaults = serialDefaults(type, dsmrVersion);
  const serial: Required<SerialSettings> = {
    baudRate: integer(fields, 'baudRate', p, fail, { min: 50, max: 4_000_000 }) ?? defaults.baudRate,
    dataBits: oneOf(fields, 'dataBits', p, fail, [5, 6, 7, 8] as const) ?? defaults.dataBits,
    parity: oneOf(fields, 'parity', p, fail, ['none', 'even', 'odd', 'mark', 'space'] as const) ?? defaults.parity,
    stopBits: oneOf(fields, 'stopBits', p, fail, [1, 1.5, 2] as const) ?? defaults.stopBits,
  };
  const samplingIn = object(fields['sampling'] ?? {}, `${at}.sampling`, fail, ['minIntervalMs']);
  const sampling = { minIntervalMs: integer(samplingIn, 'minIntervalMs', `${at}.sampling.`, fail, { min: 0 }) ?? 0 };
  const priority = integer(fields, 'priority', p, fail, { min: -1000, max: 1000 }) ?? 0;
  const onFull = oneOf(fields, 'onFull', p, fail, ['drop-oldest', 'reject-new'] as const) ?? 'drop-oldest';
  const attachGps = boolean(fields, 'attachGps', p, fail) ?? false;
  if (attachGps && type === 'gps') fail(`${at}.attachGps makes no sense on the gps source itself`);
  const source: SourceConfig = { type, name, port, stream, partitionKey, serial, sampling, priority, onFull, attachGps };

  if (type === 'dsmr') source.dsmr = { version: dsmrVersion };
  if (type === 'line') {
    const format = oneOf(fields, 'format', p, fail, ['json', 'csv', 'kv'] as const) ?? 'json';
    const columns = fields['columns'];
    const delimiter = fields['delimiter'];
    if (format !== 'csv' && columns !== undefined) fail(`${at}.columns applies only to format "csv"`);
    if (format === 'csv' && columns === undefined) fail(`${at}.columns must be given for format "csv" (the names of the values, in order)`);
    try {
      source.line = { format: checkLineFormat(format === 'csv' ? { kind: 'csv', columns, ...(delimiter === undefined ? {} : { delimiter }) } : { kind: format === 'kv' ? 'keyValue' : 'json' }) };
    } catch (error) {
      fail(`${at}.${(error as Error).message.replace(/^format\./, '')}`);
    }
  }
  if (type === 'modbus') {
    const meter = oneOf(fields, 'meter', p, fail, ['sdm120', 'sdm630'] as const);
    let registers: RegisterMapEntry[] | undefined;
    if (fields['registers'] !== undefined) {
      const checked = validateRegisterMap(fields['registers'], `${at}.registers`);
      if (!checked.ok) fail(checked.errors.join('; '));
      else registers = checked.map;
    }
    if ((meter === undefined) === (registers === undefined)) fail(`${at} needs either meter ("sdm120" or "sdm630") or registers (a register map), not ${meter ? 'both' : 'neither'}`);
    source.modbus = {
      ...(meter ? { meter } : {}),
      ...(registers ? { registers } : {}),
      address: integer(fields, 'address', p, fail, { min: 1, max: 247 }) ?? 1,
      intervalMs: integer(fields, 'intervalMs', p, fail, { min: 100 }) ?? DEFAULTS.modbusIntervalMs,
    };
  }
  if (type === 'iec62056') {
    source.iec62056 = {
      address: string(fields, 'address', p, fail, { pattern: /^[\w ]{0,32}$/, patternText: 'up to 32 letters, digits or spaces' }) ?? '',
      intervalMs: integer(fields, 'intervalMs', p, fail, { min: 1000 }) ?? DEFAULTS.iec62056IntervalMs,
    };
  }
  return source;
}

/** The name under which the systemd unit passes server.credentialsFile (LoadCredential=, agent/service/). */
export const DEVICE_KEYS_CREDENTIAL = 'rivulet-device-keys';

/**
 * The copy systemd made of a credential for this service ($CREDENTIALS_DIRECTORY/<name>), when it
 * did: the file itself may stay root-only, which the service's own user could not read.
 */
async function serviceCredential(name: string): Promise<string | undefined> {
  const directory = process.env['CREDENTIALS_DIRECTORY'];
  if (!directory) return undefined;
  const path = join(directory, name);
  return (await stat(path).then(() => true, () => false)) ? path : undefined;
}

/** The device keys from a root-only file: {"accessKeyId": "…", "secretAccessKey": "…"}. */
async function loadDeviceCredentials(path: string, configFile: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const fail = (message: string): never => {
    throw new AgentConfigError(`agent config ${configFile}: server.credentialsFile ${path} ${message}`);
  };
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    return fail(`cannot be read: ${(error as Error).message}`);
  }
  // The secret signs everything the device sends; a file others can read gives it away.
  if ((mode & 0o077) !== 0) fail(`is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    return fail(`is not a JSON file: ${(error as Error).message}`);
  }
  const fields = object(parsed, '', (message) => fail(`: ${message}`), ['accessKeyId', 'secretAccessKey']);
  const accessKeyId = string(fields, 'accessKeyId', '', (message) => fail(`: ${message}`), { required: true, pattern: /^\w+$/, patternText: "letters, digits and '_'" })!;
  const secretAccessKey = string(fields, 'secretAccessKey', '', (message) => fail(`: ${message}`), { required: true })!;
  return { accessKeyId, secretAccessKey };
}

// ---- field readers: each names the field in its message ------------------------------------------

function object(value: unknown, at: string, fail: (message: string) => never, known: string[] | null, forWhat = ''): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${at || 'the top level'} must be an object`);
  const record = value as Record<string, unknown>;
  if (known) {
    for (const key of Object.keys(record)) {
      if (!known.includes(key)) fail(`${at ? `${at}.` : ''}${key} is not a known field${forWhat} (expected one of ${known.join(', ')})`);
    }
  }
  return record;
}

function string(
  from: Record<string, unknown>,
  key: string,
  prefix: string,
  fail: (message: string) => never,
  options: { required?: boolean; pattern?: RegExp; patternText?: string } = {},
): string | undefined {
  const value = from[key];
  if (value === undefined) {
    if (options.required) fail(`${prefix}${key} is required`);
    return undefined;
  }
  if (typeof value !== 'string' || value === '') fail(`${prefix}${key} must be a ${value === '' ? 'non-empty ' : ''}string`);
  if (options.pattern && !options.pattern.test(value as string)) fail(`${prefix}${key} must be ${options.patternText}, got ${JSON.stringify(value)}`);
  return value as string;
}

function integer(from: Record<string, unknown>, key: string, prefix: string, fail: (message: string) => never, range: { min?: number; max?: number }): number | undefined {
  const value = from[key];
  if (value === undefined) return undefined;
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(`${prefix}${key} must be an integer${range.min !== undefined ? ` from ${min}` : ''}${range.max !== undefined ? ` to ${max}` : ''}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function boolean(from: Record<string, unknown>, key: string, prefix: string, fail: (message: string) => never): boolean | undefined {
  const value = from[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(`${prefix}${key} must be true or false`);
  return value as boolean;
}

function oneOf<T extends string | number>(from: Record<string, unknown>, key: string, prefix: string, fail: (message: string) => never, choices: readonly T[], required = false): T | undefined {
  const value = from[key];
  if (value === undefined) {
    if (required) fail(`${prefix}${key} is required (one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')})`);
    return undefined;
  }
  if (!(choices as readonly unknown[]).includes(value)) fail(`${prefix}${key} must be one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function absolute(base: string, path: string): string {
  return isAbsolute(path) ? path : join(base, path);
}
