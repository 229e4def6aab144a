import { setMaxListeners } from 'node:events';
import type http from 'node:http';
import type http2 from 'node:http2';
import { mkdir, readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { Logger, silentLogger } from '../lib/log.js';
import { loadCredentialsFile } from './auth/credentials.js';
import type { SignedRequest } from './auth/sigv4.js';
import { deviceConfigTopic, HEARTBEAT_PATH } from '../lib/fleet-protocol.js';
import { DeviceRegistry, serveHeartbeat, type DeviceHeartbeat, type HeartbeatContext } from './console/heartbeats.js';
import { isConsoleRequest, serveConsole, type ConsoleOptions } from './console/serve.js';
import { DEFAULT_SETTINGS, type DataStreamsContext, type DataStreamsSettings } from './data-streams/context.js';
import { loadKeyRing } from './data-streams/encryption.js';
import { serveKinesis, type EndpointStats } from './data-streams/endpoint.js';
import { retentionCutoff } from './data-streams/shards.js';
import { Subscriptions } from './data-streams/subscriptions.js';
import { ThroughputLimiter } from './data-streams/throughput.js';
import { VideoThroughputLimiter } from './video-streams/throughput.js';
import { isAdminPath, serveAdmin, type AdminContext } from './devices/admin-api.js';
import { authorize, namedResource } from './devices/authorization.js';
import { DeviceConnections } from './devices/connections.js';
import { DesiredConfigs, type StoredConfig } from './devices/desired-configs.js';
import { RecordDeviceKeyStore, type StoredDevice } from './devices/device-keys.js';
import { keyResolver, verifyPrincipal } from './devices/principals.js';
import { readBody } from './http/body.js';
import { ServerOptionsError } from './server-options-error.js';
import { listen, type Listener } from './http/listener.js';
import { startMqttBroker, type RunningMqttBroker } from './mqtt/broker.js';
import { loadMqttConfig } from './mqtt/routes.js';
import { encodeError, formatOf } from './protocol/aws-json.js';
import { ServiceError } from './protocol/errors.js';
import { JsonChannelStore } from './signaling/channel-store.js';
import type { SignalingContext } from './signaling/context.js';
import { SignalingHub } from './signaling/hub.js';
import { loadIceServers, NO_ICE_SERVERS } from './signaling/ice-servers.js';
import { acceptSignalingUpgrade, isSignalingPath } from './signaling/websocket.js';
import type { DataStreamStore } from './storage/data-stream-store.js';
import { connectNats, type NatsStoreOptions } from './storage/nats/connection.js';
import { SqliteDataStreamStore } from './storage/sqlite/data-stream-store.js';
import { SqliteVideoStore } from './storage/sqlite/video-store.js';
import type { VideoStore } from './storage/video-store.js';
import type { VideoStreamsContext, VideoStreamsSettings } from './video-streams/context.js';
import { isVideoPath, serveVideo } from './video-streams/endpoint.js';
import { trimExpiredVideo } from './video-streams/retention.js';

// Base64 makes a 10 MiB PutRecords body about 13.4 MiB of JSON.
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const TRIM_INTERVAL_MS = 60_000;
const SHUTDOWN_GRACE_MS = 10_000;

export interface ServerOptions {
  host?: string;
  port?: number;
  dataDir: string;
  /** JSON file of access keys; without it requests are not authenticated (loopback only). */
  credentialsFile?: string;
  tls?: { certFile: string; keyFile: string };
  encryptionKeysFile?: string;
  enforceThroughput?: boolean;
  settings?: Partial<DataStreamsSettings>;
  log?: Logger;
  /** Replaces the embedded store, e.g. with a distributed one. */
  store?: DataStreamStore;
  /** Replaces the embedded Kinesis Video store (<dataDir>/video). */
  videoStore?: VideoStore;
  /**
   * Keeps streams, records and fragments on this NATS JetStream cluster instead of dataDir, so
   * several servers serve the same data; `store` and `videoStore`, when given, still win. Device
   * keys, desired configs and the devices' latest heartbeats are shared there too; signaling
   * channels stay in dataDir, per node.
   */
  natsStore?: NatsStoreOptions;
  /** Kinesis Video settings beyond region and account, which come from `settings`. */
  videoSettings?: Partial<Omit<VideoStreamsSettings, 'region' | 'accountId'>>;
  /** The clock; tests move it to see retention and iterator expiry. */
  now?: () => number;
  /** How often expired records and fragments are trimmed; 60 s unless given (tests shorten it to watch retention act). */
  retentionSweepMs?: number;
  /** Port of the MQTT broker (on `host`, over TLS when `tls` is given); needs mqttConfigFile. */
  mqttPort?: number;
  /** JSON file of MQTT topic → stream routes: {"routes":[{"topic":"meters/+/reading","stream":"meters","partitionKey":"{2}"}]}. */
  mqttConfigFile?: string;
  /** JSON file of STUN/TURN servers for WebRTC peers: {"stun":["stun:host:3478"],"turn":[{"uris":["turn:host:3478"],"secret":"…"}]}. */
  iceServersFile?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  authenticated: boolean;
  /** The port the MQTT broker listens on, when it runs. */
  mqttPort?: number;
  close(): Promise<void>;
}

export { ServerOptionsError };

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Starts the ingest server: opens the store, then listens; resolves once it accepts requests. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;
  const credentials = options.credentialsFile ? await loadCredentialsFile(options.credentialsFile) : undefined;
  if (!credentials && !isLoopback(host)) {
    throw new ServerOptionsError(`refusing to listen on ${host} without --credentials: unauthenticated access is only allowed on loopback`);
  }
  if ((options.mqttPort === undefined) !== (options.mqttConfigFile === undefined)) {
    throw new ServerOptionsError('--mqtt-port and --mqtt-config go together: the broker stores only what the routes map to streams.');
  }
  const mqttConfig = options.mqttConfigFile !== undefined ? await loadMqttConfig(options.mqttConfigFile) : undefined;
  const iceServers = options.iceServersFile !== undefined ? await loadIceServers(options.iceServersFile) : NO_ICE_SERVERS;
  const tls = options.tls ? { cert: await readFile(options.tls.certFile), key: await readFile(options.tls.keyFile) } : undefined;

  // The JetStream stores are loaded only when used, so a server on the embedded store never loads them.
  const nats = options.natsStore
    ? {
        handle: await connectNats(options.natsStore),
        ...(await import('./storage/nats/data-stream-store.js')),
        ...(await import('./storage/nats/video-store.js')),
        ...(await import('./devices/nats-record-map.js')),
      }
    : undefined;
  const store = options.store ?? (nats ? new nats.NatsDataStreamStore(nats.handle, { now }) : new SqliteDataStreamStore(options.dataDir, { now }));
  // Closes the stores, then the NATS connection they share.
  const closeStores = async (...stores: { close(): Promise<void> }[]) => {
    try {
      await Promise.all(stores.map((each) => each.close()));
    } finally {
      await nats?.handle.close();
    }
  };
  try {
    await store.open();
  } catch (error) {
    await closeStores();
    throw error;
  }
  const ctx: DataStreamsContext = {
    store,
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    keys: await loadKeyRing(options.encryptionKeysFile, await store.secret('kms-default-key')),
    iteratorSecret: await store.secret('shard-iterator-mac'),
    ...(options.enforceThroughput ? { throughput: new ThroughputLimiter(now) } : {}),
    subscriptions: new Subscriptions(now),
    now,
  };
  const videoStore = options.videoStore ?? (nats ? new nats.NatsVideoStore(nats.handle) : new SqliteVideoStore(options.dataDir));
  try {
    await videoStore.open();
  } catch (error) {
    await closeStores(store);
    throw error;
  }
  // On NATS every node follows the same buckets, so a revoke or a push through any node holds on all.
  const deviceKeys = nats ? new RecordDeviceKeyStore(new nats.NatsRecordMap<StoredDevice>(nats.handle, 'device_keys')) : RecordDeviceKeyStore.inDataDir(options.dataDir);
  const desiredConfigs = nats ? new DesiredConfigs(new nats.NatsRecordMap<StoredConfig>(nats.handle, 'device_configs')) : DesiredConfigs.inDataDir(options.dataDir);
  // Device keys are accepted only when the server authenticates at all.
  const resolveKey = credentials ? keyResolver(credentials, deviceKeys) : undefined;
  const verifySigned = resolveKey ? (request: SignedRequest) => verifyPrincipal(request, resolveKey, now()) : undefined;
  const deviceConnections = new DeviceConnections((accessKeyId) => deviceKeys.keyFor(accessKeyId) !== undefined);
  deviceKeys.onRevoked((device) => deviceConnections.closeAll(device.name));
  // Aborted at shutdown: PutMedia and GetMedia calls end themselves (PutMedia after its pending fragments are stored).
  const videoClosing = new AbortController();
  // Every PutMedia and GetMedia call listens for the shutdown: hundreds at once are normal.
  setMaxListeners(0, videoClosing.signal);
  const videoCtx: VideoStreamsContext = {
    store: videoStore,
    settings: { ...options.videoSettings, region: ctx.settings.region, accountId: ctx.settings.accountId },
    log,
    now,
    // From the data-stream store, which every node shares: a session opened on one node plays on any.
    playbackSecret: await store.secret('kvs-playback-session'),
    ...(verifySigned ? { verify: (request) => verifySigned(request).principal } : {}),
    ...(options.enforceThroughput ? { throughput: new VideoThroughputLimiter() } : {}),
    closing: { signal: videoClosing.signal },
  };
  const channels = new JsonChannelStore(options.dataDir);
  const signaling: SignalingContext = {
    channels,
    hub: new SignalingHub(),
    ice: iceServers,
    settings: videoCtx.settings,
    now,
    ...(videoCtx.verify ? { verify: videoCtx.verify } : {}),
  };
  const devices = nats ? new DeviceRegistry(new nats.NatsRecordMap<DeviceHeartbeat>(nats.handle, 'device_heartbeats')) : DeviceRegistry.inDataDir(options.dataDir);
  try {
    // On NATS no store creates dataDir, and the per-node JSON documents live there.
    await mkdir(options.dataDir, { recursive: true });
    await Promise.all([devices.load(), channels.load(), deviceKeys.load(), desiredConfigs.load()]);
  } catch (error) {
    await closeStores(store, videoStore);
    throw error;
  }
  const heartbeats: HeartbeatContext = { registry: devices, configs: desiredConfigs, now, ...(verifySigned ? { verify: verifySigned } : {}) };
  const admin: AdminContext = { devices: deviceKeys, configs: desiredConfigs, heartbeats: devices, now, ...(verifySigned ? { verify: verifySigned } : {}) };
  const consoleOptions: ConsoleOptions = { data: ctx, video: videoStore, devices, identities: deviceKeys, configs: desiredConfigs, now, videoCtx, signaling, log, ...(credentials ? { credentials } : {}) };
  const stats: EndpointStats = { requests: new Map(), errors: new Map() };
  const inFlight = new Set<Promise<void>>();

  const handle = async (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => {
    const path = request.url ?? '/';
    if (request.method === 'GET' && path === '/health') {
      response.setHeader('content-type', 'application/json');
      response.end('{"status":"ok"}');
      return;
    }
    if (request.method === 'GET' && path === '/metrics') {
      response.setHeader('content-type', 'text/plain; version=0.0.4');
      response.end(metricsText(stats));
      return;
    }
    if (path === HEARTBEAT_PATH) {
      await serveHeartbeat(heartbeats, request, response);
      return;
    }
    if (isAdminPath(path)) {
      await serveAdmin(admin, request, response);
      return;
    }
    if (isConsoleRequest(request.method, path)) {
      await serveConsole(consoleOptions, request, response);
      return;
    }
    // Before any body is read: a PutMedia body is a stream that lasts as long as the camera sends.
    if (isVideoPath(path)) {
      await serveVideo(videoCtx, request, response, signaling);
      return;
    }
    const format = formatOf(header(request, 'content-type'));
    try {
      if (request.method !== 'POST') throw new ServiceError(`Only POST is served at ${path}.`, 404);
      const body = await readBody(request, MAX_BODY_BYTES);
      const signed = verifySigned?.({ method: request.method, path, headers: request.headers, body });
      const access =
        signed &&
        ((operation: string, decoded: unknown) =>
          authorize(signed.principal, { service: 'kinesis', action: operation, resource: namedResource(decoded, 'StreamName', 'StreamARN', 'stream'), producerId: producerIdOf(decoded) }));
      await serveKinesis(ctx, log, stats, header(request, 'x-amz-target') ?? '', header(request, 'content-type'), body, response, access);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      const encoded = encodeError(format, error);
      response.statusCode = encoded.status;
      for (const [name, value] of Object.entries(encoded.headers)) response.setHeader(name, value);
      response.end(encoded.body);
    }
  };

  const upgrade = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isSignalingPath(request.url ?? '/')) {
      socket.destroy();
      return;
    }
    const work = acceptSignalingUpgrade(signaling, request, socket, head, deviceConnections).catch((error) => {
      log.error('signaling upgrade failed', { error });
      socket.destroy();
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  const listener: Listener = await listen({ host, port: options.port ?? 4567, upgrade, ...(tls ? { tls } : {}) }, (request, response) => {
    const work = handle(request, response).catch((error) => {
      log.error('request failed', { error });
      if (!response.headersSent) response.statusCode = 500;
      response.end();
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });

  let mqtt: RunningMqttBroker | undefined;
  if (mqttConfig) {
    try {
      mqtt = await startMqttBroker({ host, port: options.mqttPort!, config: mqttConfig, ctx, log, connections: deviceConnections, ...(resolveKey ? { keys: resolveKey } : {}), ...(tls ? { tls } : {}) });
      // aedes keeps retained messages in memory: every desired config is published again at start.
      const broker = mqtt;
      const publishConfig = (name: string, config: object) =>
        broker.publishRetained(deviceConfigTopic(name), Buffer.from(JSON.stringify(config), 'utf8')).catch((error) => log.error('publishing a device config over mqtt failed', { device: name, error }));
      desiredConfigs.onChange(publishConfig);
      await Promise.all(desiredConfigs.entries().map(([name, config]) => publishConfig(name, config)));
    } catch (error) {
      await listener.close(0);
      await closeStores(store, videoStore);
      throw error;
    }
  }

  const trimmer = setInterval(() => {
    void trimExpired(ctx).catch((error) => log.warn('retention trim failed', { error }));
    void trimExpiredVideo(videoCtx).catch((error) => log.warn('video retention trim failed', { error }));
  }, options.retentionSweepMs ?? TRIM_INTERVAL_MS);
  trimmer.unref();
  if (!credentials) log.warn('no --credentials given: requests are not authenticated; listening on loopback only', { host });
  log.info('server listening', { url: listener.url, dataDir: options.dataDir, authenticated: Boolean(credentials), ...(nats ? { store: options.natsStore!.servers.join(',') } : {}) });

  let closing: Promise<void> | undefined;
  return {
    url: listener.url,
    port: listener.port,
    authenticated: Boolean(credentials),
    ...(mqtt ? { mqttPort: mqtt.port } : {}),
    close() {
      closing ??= (async () => {
        clearInterval(trimmer);
        ctx.subscriptions.endAll();
        videoClosing.abort();
        signaling.hub.closeAll();
        // Both fronts end their clients first, so what they sent is stored or refused before the store closes.
        await Promise.all([mqtt?.close(), listener.close(SHUTDOWN_GRACE_MS)]);
        await Promise.allSettled([...inFlight]);
        // The device stores first: on NATS they follow buckets over the connection closeStores ends.
        await Promise.all([devices.close(), deviceKeys.close(), desiredConfigs.close()]);
        await closeStores(store, videoStore);
        log.info('server stopped');
      })();
      return closing;
    },
  };
}

/** The ProducerId a PutRecord(s) body names, if it is a string (the operation validates it). */
function producerIdOf(decoded: unknown): string | undefined {
  const producerId = (decoded as { ProducerId?: unknown } | null)?.ProducerId;
  return typeof producerId === 'string' ? producerId : undefined;
}

function header(request: http.IncomingMessage | http2.Http2ServerRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Deletes records that have passed their stream's retention period. */
export async function trimExpired(ctx: DataStreamsContext): Promise<void> {
  for (const state of await ctx.store.listStreams()) {
    const cutoff = retentionCutoff(state, ctx.now());
    for (const shard of state.shards) await ctx.store.trim(state.uid, shard.index, cutoff);
  }
}

function metricsText(stats: EndpointStats): string {
  const lines = ['# HELP rivulet_requests_total Kinesis API requests by operation.', '# TYPE rivulet_requests_total counter'];
  for (const [operation, count] of stats.requests) lines.push(`rivulet_requests_total{operation="${operation}"} ${count}`);
  lines.push('# HELP rivulet_errors_total Kinesis API errors by wire error name.', '# TYPE rivulet_errors_total counter');
  for (const [name, count] of stats.errors) lines.push(`rivulet_errors_total{error="${name}"} ${count}`);
  return lines.join('\n') + '\n';
}
