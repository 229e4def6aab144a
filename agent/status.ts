// The agent's local status endpoint: GET /status (JSON, what `rivulet agent status` prints) and
// GET /metrics (Prometheus text). Loopback by default: it says what the device does, not who may.
// Rates are computed over the last minute from counter samples taken every few seconds.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReaderCounters } from '../hardware/serial/byte-transport.js';
import type { BufferSourceStats } from './buffer/index.js';
import type { ConfigReport } from './fleet/protocol.js';
import type { HostStats } from './host-stats.js';
import type { UploaderStats } from './uploader.js';
import type { CameraStatus } from './video/cameras.js';

/** One source in the status: its reader's side, and its backlog and counters from the buffer. */
export interface SourceStatus
  extends Pick<BufferSourceStats, 'name' | 'stream' | 'backlogRecords' | 'backlogBytes' | 'oldestAgeMs' | 'accepted' | 'rejected' | 'dropped' | 'expired'> {
  type: string;
  port: string;
  /** The transport's last state: open, closed or error. */
  transport: string;
  /** The port is open (a streaming device that goes silent is closed by the transport's watchdog). */
  healthy: boolean;
  /** Readings delivered by the reader. */
  readings: number;
  /** Readings skipped by sampling.minIntervalMs. */
  sampledOut: number;
  /** Readings the buffer failed to store (disk errors). */
  appendErrors: number;
  lastReadingAt: number | null;
  reader: ReaderCounters & Record<string, unknown>;
  uploaded: number;
  /** Per second over the last minute; filled in by the status server. */
  rates?: { readingsPerS: number; uploadedPerS: number };
}

/** The whole status document. */
export interface AgentStatus {
  deviceId: string;
  /** The package's version. */
  agentVersion: string;
  producerId: string | null;
  server: string;
  /** When the running config was started (a pushed config restarts the agent in-process). */
  startedAt: number;
  /** How long the process has run. */
  uptimeMs: number;
  host: HostStats;
  /** The latest valid fix, when a GPS source has one; `at` in epoch ms. */
  gps: { lat: number; lon: number; fixQuality: number | null; at: number } | null;
  /** Which config runs: the local file (version null) or a pushed version; and the latest refused. */
  config: ConfigReport;
  buffer: { backlogRecords: number; backlogBytes: number; maxBytes: number; fileBytes: number } | null;
  upload: UploaderStats | null;
  sources: SourceStatus[];
  /** Configured cameras: capture, spool backlog and PutMedia uploads. */
  cameras: CameraStatus[];
  /** Per second over the last minute, all sources. */
  rates?: { readingsPerS: number; uploadedPerS: number };
}

/** Options of {@link StatusServer}. */
export interface StatusServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  status: () => Promise<AgentStatus>;
  /** How often counters are sampled for rates; 5000 ms unless given. */
  sampleMs?: number;
}

interface Sample {
  at: number;
  readings: Map<string, number>;
  uploaded: Map<string, number>;
}

const RATE_WINDOW_MS = 60_000;

/** Serves /status and /metrics; start() / stop(). */
export class StatusServer {
  readonly #options: StatusServerOptions;
  readonly #server: http.Server;
  readonly #samples: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #url: string | undefined;

  constructor(options: StatusServerOptions) {
    this.#options = options;
    this.#server = http.createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(`status failed: ${(error as Error).message}\n`);
      });
    });
    this.#server.keepAliveTimeout = 1000;
  }

  /** http://host:port once listening. */
  get url(): string | undefined {
    return this.#url;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: NodeJS.ErrnoException) => {
        // Keep the code (EADDRINUSE, EACCES) for the CLI; say which listener it was.
        const wrapped = new Error(`status endpoint ${this.#options.host}:${this.#options.port}: ${error.message} (set status.port in the config)`) as NodeJS.ErrnoException;
        if (error.code !== undefined) wrapped.code = error.code;
        reject(wrapped);
      };
      this.#server.once('error', fail);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', fail);
        resolve();
      });
    });
    const { port } = this.#server.address() as AddressInfo;
    const host = this.#options.host.includes(':') ? `[${this.#options.host}]` : this.#options.host;
    this.#url = `http://${host}:${port}`;
    this.#timer = setInterval(() => void this.#sample().catch(() => {}), this.#options.sampleMs ?? 5000);
    this.#timer.unref();
    await this.#sample().catch(() => {});
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The status with rates filled in. */
  async snapshot(): Promise<AgentStatus> {
    const status = await this.#options.status();
    const now = Date.now();
    const base = this.#samples.find((sample) => now - sample.at <= RATE_WINDOW_MS) ?? this.#samples[0];
    const seconds = base ? Math.max(0.001, (now - base.at) / 1000) : 0;
    let readings = 0;
    let uploaded = 0;
    for (const source of status.sources) {
      const readingsPerS = base ? (source.readings - (base.readings.get(source.name) ?? 0)) / seconds : 0;
      const uploadedPerS = base ? (source.uploaded - (base.uploaded.get(source.name) ?? 0)) / seconds : 0;
      source.rates = { readingsPerS: round(readingsPerS), uploadedPerS: round(uploadedPerS) };
      readings += readingsPerS;
      uploaded += uploadedPerS;
    }
    status.rates = { readingsPerS: round(readings), uploadedPerS: round(uploaded) };
    return status;
  }

  async #sample(): Promise<void> {
    const status = await this.#options.status();
    const now = Date.now();
    this.#samples.push({
      at: now,
      readings: new Map(status.sources.map((source) => [source.name, source.readings])),
      uploaded: new Map(status.sources.map((source) => [source.name, source.uploaded])),
    });
    // Keep one sample older than the window, so a rate always spans about a minute.
    while (this.#samples.length > 2 && now - this.#samples[1]!.at > RATE_WINDOW_MS) this.#samples.shift();
  }

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    if (path === '/status') {
      const body = JSON.stringify(await this.snapshot(), null, 2) + '\n';
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
    } else if (path === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(prometheus(await this.snapshot()));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('GET /status or /metrics\n');
    }
  }
}

/** The status as Prometheus text exposition. */
export function prometheus(status: AgentStatus): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string>, number | null][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      if (value === null) continue;
      const text = Object.entries(labels)
        .map(([key, label]) => `${key}="${label.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',');
      lines.push(`${name}${text ? `{${text}}` : ''} ${value}`);
    }
  };
  const perSource = (pick: (source: SourceStatus) => number | null) => status.sources.map((source): [Record<string, string>, number | null] => [{ source: source.name, stream: source.stream }, pick(source)]);
  metric('rivulet_agent_readings_total', 'counter', 'Readings delivered by the source reader.', perSource((s) => s.readings));
  metric('rivulet_agent_sampled_out_total', 'counter', 'Readings skipped by sampling.minIntervalMs.', perSource((s) => s.sampledOut));
  metric('rivulet_agent_buffer_accepted_total', 'counter', 'Records admitted into the buffer.', perSource((s) => s.accepted));
  metric('rivulet_agent_buffer_rejected_total', 'counter', 'Records refused by a full buffer (reject-new).', perSource((s) => s.rejected));
  metric('rivulet_agent_buffer_dropped_total', 'counter', 'Records evicted to make room (drop-oldest).', perSource((s) => s.dropped));
  metric('rivulet_agent_buffer_expired_total', 'counter', 'Records dropped for exceeding buffer.maxAgeMs.', perSource((s) => s.expired));
  metric('rivulet_agent_uploaded_records_total', 'counter', 'Records acknowledged by the server.', perSource((s) => s.uploaded));
  metric('rivulet_agent_backlog_records', 'gauge', 'Records waiting in the buffer.', perSource((s) => s.backlogRecords));
  metric('rivulet_agent_backlog_bytes', 'gauge', 'Payload and key bytes waiting in the buffer.', perSource((s) => s.backlogBytes));
  metric('rivulet_agent_backlog_oldest_age_seconds', 'gauge', 'Age of the oldest buffered record.', perSource((s) => (s.oldestAgeMs === null ? 0 : s.oldestAgeMs / 1000)));
  metric('rivulet_agent_port_open', 'gauge', '1 while the source port is open.', perSource((s) => (s.transport === 'open' ? 1 : 0)));
  metric('rivulet_agent_config_version', 'gauge', 'The pushed config version in force; 0 while the local config file is.', [[{}, status.config.version ?? 0]]);
  metric('rivulet_agent_checksum_errors_total', 'counter', 'Frames dropped for a bad checksum.', perSource((s) => s.reader.checksumErrors));
  const perCamera = (pick: (camera: CameraStatus) => number | null) => status.cameras.map((camera): [Record<string, string>, number | null] => [{ camera: camera.name, stream: camera.stream }, pick(camera)]);
  if (status.cameras.length > 0) {
    metric('rivulet_agent_camera_frames_total', 'counter', 'Frames captured.', perCamera((c) => c.frames));
    metric('rivulet_agent_camera_fragments_total', 'counter', 'Fragments captured and spooled.', perCamera((c) => c.fragments));
    metric('rivulet_agent_camera_persisted_fragments_total', 'counter', 'Fragments the server acknowledged PERSISTED.', perCamera((c) => c.persisted));
    metric('rivulet_agent_camera_found_stored_total', 'counter', 'Fragments sent without an ack and then found stored by ListFragments, so not sent again.', perCamera((c) => c.foundStored));
    metric('rivulet_agent_camera_capture_restarts_total', 'counter', 'Capture pipelines rebuilt after an error or end of stream.', perCamera((c) => c.restarts));
    metric('rivulet_agent_camera_spool_fragments', 'gauge', 'Fragments waiting in the spool.', perCamera((c) => c.backlogFragments));
    metric('rivulet_agent_camera_spool_bytes', 'gauge', 'Bytes waiting in the spool.', perCamera((c) => c.backlogBytes));
    metric('rivulet_agent_camera_spool_dropped_total', 'counter', 'Fragments dropped by the spool bounds (drop-oldest, reject-new, age).', perCamera((c) => c.dropped + c.rejected + c.expired));
    metric('rivulet_agent_camera_quarantined_total', 'counter', 'Fragments the server refused for their content.', perCamera((c) => c.quarantined));
    const live = status.cameras.filter((camera) => camera.webrtc !== null);
    if (live.length > 0) {
      const perLive = (pick: (webrtc: NonNullable<CameraStatus['webrtc']>) => number) => live.map((camera): [Record<string, string>, number] => [{ camera: camera.name, channel: camera.webrtc!.channel }, pick(camera.webrtc!)]);
      metric('rivulet_agent_camera_webrtc_viewers', 'gauge', 'WebRTC viewers watching now.', perLive((w) => w.viewers));
      metric('rivulet_agent_camera_webrtc_refused_viewers_total', 'counter', 'WebRTC offers refused because maxViewers were watching.', perLive((w) => w.refusedViewers));
      metric('rivulet_agent_camera_webrtc_signaling_connected', 'gauge', '1 while the signaling channel is connected.', perLive((w) => (w.signaling === 'connected' ? 1 : 0)));
      metric('rivulet_agent_camera_webrtc_degraded', 'gauge', '1 while the live view runs at half rate and size to spare the CPU.', perLive((w) => (w.degraded ? 1 : 0)));
    }
  }
  if (status.buffer) {
    metric('rivulet_agent_buffer_max_bytes', 'gauge', 'The buffer bound.', [[{}, status.buffer.maxBytes]]);
    metric('rivulet_agent_buffer_file_bytes', 'gauge', 'Size of the buffer database and its WAL.', [[{}, status.buffer.fileBytes]]);
  }
  const upload = status.upload;
  if (upload) {
    metric('rivulet_agent_upload_requests_total', 'counter', 'PutRecords calls answered.', [[{}, upload.requests]]);
    metric('rivulet_agent_upload_failed_requests_total', 'counter', 'PutRecords calls that failed as a whole.', [[{}, upload.failedRequests]]);
    metric('rivulet_agent_upload_failed_entries_total', 'counter', 'Entries refused by the server and resent.', [[{}, upload.failedEntries]]);
    metric('rivulet_agent_upload_consecutive_failures', 'gauge', 'Failed rounds in a row.', [[{}, upload.consecutiveFailures]]);
    metric('rivulet_agent_upload_last_success_timestamp_seconds', 'gauge', 'When the server last acknowledged a record.', [[{}, upload.lastSuccessAt === null ? null : upload.lastSuccessAt / 1000]]);
    metric('rivulet_agent_upload_failing_streams', 'gauge', 'Streams whose PutRecords calls fail as a whole.', [[{}, upload.failingStreams.length]]);
    metric('rivulet_agent_upload_held_keys', 'gauge', 'Partition keys held back behind a failed entry.', [[{}, upload.heldKeys]]);
  }
  return lines.join('\n') + '\n';
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
