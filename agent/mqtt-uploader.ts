// The MQTT uploader: drains the buffer into Data Streams through the server's MQTT broker (QoS 1)
// instead of PutRecords, with the same guarantees as the HTTP uploader (uploader.ts), whose pacing
// (DrainLoop) and bookkeeping it shares.
//
// Exactly-once: MQTT 3.1.1 has no per-message metadata, so each record's place is its topic,
//   rivulet/<deviceId>/<stream>/<partitionKey>/<buffer epoch>/<buffer sequence>
// and the server's route for the stream (mqttRouteFor) makes the partition key from level 4 and
// the producer (id "<deviceId>/<epoch>" — the HTTP uploader's ProducerId — and sequence) from
// levels 2, 5 and 6. The server stores a record at most once per (stream, producer id, sequence),
// so a message resent after a lost PUBACK, a dropped connection or an agent restart lands once,
// and switching a device between HTTP and MQTT with a backlog does not duplicate anything either.
//
// Rounds: connect if needed, peek the oldest records (one batch), publish them all in buffer order
// on the one connection (QoS 1, pipelined: the broker stores a connection's messages in arrival
// order and sends the PUBACKs in that order), wait for the PUBACKs, remove the acknowledged from
// the buffer. When the connection drops or a PUBACK does not come in time, the records without a
// PUBACK stay in the buffer and the next round (after a backoff, on a new connection) sends them
// again, oldest first; so no record overtakes an older one of its key.
//
// Unlike HTTP, the broker cannot refuse one message and go on: it closes the connection (MQTT 3.1.1
// has no negative PUBACK). So a record the server cannot store (its stream does not exist yet)
// holds back every later record, of all streams, until it can be stored.
//
// Config offers: each connection subscribes (QoS 1) to rivulet/<deviceId>/config, where the server
// keeps the config it wants the device to run as a retained message; what arrives is handed on.
// The connection exists while there is something to send, so an idle agent learns of a config
// from its heartbeat's answer instead.

import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { BufferedRecord } from './buffer/index.js';
import type { Logger } from '../lib/log.js';
import { DrainLoop, drainSettings, emptyStats, type DrainOptions, producerIdOf, removeAcknowledged, type RoundOutcome, type UploaderStats } from './uploader.js';
import { deviceConfigTopic } from '../lib/fleet-protocol.js';

/** Options of {@link MqttUploader}: the shared drain options, with `url` the broker (mqtt:// or mqtts://). */
export interface MqttUploaderOptions extends DrainOptions {
  /** Extra options for the `mqtt` client (e.g. `ca` for a private TLS certificate authority). */
  clientOptions?: IClientOptions;
  /** Takes each message on the device's config topic, parsed as JSON (agent/fleet/protocol.ts checks it). */
  onConfigOffer?: (offer: unknown) => void;
}

/** The first level of every topic the agent publishes to. */
export const TOPIC_ROOT = 'rivulet';
const STOP_DISCONNECT_MS = 1000;

/** The topic a buffered record is published to. */
export function mqttTopicFor(deviceId: string, producerEpoch: string, record: Pick<BufferedRecord, 'stream' | 'partitionKey' | 'sequence'>): string {
  return `${TOPIC_ROOT}/${deviceId}/${record.stream}/${record.partitionKey}/${producerEpoch}/${record.sequence}`;
}

/** The server's route (in its --mqtt-config) that stores the agent's records of one stream. */
export function mqttRouteFor(stream: string): { topic: string; stream: string; partitionKey: string; producer: { id: string; sequence: string } } {
  return { topic: `${TOPIC_ROOT}/+/${stream}/+/+/+`, stream, partitionKey: '{4}', producer: { id: '{2}/{5}', sequence: '{6}' } };
}

/** Why `value` cannot be one level of a PUBLISH topic, or undefined when it can. */
export function topicLevelProblem(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (/[/+#\u0000]/u.test(value)) return "must not contain '/', '+', '#' or U+0000 (it is one MQTT topic level)";
  return undefined;
}

/** Drains a buffer into Data Streams over MQTT; start() / stop(). */
export class MqttUploader {
  readonly #options: Required<Omit<MqttUploaderOptions, 'credentials' | 'log' | 'random' | 'clientOptions' | 'onConfigOffer'>> & Pick<MqttUploaderOptions, 'credentials' | 'clientOptions' | 'onConfigOffer'>;
  readonly #log: Logger;
  readonly #producerId: string;
  readonly #loop: DrainLoop;
  readonly #stats = emptyStats();
  #client: MqttClient | undefined;
  /** Why the connection last ended, for the error message. */
  #lastDisconnect: string | undefined;

  constructor(options: MqttUploaderOptions) {
    const settings = drainSettings(options);
    const protocol = new URL(options.url).protocol;
    if (protocol !== 'mqtt:' && protocol !== 'mqtts:') throw new TypeError('url must be an mqtt: or mqtts: URL');
    const deviceProblem = topicLevelProblem(options.deviceId);
    if (deviceProblem) throw new TypeError(`deviceId ${deviceProblem}`);
    this.#options = {
      buffer: options.buffer,
      url: options.url,
      deviceId: options.deviceId,
      credentials: options.credentials,
      clientOptions: options.clientOptions,
      onConfigOffer: options.onConfigOffer,
      ...settings,
    };
    this.#log = settings.log;
    this.#producerId = producerIdOf(options.deviceId, options.buffer);
    this.#loop = new DrainLoop({ ...settings, round: () => this.#round(), onError: (error, attempts) => this.#noteError(error, attempts) });
  }

  /** The producer id the server derives from the topics: deviceId/buffer epoch. */
  get producerId(): string {
    return this.#producerId;
  }

  /** A snapshot of the counters (`requests`: rounds whose every message was acknowledged). */
  get stats(): UploaderStats {
    return { ...this.#stats, consecutiveFailures: this.#loop.failures, failingStreams: [], heldKeys: 0, uploadedBySource: { ...this.#stats.uploadedBySource } };
  }

  /** Starts draining in the background (connecting on the first round). */
  start(): void {
    this.#loop.start();
  }

  /** Tells the uploader that records were appended; it wakes up once a batch is full (or at once without a count). */
  notify(records?: number): void {
    this.#loop.notify(records);
  }

  /** Stops: the round in flight may finish (up to 5 s) so its acknowledged records are removed; then disconnects. */
  async stop(): Promise<void> {
    await this.#loop.stop(() => this.#dropConnection());
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    // A clean DISCONNECT when the connection is alive; a dead one is not waited for.
    const timer = setTimeout(() => client.end(true), STOP_DISCONNECT_MS);
    await client.endAsync().catch(() => client.end(true));
    clearTimeout(timer);
  }

  async #round(): Promise<RoundOutcome> {
    const peeked = await this.#options.buffer.peek(this.#options.batchRecords, this.#options.batchBytes);
    if (peeked.length === 0) return { kind: 'idle' };
    for (const record of peeked) {
      // The agent's config keeps these valid; a record from an older config may still not be.
      const problem = topicLevelProblem(record.stream) ?? topicLevelProblem(record.partitionKey);
      if (problem) throw new Error(`record ${record.sequence} (stream ${JSON.stringify(record.stream)}, partition key ${JSON.stringify(record.partitionKey)}) cannot be sent over MQTT: a stream or partition key ${problem}`);
    }
    const client = await this.#connection();
    const acked = await this.#publish(client, peeked);
    // The broker acknowledges a connection's messages in order, so `acked` is a prefix of `peeked`.
    const acknowledged = peeked.filter((_record, index) => acked[index]);
    await removeAcknowledged(this.#options.buffer, this.#stats, acknowledged);
    if (acknowledged.length < peeked.length) {
      this.#stats.failedRequests++;
      this.#stats.failedEntries += peeked.length - acknowledged.length;
      this.#dropConnection();
      this.#noteError(new Error(`${peeked.length - acknowledged.length} of ${peeked.length} messages not acknowledged: ${this.#lastDisconnect ?? 'no PUBACK in time'}`), this.#loop.failures + 1);
      return { kind: 'failed' };
    }
    this.#stats.requests++;
    return { kind: 'ok', full: peeked.length >= this.#options.batchRecords };
  }

  /** The connected client, connecting first if there is none. */
  async #connection(): Promise<MqttClient> {
    if (this.#client?.connected) return this.#client;
    this.#dropConnection();
    const credentials = this.#options.credentials;
    const client = mqtt.connect(this.#options.url, {
      protocolVersion: 4,
      clientId: `rivulet-agent-${this.#options.deviceId}`,
      clean: true,
      // Reconnecting is the drain loop's job: with backoff, and only when there is something to send.
      reconnectPeriod: 0,
      connectTimeout: this.#options.requestTimeoutMs,
      ...(credentials ? { username: credentials.accessKeyId, password: credentials.secretAccessKey } : {}),
      ...this.#options.clientOptions,
    });
    this.#client = client;
    this.#lastDisconnect = undefined;
    client.on('error', (error) => {
      this.#lastDisconnect = error.message;
    });
    client.on('close', () => {
      this.#lastDisconnect ??= 'connection closed';
      if (this.#client === client) this.#log.info('mqtt connection closed', { url: this.#options.url });
    });
    await new Promise<void>((resolve, reject) => {
      const fail = () => {
        client.off('connect', ok);
        reject(new Error(`cannot connect to ${this.#options.url}: ${this.#lastDisconnect ?? 'connection closed'}`));
      };
      const ok = () => {
        client.off('close', fail);
        resolve();
      };
      client.once('connect', ok);
      client.once('close', fail);
    }).catch((error: unknown) => {
      this.#dropConnection();
      throw error;
    });
    this.#log.info('mqtt connected', { url: this.#options.url });
    if (this.#options.onConfigOffer) this.#subscribeToConfig(client, this.#options.onConfigOffer);
    return client;
  }

  /**
   * Publishes the records in order (QoS 1) and resolves, once every PUBACK came, the connection
   * closed or the time ran out, with which of them were acknowledged.
   */
  #publish(client: MqttClient, records: BufferedRecord[]): Promise<boolean[]> {
    const epoch = this.#options.buffer.producerEpoch;
    const acked = records.map(() => false);
    return new Promise<boolean[]>((resolve) => {
      let pending = records.length;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        client.off('close', finish);
        resolve([...acked]);
      };
      const timer = setTimeout(finish, this.#options.requestTimeoutMs);
      client.on('close', finish);
      records.forEach((record, index) => {
        client.publish(mqttTopicFor(this.#options.deviceId, epoch, record), record.data, { qos: 1 }, (error) => {
          if (finished) return;
          if (error) {
            this.#lastDisconnect = error.message;
            return finish();
          }
          acked[index] = true;
          if (--pending === 0) finish();
        });
      });
    });
  }

  /** Hands on what arrives on the config topic; the retained offer arrives right after the SUBACK. */
  #subscribeToConfig(client: MqttClient, onConfigOffer: (offer: unknown) => void): void {
    const topic = deviceConfigTopic(this.#options.deviceId);
    client.on('message', (received, payload) => {
      if (received !== topic) return;
      try {
        onConfigOffer(JSON.parse(payload.toString('utf8')));
      } catch (error) {
        this.#log.warn('config message ignored: not JSON', { topic, error: (error as Error).message });
      }
    });
    // Not awaited: records need not wait for the SUBACK.
    client.subscribe(topic, { qos: 1 }, (error, granted) => {
      if (error || granted?.some((grant) => grant.qos === 128)) this.#log.warn('config topic subscription refused', { topic, error: error?.message });
    });
  }

  /** Closes the connection at once; messages without a PUBACK stay in the buffer. */
  #dropConnection(): void {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    client.end(true);
  }

  #noteError(error: unknown, attempts: number): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#stats.lastError = { at: Date.now(), message };
    this.#log.warn('upload failed; backing off', { error: message, attempts, transport: 'mqtt' });
  }
}
