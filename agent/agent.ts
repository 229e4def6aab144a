// The agent: one reader per configured source → JSON records → the store-and-forward buffer →
// the uploader → Data Streams, plus the local status endpoint. start() / stop(). Cameras, when
// configured, run beside them (agent/video/: capture → fragment spool → PutMedia → Video Streams).
//
// Readers are supervised by their transports (a lost port is reopened with backoff, forever), so a
// source that is unplugged at start or later simply produces nothing until it is back; the agent
// keeps running and reports it in its status. Readings gather for buffer.commitIntervalMs (default
// 1 s) and are appended in one call: one commit per source per interval, however fast they come.
//
// stop(): readers first (no new readings), then every append in flight is awaited (each resolves
// once durable), the uploader ends its round, the buffer closes (checkpointing its WAL). Nothing
// a reader delivered is lost; what was not yet uploaded stays buffered for the next start.

import { join } from 'node:path';
import { silentLogger, type Logger } from '../lib/log.js';
import { VERSION } from '../lib/version.js';
import { DsmrReader } from '../hardware/dsmr/reader.js';
import { Iec62056Reader } from '../hardware/iec62056/reader.js';
import { LineReader } from '../hardware/line/reader.js';
import { ModbusReader } from '../hardware/modbus/reader.js';
import { NmeaReader } from '../hardware/nmea/reader.js';
import type { ByteTransport, DeviceReading, ReaderCounters, TransportReader } from '../hardware/serial/byte-transport.js';
import { SerialTransport } from '../hardware/serial/transport.js';
import { RecordBuffer, type BufferInput } from './buffer/index.js';
import type { AgentConfig, SourceConfig } from './config.js';
import type { ConfigReport } from './fleet/protocol.js';
import { HeartbeatSender } from './heartbeat.js';
import { hostStats } from './host-stats.js';
import { StatusServer, type AgentStatus, type SourceStatus } from './status.js';
import { Uploader, type RecordUploader } from './uploader.js';
import type { Cameras } from './video/cameras.js';

/** The record the agent stores for each reading (JSON). */
export interface AgentRecord {
  deviceId: string;
  /** The source's name in the config. */
  source: string;
  type: SourceConfig['type'];
  /** When the reading was received, ISO 8601 UTC. */
  timestamp: string;
  /** The device's own clock for this reading, when it has one. */
  deviceTime?: string;
  /** Numbers in the unit named by the field or by `units`. */
  values: DeviceReading['values'];
  units?: Record<string, string>;
  /** The latest valid GPS fix, for sources with attachGps. */
  gps?: GpsFix;
}

/** The part of a GPS reading attached to other records. */
export interface GpsFix {
  lat: number;
  lon: number;
  altitudeM?: number | null;
  speedKmh?: number | null;
  courseDeg?: number | null;
  /** When the fix was received, ISO 8601 UTC. */
  at: string;
}

/** Options of {@link Agent}. */
export interface AgentOptions {
  config: AgentConfig;
  log?: Logger;
  /** Makes a source's byte transport; a SerialTransport on the source's port unless given (tests). */
  transportFor?: (source: SourceConfig, log: Logger) => ByteTransport;
  /** The fleet side (agent/fleet/): what the status says about the config, and where the server's config offers go. */
  fleet?: { report: () => ConfigReport; onOffer: (offer: unknown) => void };
}

/** Whether the agent does its job: every source's port open, the buffer taking readings, the uploader running. */
export interface AgentHealth {
  healthy: boolean;
  /** What is wrong, one line each, e.g. "source dsmr: port /dev/ttyUSB0 not open (cannot resolve …)". */
  problems: string[];
}

interface RunningSource {
  config: SourceConfig;
  reader: TransportReader<ReaderCounters>;
  transport: ByteTransport;
  pending: BufferInput[];
  lastAcceptedAt: number;
  readings: number;
  sampledOut: number;
  appendErrors: number;
  lastReadingAt: number | null;
  transportState: string;
  /** Why the port is not open, from its last state change. */
  transportReason: string | undefined;
}

/** Name of the buffer file inside dataDir. */
export const BUFFER_FILE = 'buffer.db';

/** The edge agent: readers → buffer → uploader, with a status endpoint. */
export class Agent {
  readonly #config: AgentConfig;
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #log: Logger;
  readonly #transportFor: (source: SourceConfig, log: Logger) => ByteTransport;
  readonly #sources: RunningSource[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  #buffer: RecordBuffer | undefined;
  #uploader: RecordUploader | undefined;
  #status: StatusServer | undefined;
  #cameras: Cameras | undefined;
  #heartbeat: HeartbeatSender | undefined;
  #gps: GpsFix | undefined;
  #gpsFixQuality: number | null = null;
  /** The latest failed append's error, cleared by a successful one. */
  #bufferError: string | undefined;
  readonly #fleet: AgentOptions['fleet'];
  #startedAt = 0;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: AgentOptions) {
    this.#config = options.config;
    this.#log = options.log ?? silentLogger;
    this.#fleet = options.fleet;
    this.#transportFor =
      options.transportFor ??
      ((source, log) =>
        new SerialTransport({
          path: source.port,
          ...source.serial,
          // Streaming devices talk at least every few seconds; silence this long means a stuck port.
          noDataTimeoutMs: source.type === 'modbus' || source.type === 'iec62056' ? 0 : 60_000,
          log: log.child({ component: 'serial' }),
        }));
  }

  /** The status endpoint's URL, once started. */
  get statusUrl(): string | undefined {
    return this.#status?.url;
  }

  /** The uploader's ProducerId, once started. */
  get producerId(): string | undefined {
    return this.#uploader?.producerId;
  }

  /** Opens the buffer, starts the uploader, the status endpoint and every reader. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error('an agent starts once');
    this.#state = 'running';
    this.#startedAt = Date.now();
    const config = this.#config;
    // An agent with cameras only has no records to buffer or upload.
    if (config.sources.length > 0) {
      this.#buffer = await RecordBuffer.open({
        path: join(config.dataDir, BUFFER_FILE),
        maxBytes: config.buffer.maxBytes,
        maxAgeMs: config.buffer.maxAgeMs,
        synchronous: config.buffer.synchronous,
        sources: config.sources.map((source) => ({ name: source.name, stream: source.stream, priority: source.priority, onFull: source.onFull })),
      });
    }
    const signing = config.server.accessKeyId && config.server.secretAccessKey ? { credentials: { accessKeyId: config.server.accessKeyId, secretAccessKey: config.server.secretAccessKey } } : {};
    try {
      if (this.#buffer) {
        const common = {
          buffer: this.#buffer,
          deviceId: config.deviceId,
          ...signing,
          batchRecords: config.upload.batchRecords,
          intervalMs: config.upload.intervalMs,
          maxBackoffMs: config.upload.maxBackoffMs,
          log: this.#log.child({ component: 'uploader' }),
        };
        // The MQTT client library is loaded only by agents that use it: it costs ~18 MiB of RSS.
        this.#uploader =
          config.server.transport === 'mqtt'
            ? new (await import('./mqtt-uploader.js')).MqttUploader({ ...common, url: config.server.mqttUrl!, ...(this.#fleet ? { onConfigOffer: this.#fleet.onOffer } : {}) })
            : new Uploader({ ...common, url: config.server.url, region: config.server.region });
      }
      this.#status = new StatusServer({ host: config.status.host, port: config.status.port, status: () => this.status() });
      await this.#status.start();
      this.#uploader?.start();
      for (const source of config.sources) {
        // stop() (a signal during start-up) wins: start no more readers.
        if (this.#state !== 'running') break;
        await this.#startSource(source);
      }
      // The video side (GStreamer, the spool, PutMedia) is loaded only by agents with cameras.
      if (config.cameras.length > 0 && this.#state === 'running') {
        const { Cameras } = await import('./video/cameras.js');
        this.#cameras = await Cameras.start(config, this.#log.child({ component: 'video' }), () => this.#gps);
      }
      // Last, so the first beat already lists every source and camera.
      if (config.heartbeat.intervalMs > 0 && this.#state === 'running') {
        const status = this.#status;
        this.#heartbeat = new HeartbeatSender({
          url: config.server.url,
          intervalMs: config.heartbeat.intervalMs,
          status: () => status.snapshot(),
          ...(this.#fleet ? { onConfigOffer: this.#fleet.onOffer } : {}),
          region: config.server.region,
          ...signing,
          log: this.#log.child({ component: 'heartbeat' }),
        });
        this.#heartbeat.start();
      }
    } catch (error) {
      await this.stop().catch(() => {});
      throw error;
    }
    this.#log.info('agent started', { deviceId: config.deviceId, producerId: this.#uploader?.producerId ?? null, sources: config.sources.map((source) => source.name), cameras: config.cameras.map((camera) => camera.name), status: this.#status.url });
  }

  /** Stops readers, commits every reading they delivered, stops uploading and closes the buffer. */
  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    await Promise.allSettled(this.#sources.map((source) => source.reader.stop()));
    await this.#cameras?.stop();
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    for (const source of this.#sources) this.#flush(source);
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#heartbeat?.stop();
    await this.#uploader?.stop();
    await this.#status?.stop();
    await this.#buffer?.close();
    this.#state = 'stopped';
    this.#log.info('agent stopped');
  }

  /** Sends a heartbeat now (after one in flight), so the server learns of a change without waiting an interval. */
  heartbeatNow(): void {
    this.#heartbeat?.beatNow();
  }

  /** The agent's own view of whether it works (what a pushed config must reach before it is kept). */
  health(): AgentHealth {
    const problems: string[] = [];
    if (this.#state !== 'running') problems.push(`agent ${this.#state}`);
    for (const source of this.#sources) {
      if (source.transportState !== 'open') problems.push(`source ${source.config.name}: port ${source.config.port} not open${source.transportReason ? ` (${source.transportReason})` : ''}`);
    }
    const started = this.#sources.length;
    if (this.#state === 'running' && started < this.#config.sources.length) problems.push(`${this.#config.sources.length - started} source(s) not started yet`);
    if (this.#bufferError !== undefined) problems.push(`buffer: ${this.#bufferError}`);
    if (this.#config.sources.length > 0 && !this.#uploader) problems.push('uploader not started');
    return { healthy: problems.length === 0, problems };
  }

  /** Everything the status endpoint shows. */
  async status(): Promise<AgentStatus> {
    const buffer = this.#buffer;
    const stats = buffer ? await buffer.stats() : undefined;
    const upload = this.#uploader?.stats;
    const sources: SourceStatus[] = this.#sources.map((source) => {
      const stored = stats?.sources.find((entry) => entry.name === source.config.name);
      return {
        name: source.config.name,
        type: source.config.type,
        port: source.config.port,
        stream: source.config.stream,
        transport: source.transportState,
        healthy: source.transportState === 'open',
        readings: source.readings,
        sampledOut: source.sampledOut,
        appendErrors: source.appendErrors,
        lastReadingAt: source.lastReadingAt,
        reader: { ...source.reader.counters },
        backlogRecords: stored?.backlogRecords ?? 0,
        backlogBytes: stored?.backlogBytes ?? 0,
        oldestAgeMs: stored?.oldestAgeMs ?? null,
        accepted: stored?.accepted ?? 0,
        rejected: stored?.rejected ?? 0,
        dropped: stored?.dropped ?? 0,
        expired: stored?.expired ?? 0,
        uploaded: upload?.uploadedBySource[source.config.name] ?? 0,
      };
    });
    const gps = this.#gps;
    return {
      deviceId: this.#config.deviceId,
      agentVersion: VERSION,
      producerId: this.#uploader?.producerId ?? null,
      server: this.#config.server.transport === 'mqtt' ? this.#config.server.mqttUrl! : this.#config.server.url,
      startedAt: this.#startedAt,
      // The process's, not this Agent's: a pushed config restarts the Agent, not the process.
      uptimeMs: Math.round(process.uptime() * 1000),
      host: await hostStats(this.#config.dataDir),
      gps: gps ? { lat: gps.lat, lon: gps.lon, fixQuality: this.#gpsFixQuality, at: Date.parse(gps.at) } : null,
      config: this.#fleet?.report() ?? { version: null, appliedAt: null },
      buffer: stats ? { backlogRecords: stats.backlogRecords, backlogBytes: stats.backlogBytes, maxBytes: stats.maxBytes, fileBytes: stats.fileBytes } : null,
      upload: upload ?? null,
      sources,
      cameras: this.#cameras?.status() ?? [],
    };
  }

  async #startSource(config: SourceConfig): Promise<void> {
    const log = this.#log.child({ source: config.name });
    const transport = this.#transportFor(config, log);
    const reader = readerFor(config, transport);
    const source: RunningSource = {
      config,
      reader,
      transport,
      pending: [],
      lastAcceptedAt: -Infinity,
      readings: 0,
      sampledOut: 0,
      appendErrors: 0,
      lastReadingAt: null,
      transportState: 'closed',
      transportReason: undefined,
    };
    this.#sources.push(source);
    transport.onState((event) => {
      source.transportState = event.state;
      source.transportReason = event.reason;
      if (event.state === 'open') log.info('port open', { port: config.port });
      else if (this.#state === 'running') log.warn('port not open', { port: config.port, state: event.state, reason: (event as { reason?: string }).reason });
    });
    reader.onReading((reading) => this.#onReading(source, reading));
    await reader.start();
  }

  #onReading(source: RunningSource, reading: DeviceReading): void {
    if (this.#state !== 'running' && this.#state !== 'stopping') return;
    const config = source.config;
    const received = Date.parse(reading.timestamp);
    const at = Number.isFinite(received) ? received : Date.now();
    if (config.type === 'gps') this.#noteFix(reading, at);
    source.readings++;
    source.lastReadingAt = at;
    if (config.sampling.minIntervalMs > 0 && at - source.lastAcceptedAt < config.sampling.minIntervalMs) {
      source.sampledOut++;
      return;
    }
    source.lastAcceptedAt = at;
    const record: AgentRecord = { deviceId: this.#config.deviceId, source: config.name, type: config.type, timestamp: new Date(at).toISOString(), values: reading.values };
    if (reading.deviceTime !== undefined) record.deviceTime = reading.deviceTime;
    if (reading.units !== undefined) record.units = reading.units;
    if (config.attachGps && this.#gps) record.gps = this.#gps;
    source.pending.push({ partitionKey: config.partitionKey, data: Buffer.from(JSON.stringify(record)), timestamp: at });
    // One timer for all sources: their appends start in the same turn and the buffer commits
    // them together, so the card sees one commit per interval, not one per source.
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      for (const each of this.#sources) this.#flush(each);
    }, this.#config.buffer.commitIntervalMs);
  }

  #noteFix(reading: DeviceReading, at: number): void {
    const { valid, lat, lon, altitudeM, speedKmh, courseDeg, fixQuality } = reading.values;
    if (valid !== true || typeof lat !== 'number' || typeof lon !== 'number') return;
    this.#gpsFixQuality = numberOrNull(fixQuality);
    this.#gps = { lat, lon, altitudeM: numberOrNull(altitudeM), speedKmh: numberOrNull(speedKmh), courseDeg: numberOrNull(courseDeg), at: new Date(at).toISOString() };
  }

  /** Appends the source's pending readings in one call. */
  #flush(source: RunningSource): void {
    if (source.pending.length === 0 || !this.#buffer) return;
    const records = source.pending;
    source.pending = [];
    const append = this.#buffer.append(source.config.name, records).then(
      (result) => {
        this.#bufferError = undefined;
        if (result.accepted > 0) this.#uploader?.notify(result.accepted);
        if (result.rejected > 0 || result.dropped > 0) this.#log.warn('buffer full', { source: source.config.name, rejected: result.rejected, dropped: result.dropped });
      },
      (error: unknown) => {
        source.appendErrors += records.length;
        this.#bufferError = (error as Error).message;
        this.#log.error('readings could not be buffered', { source: source.config.name, records: records.length, error });
      },
    );
    this.#inFlight.add(append);
    void append.finally(() => this.#inFlight.delete(append));
  }
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

/** The reader for a source's type, over its transport. */
function readerFor(config: SourceConfig, transport: ByteTransport): TransportReader<ReaderCounters> {
  switch (config.type) {
    case 'gps':
      return new NmeaReader({ transport });
    case 'dsmr':
      // A DSMR 2.2/3 meter read with 8 data bits has parity in bit 7.
      return new DsmrReader({ transport, sevenBit: (config.dsmr!.version === '2.2' || config.dsmr!.version === '3') && config.serial.dataBits === 8 });
    case 'line':
      return new LineReader({ transport, format: config.line!.format });
    case 'modbus': {
      const { meter, registers, address, intervalMs } = config.modbus!;
      return new ModbusReader({ transport, address, intervalMs, baudRate: config.serial.baudRate, ...(meter ? { meter } : {}), ...(registers ? { map: registers } : {}) });
    }
    case 'iec62056': {
      const { address, intervalMs } = config.iec62056!;
      return new Iec62056Reader({ transport, address, intervalMs });
    }
  }
}
