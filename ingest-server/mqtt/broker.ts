// The in-process MQTT broker (aedes, MQTT 3.1.1). It is a real broker — clients publish and
// subscribe to each other as usual — and every message on a routed topic is also stored as a
// record in the route's stream, through the same path as PutRecords, before it is acknowledged.
//
// How the PUBACK waits for durability (aedes 1.2, lib/handlers/publish.js): a PUBLISH runs
// `authorizePublish` and then `enqueuePublish`. For QoS 1, enqueuePublish writes the PUBACK first
// and only then calls broker.publish, which is where the `published` hook and the persistence run,
// so both of those are too late. `authorizePublish` is the one hook before the PUBACK (and before
// the PUBREC of QoS 2): we store the message there and call back only once `store.append` has
// resolved, i.e. the record is committed. Calling back with an error makes aedes drop the
// connection (handle → client._nextBatch(err) → 'error' → conn.destroy) without any PUBACK.
//
// Device keys (ingest-server/devices/) may publish only to routed topics of their own streams and
// subscribe only to their config topic; the server publishes pushed configs there, retained.
//
// Ordering: aedes hands every packet of one socket read to its handler at once (lib/client.js
// `enqueue`) without waiting for the previous one. Each connection therefore gets a queue that
// stores what arrived as one batch per stream, in arrival order, and starts the next batch only
// when the previous one is durable; PUBACKs go out in the order the PUBLISHes came in.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import type { Logger } from '../../lib/log.js';
import type { DataStreamsContext } from '../data-streams/context.js';
import { isAllowed, type Principal } from '../devices/authorization.js';
import type { DeviceConnections } from '../devices/connections.js';
import type { KeyResolver } from '../devices/principals.js';
import { putFromMqtt, type MqttPutResult } from '../data-streams/records.js';
import { MqttRouteError, routeMessage, type MqttConfig, type RoutedMessage } from './routes.js';
import { isDeviceConfigTopic } from '../../lib/fleet-protocol.js';

export interface MqttBrokerOptions {
  host: string;
  port: number;
  config: MqttConfig;
  ctx: DataStreamsContext;
  /** The keys the server accepts; when given, CONNECT must carry one as username and password. */
  keys?: KeyResolver;
  /** Where device clients are registered, so that revoking a device disconnects them. */
  connections?: DeviceConnections;
  /** PEM certificate and key: the broker then speaks MQTT over TLS. */
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
}

export interface RunningMqttBroker {
  port: number;
  /** Publishes a retained QoS 1 message from the broker itself; resolves once subscribers have it queued. */
  publishRetained(topic: string, payload: Buffer): Promise<void>;
  /** Disconnects every client and waits until what they sent is stored or refused. */
  close(): Promise<void>;
}

/** Thrown to aedes to refuse a PUBLISH: the client is disconnected without a PUBACK. */
class PublishRefused extends Error {
  override get name(): string {
    return 'PublishRefused';
  }
}

// CONNACK return codes of MQTT 3.1.1.
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
const SYS_PREFIX = '$SYS/';
/** The topic tree of the agent's MQTT transport: rivulet/<deviceId>/<stream>/<partitionKey>/<epoch>/<sequence>. */
const AGENT_TOPIC_PREFIX = 'rivulet/';
// Device serial numbers make long client ids; 3.1.1 requires at least 23 characters.
const MAX_CLIENT_ID_LENGTH = 256;
const DROP_LOG_INTERVAL_MS = 10_000;

interface PendingPublish {
  packet: PublishPacket;
  routed: RoutedMessage;
  done: (error?: Error | null) => void;
}

/** Starts the broker on host:port; resolves once it accepts connections. */
export async function startMqttBroker(options: MqttBrokerOptions): Promise<RunningMqttBroker> {
  const { ctx, config, keys } = options;
  const log = options.log.child({ component: 'mqtt' });
  const queues = new WeakMap<object, StoreQueue>();
  // Wills published on behalf of clients of other (cluster) brokers come without a client.
  const brokerQueueKey = {};
  const draining = new Set<Promise<void>>();
  const drops = new DropLog(log);
  // Who each client authenticated as; absent for every client when the server has no credentials.
  const principals = new WeakMap<Client, Principal>();

  const storeBatch = async (batch: PendingPublish[], clientId: string | undefined): Promise<void> => {
    const byStream = new Map<string, PendingPublish[]>();
    for (const item of batch) {
      const list = byStream.get(item.routed.route.stream);
      if (list) list.push(item);
      else byStream.set(item.routed.route.stream, [item]);
    }
    const outcomes = new Map<PendingPublish, MqttPutResult | { error: Error }>();
    await Promise.all(
      [...byStream].map(async ([stream, items]) => {
        try {
          const results = await putFromMqtt(ctx, stream, items.map(({ packet, routed }) => ({ partitionKey: routed.partitionKey, data: payloadBytes(packet.payload), ...(routed.producer ? { producer: routed.producer } : {}) })));
          items.forEach((item, i) => outcomes.set(item, results[i]!));
        } catch (error) {
          // Unknown stream, or the store failed: nothing of this batch is in the stream.
          if (!(error instanceof Error)) throw error;
          for (const item of items) outcomes.set(item, { error });
        }
      }),
    );
    // In arrival order, so that aedes writes the PUBACKs in that order.
    for (const item of batch) {
      const outcome = outcomes.get(item)!;
      if (!('error' in outcome)) {
        item.done(null);
        continue;
      }
      const fields = { clientId, topic: item.packet.topic, qos: item.packet.qos, stream: item.routed.route.stream, partitionKey: item.routed.partitionKey, error: outcome.error.message, errorName: outcome.error.name };
      if (item.packet.qos === 0) {
        // QoS 0 is fire-and-forget for the sender too: subscribers still get it, the stream does not.
        drops.note(item.routed.route.stream, outcome.error.name, fields);
        item.done(null);
      } else {
        log.warn('mqtt publish refused: not stored, disconnecting the client without PUBACK so it sends the message again', fields);
        item.done(new PublishRefused(`${outcome.error.name}: ${outcome.error.message}`));
      }
    }
  };

  const queueFor = (client: Client | null): StoreQueue => {
    const key = client ?? brokerQueueKey;
    let queue = queues.get(key);
    if (!queue) {
      queue = new StoreQueue((batch) => storeBatch(batch, client?.id ?? undefined), draining);
      queues.set(key, queue);
    }
    return queue;
  };

  const broker = await Aedes.createBroker({
    maxClientsIdLength: MAX_CLIENT_ID_LENGTH,
    authenticate(client, username, password, done) {
      if (!keys) return done(null, true);
      const refuse = (returnCode: number, reason: string) => {
        log.warn('mqtt connection refused', { clientId: client.id, accessKeyId: username, reason });
        done(Object.assign(new Error(reason), { returnCode }) as AuthenticateError, null);
      };
      if (username === undefined || password === undefined) return refuse(NOT_AUTHORIZED, 'no username (access key id) and password (secret access key)');
      const key = keys(username);
      // Compared even for an unknown key id, so the time taken does not tell which ids exist.
      const matches = sameSecret(key?.secretAccessKey ?? '', password);
      if (key === undefined || !matches) return refuse(BAD_USERNAME_OR_PASSWORD, 'unknown or revoked access key id, or wrong secret access key');
      principals.set(client, key.principal);
      done(null, true);
    },
    authorizeSubscribe(client, subscription, done) {
      const principal = client && principals.get(client);
      if (principal && !isAllowed(principal, { service: 'mqtt', action: 'subscribe', topic: subscription.topic })) {
        log.warn('mqtt subscription refused: a device may subscribe only to its config topic', { clientId: client?.id, topic: subscription.topic });
        return done(null, null);
      }
      done(null, subscription);
    },
    authorizePublish(client, packet, done) {
      if (packet.topic.startsWith(SYS_PREFIX)) return done(new Error(`${SYS_PREFIX} topics are reserved for the broker`));
      // Only the server publishes config offers: a client's message there would reach the agent as one.
      if (isDeviceConfigTopic(packet.topic)) {
        log.warn('mqtt publish refused: device config topics are written by the server only, disconnecting the client', { clientId: client?.id, topic: packet.topic });
        return done(new PublishRefused(`${packet.topic} is written by the server only`));
      }
      const principal = client && principals.get(client);
      if (principal?.kind === 'device') {
        // Routing errors and unrouted topics are the device's too: it may write its own streams only.
        let routedHere: RoutedMessage | undefined;
        try {
          routedHere = routeMessage(config.routes, packet.topic);
        } catch (error) {
          if (!(error instanceof MqttRouteError)) throw error;
        }
        const stream = routedHere?.route.stream;
        if (!isAllowed(principal, { service: 'mqtt', action: 'publish', topic: packet.topic, resource: stream, producerId: routedHere?.producer?.id })) {
          log.warn('mqtt publish refused: a device may publish only to routed topics of its own streams, disconnecting it', { clientId: client?.id, device: principal.device.name, topic: packet.topic, stream });
          return done(new PublishRefused(`device ${principal.device.name} may not publish to ${packet.topic}`));
        }
      }
      let routed: RoutedMessage | undefined;
      try {
        routed = routeMessage(config.routes, packet.topic);
      } catch (error) {
        if (!(error instanceof MqttRouteError)) throw error;
        const fields = { clientId: client?.id, topic: packet.topic, qos: packet.qos, error: error.message };
        if (packet.qos === 0) {
          drops.note(packet.topic, error.name, fields);
          return done(null);
        }
        log.warn('mqtt publish refused: its route cannot make a partition key, disconnecting the client without PUBACK', fields);
        return done(new PublishRefused(error.message));
      }
      if (!routed) {
        // The agent's records (agent/mqtt-uploader.ts) leave its buffer on PUBACK: acknowledging
        // one no route stores would lose it, so the agents' tree is refused until a route exists.
        if (packet.qos > 0 && packet.topic.startsWith(AGENT_TOPIC_PREFIX)) {
          const fields = { clientId: client?.id, topic: packet.topic, qos: packet.qos };
          log.warn(`mqtt publish refused: no route stores this ${AGENT_TOPIC_PREFIX} topic (add the agent's route for its stream), disconnecting the client without PUBACK`, fields);
          return done(new PublishRefused(`no route for ${packet.topic}`));
        }
        // Other topics no route matches are plain pub/sub between clients.
        return done(null);
      }
      const found = routed;
      // A resent QoS 2 PUBLISH whose first copy was stored (aedes keeps it until PUBREL) is only
      // answered with PUBREC again by aedes; storing it again would break exactly-once.
      if (packet.qos === 2 && packet.dup && client) {
        persistenceOf(broker)
          .incomingGetPacket(client, packet)
          .then(
            () => done(null),
            () => queueFor(client).add({ packet, routed: found, done }),
          );
        return;
      }
      queueFor(client).add({ packet, routed, done });
    },
  });
  broker.on('client', (client) => {
    const principal = principals.get(client);
    if (principal?.kind !== 'device' || !options.connections) return;
    const forget = options.connections.add(principal.device, () => client.close());
    client.conn.once('close', forget);
  });
  broker.on('clientError', (client, error) => log.debug('mqtt client error', { clientId: client.id, error: error.message }));
  broker.on('connectionError', (_client, error) => log.debug('mqtt connection error', { error: error.message }));
  // aedes emits 'error' when its (memory) persistence fails; without a listener that would crash.
  // (aedes' typings leave the event out.)
  (broker as EventEmitter).on('error', (error: Error) => log.error('mqtt broker error', { error }));

  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = options.tls
    ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, (socket) => broker.handle(socket))
    : net.createServer((socket) => broker.handle(socket));
  // Raw TCP connections, also those of TLS, so close() can end ones that never finished CONNECT.
  server.on('connection', onConnection);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  server.on('error', (error) => log.error('mqtt listener error', { error }));
  const port = (server.address() as net.AddressInfo).port;
  if (!keys) log.warn('mqtt: no --credentials given: connections are not authenticated; listening on loopback only', { host: options.host });
  else if (!options.tls && !isLoopback(options.host)) log.warn('mqtt without TLS: secret access keys travel in clear text as MQTT passwords; give --tls-cert and --tls-key', { host: options.host });
  log.info('mqtt broker listening', { host: options.host, port, tls: Boolean(options.tls), routes: config.routes.length });
  void warnAboutMissingStreams(ctx, config, log);

  let closing: Promise<void> | undefined;
  return {
    port,
    publishRetained(topic, payload) {
      return new Promise<void>((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false }, (error) => (error ? reject(error) : resolve()));
      });
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await stopped;
        await Promise.allSettled([...draining]);
        log.info('mqtt broker stopped');
      })();
      return closing;
    },
  };
}

/**
 * One connection's messages on their way into the store: whatever arrived while the previous batch
 * was being committed is stored as the next batch, so order holds and commits are shared.
 */
class StoreQueue {
  private pending: PendingPublish[] = [];
  private running = false;

  constructor(
    private readonly storeBatch: (batch: PendingPublish[]) => Promise<void>,
    private readonly draining: Set<Promise<void>>,
  ) {}

  add(item: PendingPublish): void {
    this.pending.push(item);
    if (this.running) return;
    this.running = true;
    const drain = this.drain();
    this.draining.add(drain);
    void drain.finally(() => this.draining.delete(drain));
  }

  private async drain(): Promise<void> {
    // aedes parses a whole socket read synchronously: wait a tick so all of it joins the batch.
    await Promise.resolve();
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.storeBatch(batch);
      } catch (error) {
        for (const item of batch) item.done(error as Error);
      }
    }
    this.running = false;
  }
}

/** Logs QoS 0 messages that could not be stored, at most once per key and interval, with a count. */
class DropLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly log: Logger) {}

  note(key: string, reason: string, fields: Record<string, unknown>): void {
    const id = `${key}\u0000${reason}`;
    const now = Date.now();
    const entry = this.last.get(id);
    if (entry && now - entry.at < DROP_LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    this.last.set(id, { at: now, suppressed: 0 });
    this.log.warn('mqtt QoS 0 message not stored', { ...fields, ...(entry?.suppressed ? { alsoDroppedSinceLastLine: entry.suppressed } : {}) });
  }
}

/** The part of aedes' persistence (not in its typings) that remembers inbound QoS 2 packets. */
interface IncomingPackets {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

function persistenceOf(broker: Aedes): IncomingPackets {
  return (broker as unknown as { persistence: IncomingPackets }).persistence;
}

function payloadBytes(payload: PublishPacket['payload']): Uint8Array {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Constant-time comparison of a secret with what the client sent, whatever their lengths. */
function sameSecret(expected: string, given: Buffer): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** Routes to streams that do not exist (yet) refuse every message; say so at start. */
async function warnAboutMissingStreams(ctx: DataStreamsContext, config: MqttConfig, log: Logger): Promise<void> {
  try {
    const names = new Set(config.routes.map((route) => route.stream));
    for (const name of names) {
      if (!(await ctx.store.getStream(name))) log.warn('mqtt route to a stream that does not exist: its messages are refused until it is created', { stream: name });
    }
  } catch (error) {
    log.debug('mqtt: could not check the routed streams', { error });
  }
}
