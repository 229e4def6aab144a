// The uploader: drains the buffer into Data Streams with PutRecords, oldest first, and removes a
// record from the buffer only once the server acknowledged it.
//
// Exactly-once: every request names the producer (`ProducerId` = deviceId/buffer epoch) and every
// entry its buffer sequence (`ProducerSequence`). The server stores a record at most once per
// (stream, ProducerId, ProducerSequence) and answers a repeat with the original SequenceNumber,
// so whatever is resent — after a lost answer, a timeout, a crash between the server's ack and our
// remove() — lands once. The epoch changes when the buffer file is recreated (sequences start
// again at 1), so a new buffer can never collide with an old one's records.
//
// Rounds: peek the oldest records (at most one batch), split them by stream (a PutRecords call
// writes one stream), send the streams' batches concurrently over keep-alive connections, remove
// what was acknowledged, then go again. Failed entries stay in the buffer, so the next peek
// returns them first: only they are resent, never an acknowledged one.
//
// Order per key: after an entry of (stream, partition key) fails, that key is "held": the next
// rounds send only its oldest record (the failed one) until that one is acknowledged, so no later
// record of the key overtakes it. The one case batching cannot exclude is within a single request:
// if the server refuses entry i but accepts a later entry j of the same key. Rivulet's server
// never does (a shard that refuses an entry refuses the rest of the call); AWS documents no
// ordering inside a PutRecords call at all.
//
// Failures back off exponentially with full jitter (a random wait between 0 and
// min(maxBackoffMs, base × 2^attempt)). A call refused as a whole (unreachable server, 5xx,
// auth, a stream that does not exist yet) backs off its stream only: while it waits, peeks look
// further (up to 10,000 records) past its records, so the other streams keep flowing. Entries
// refused one by one (throttling) back off the whole uploader. Success resets the backoff.

import http from 'node:http';
import https from 'node:https';
import { DEFAULT_PEEK_BYTES, DEFAULT_PEEK_RECORDS, type BufferedRecord } from './buffer/index.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { signedPost } from './signed-post.js';

/** What the uploader needs of the buffer (RecordBuffer has it). */
export interface UploadSource {
  readonly producerEpoch: string;
  peek(limit?: number, maxBytes?: number): Promise<BufferedRecord[]>;
  remove(sequences: number[]): Promise<void>;
}

/** What the agent needs of an uploader, over HTTP (Uploader) or MQTT (MqttUploader). */
export interface RecordUploader {
  readonly producerId: string;
  readonly stats: UploaderStats;
  start(): void;
  notify(records?: number): void;
  stop(): Promise<void>;
}

/** Options of {@link Uploader}. */
/** What both uploaders (HTTP here, MQTT in mqtt-uploader.ts) are configured with. */
export interface DrainOptions {
  buffer: UploadSource;
  /** The server's endpoint: http(s):// for PutRecords, mqtt(s):// for the broker. */
  url: string;
  /** Part of the ProducerId; unique per device. */
  deviceId: string;
  /** Signs requests with SigV4 (HTTP) or goes in CONNECT as username and password (MQTT). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Records per round, 1 to 500; 500 unless given. */
  batchRecords?: number;
  /** Payload + key bytes per round, at most 5 MiB (the default). */
  batchBytes?: number;
  /**
   * Linger: after a round that did not fill a batch, the uploader waits this long before the next
   * one, unless notify() reports a full batch waiting; 1000 ms unless given. Batching readings this
   * way costs one request and one buffer commit per interval instead of one per reading.
   */
  intervalMs?: number;
  /** First backoff ceiling; 100 ms unless given. */
  baseBackoffMs?: number;
  /** Largest backoff ceiling; 30 s unless given. */
  maxBackoffMs?: number;
  /** A request (or CONNECT, or a round's PUBACKs) not answered after this long fails; 30 s unless given. */
  requestTimeoutMs?: number;
  log?: Logger;
  /** Uniform in [0, 1), for tests. */
  random?: () => number;
}

/** The pacing and batch settings both uploaders use: DrainOptions with defaults applied and limits checked. */
export interface DrainSettings {
  batchRecords: number;
  batchBytes: number;
  intervalMs: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  requestTimeoutMs: number;
  random: () => number;
  log: Logger;
}

export function drainSettings(options: DrainOptions): DrainSettings {
  const batchRecords = options.batchRecords ?? DEFAULT_PEEK_RECORDS;
  const batchBytes = options.batchBytes ?? DEFAULT_PEEK_BYTES;
  if (!Number.isSafeInteger(batchRecords) || batchRecords < 1 || batchRecords > MAX_BATCH_RECORDS) throw new RangeError(`batchRecords must be an integer from 1 to ${MAX_BATCH_RECORDS}`);
  if (!(batchBytes > 0 && batchBytes <= MAX_BATCH_BYTES)) throw new RangeError(`batchBytes must be a positive number up to ${MAX_BATCH_BYTES}`);
  return {
    batchRecords,
    batchBytes,
    intervalMs: options.intervalMs ?? 1000,
    baseBackoffMs: options.baseBackoffMs ?? 100,
    maxBackoffMs: options.maxBackoffMs ?? 30_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    random: options.random ?? Math.random,
    log: options.log ?? silentLogger,
  };
}

export interface UploaderOptions extends DrainOptions {
  /** The region in the signature's scope; us-east-1 unless given. */
  region?: string;
}

/** What the uploader has done, for the status endpoint. */
export interface UploaderStats {
  /** Records acknowledged by the server since start. */
  uploadedRecords: number;
  uploadedBytes: number;
  /** PutRecords calls answered (whole or partial success). */
  requests: number;
  /** Entries the server refused and that are resent. */
  failedEntries: number;
  /** Calls that failed as a whole (no answer, or an error answer). */
  failedRequests: number;
  /** Failures in a row (of the worst stream); 0 once everything is acknowledged again. */
  consecutiveFailures: number;
  /** Streams whose calls currently fail as a whole (e.g. the stream does not exist yet). */
  failingStreams: string[];
  /** Milliseconds since the epoch of the last acknowledged record; null if none yet. */
  lastSuccessAt: number | null;
  lastError: { at: number; message: string } | null;
  /** Keys held back behind a failed entry. */
  heldKeys: number;
  /** Records acknowledged per source since start. */
  uploadedBySource: Record<string, number>;
}

/** A PutRecords call that failed as a whole. */
export class PutRecordsError extends Error {
  override readonly name = 'PutRecordsError';
  constructor(
    message: string,
    /** The wire error type (`__type`), when the server sent one. */
    readonly errorType?: string,
    readonly statusCode?: number,
    /** The stream the call wrote to. */
    readonly stream = '',
  ) {
    super(message);
  }
}

/** What one drain round did; decides how long the loop waits before the next. */
export type RoundOutcome = { kind: 'idle' | 'failed' } | { kind: 'ok'; full: boolean } | { kind: 'cooling'; waitMs: number };

interface PutRecordsEntryResult {
  SequenceNumber?: string;
  ShardId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 5 * 1024 * 1024;
const TARGET = 'Kinesis_20131202.PutRecords';
// While a stream is refused as a whole, peeks look this far past the oldest records.
const WIDE_PEEK_RECORDS = 10_000;
const WIDE_PEEK_BYTES = 32 * 1024 * 1024;
// How long stop() lets the round in flight finish (so its acks are removed) before cutting it off.
const STOP_GRACE_MS = 5000;

/** Drains a buffer into Data Streams; start() / stop(). */
export class Uploader implements RecordUploader {
  readonly #options: Required<Omit<UploaderOptions, 'credentials' | 'log' | 'random'>> & Pick<UploaderOptions, 'credentials'>;
  readonly #log: Logger;
  readonly #endpoint: URL;
  readonly #agent: http.Agent;
  readonly #producerId: string;
  /** `stream\0partitionKey` of keys whose oldest record failed and was not acknowledged since. */
  readonly #held = new Set<string>();
  readonly #requests = new Set<http.ClientRequest>();
  readonly #stats = emptyStats();
  /** Streams refused as a whole, skipped until `until` (their own backoff). */
  readonly #cooling = new Map<string, { attempts: number; until: number }>();
  readonly #loop: DrainLoop;

  constructor(options: UploaderOptions) {
    const settings = drainSettings(options);
    this.#endpoint = new URL(options.url);
    if (this.#endpoint.protocol !== 'http:' && this.#endpoint.protocol !== 'https:') throw new TypeError('url must be an http: or https: URL');
    this.#options = {
      buffer: options.buffer,
      url: options.url,
      deviceId: options.deviceId,
      credentials: options.credentials,
      region: options.region ?? 'us-east-1',
      ...settings,
    };
    this.#log = settings.log;
    const agentOptions = { keepAlive: true, maxSockets: 8, keepAliveMsecs: 10_000 };
    this.#agent = this.#endpoint.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.#producerId = producerIdOf(options.deviceId, options.buffer);
    this.#loop = new DrainLoop({ ...settings, round: () => this.#round(), onError: (error, attempts) => this.#noteError(error, attempts) });
  }

  /** The ProducerId sent with every request: deviceId/buffer epoch. */
  get producerId(): string {
    return this.#producerId;
  }

  /** A snapshot of the counters. */
  get stats(): UploaderStats {
    let consecutiveFailures = this.#loop.failures;
    for (const cooldown of this.#cooling.values()) consecutiveFailures = Math.max(consecutiveFailures, cooldown.attempts);
    const failingStreams = [...this.#cooling.keys()];
    return { ...this.#stats, consecutiveFailures, failingStreams, heldKeys: this.#held.size, uploadedBySource: { ...this.#stats.uploadedBySource } };
  }

  /** Starts draining in the background. */
  start(): void {
    this.#loop.start();
  }

  /** Tells the uploader that records were appended; it wakes up once a batch is full (or at once without a count). */
  notify(records?: number): void {
    this.#loop.notify(records);
  }

  /**
   * Stops: the round in flight may finish (up to 5 s) so its acknowledged records are removed;
   * everything else stays in the buffer for the next start.
   */
  async stop(): Promise<void> {
    await this.#loop.stop(() => {
      for (const request of this.#requests) request.destroy(new Error('uploader stopping'));
    });
    this.#agent.destroy();
  }

  /** One round: peek, send per stream, remove the acknowledged. */
  async #round(): Promise<RoundOutcome> {
    const now = Date.now();
    // While a stream is refused as a whole (it does not exist yet, its keys are wrong…) its records
    // stay the oldest in the buffer; a wider peek looks past them so the other streams keep flowing.
    let earliestRetry = Infinity;
    for (const cooldown of this.#cooling.values()) earliestRetry = Math.min(earliestRetry, cooldown.until);
    const wide = earliestRetry > now && earliestRetry !== Infinity;
    const peeked = wide
      ? await this.#options.buffer.peek(Math.max(this.#options.batchRecords, WIDE_PEEK_RECORDS), Math.max(this.#options.batchBytes, WIDE_PEEK_BYTES))
      : await this.#options.buffer.peek(this.#options.batchRecords, this.#options.batchBytes);
    if (peeked.length === 0) return { kind: 'idle' };

    // Each stream's batch is a prefix (in buffer order) of its peeked records, so no record is sent
    // without the older ones of its key; a held key sends only its oldest record.
    const byStream = new Map<string, { records: BufferedRecord[]; bytes: number; full: boolean }>();
    const sentHeld = new Set<string>();
    for (const record of peeked) {
      const cooldown = this.#cooling.get(record.stream);
      if (cooldown && cooldown.until > now) continue;
      let batch = byStream.get(record.stream);
      if (!batch) byStream.set(record.stream, (batch = { records: [], bytes: 0, full: false }));
      if (batch.full) continue;
      const size = record.data.length + Buffer.byteLength(record.partitionKey);
      if (batch.records.length >= this.#options.batchRecords || (batch.records.length > 0 && batch.bytes + size > this.#options.batchBytes)) {
        batch.full = true;
        continue;
      }
      const key = keyOf(record);
      if (this.#held.has(key)) {
        if (sentHeld.has(key)) continue;
        sentHeld.add(key);
      }
      batch.records.push(record);
      batch.bytes += size;
    }
    if (byStream.size === 0) return { kind: 'cooling', waitMs: Math.max(0, earliestRetry - now) };

    const results = await Promise.all([...byStream].map(([stream, batch]) => this.#send(stream, batch.records)));
    const acknowledged: BufferedRecord[] = [];
    let failed = false;
    for (const result of results) {
      if (result instanceof PutRecordsError) {
        this.#stats.failedRequests++;
        const attempts = (this.#cooling.get(result.stream)?.attempts ?? 0) + 1;
        this.#cooling.set(result.stream, { attempts, until: Date.now() + this.#loop.backoff(attempts) });
        this.#noteError(result, attempts);
        continue;
      }
      this.#cooling.delete(result.stream);
      this.#stats.requests++;
      const failedKeys = new Set<string>();
      for (let index = 0; index < result.records.length; index++) {
        const record = result.records[index]!;
        const entry = result.entries[index];
        const key = keyOf(record);
        if (entry?.SequenceNumber !== undefined) {
          acknowledged.push(record);
          if (!failedKeys.has(key)) this.#held.delete(key);
        } else {
          failed = true;
          failedKeys.add(key);
          this.#held.add(key);
          this.#stats.failedEntries++;
          this.#stats.lastError = { at: Date.now(), message: `${entry?.ErrorCode ?? 'no result'}: ${entry?.ErrorMessage ?? 'the server returned no result for this entry'}` };
        }
      }
      if (failedKeys.size > 0) {
        this.#log.warn('PutRecords partly failed; resending the failed entries', { stream: result.stream, keys: failedKeys.size, error: this.#stats.lastError?.message });
      }
    }

    await removeAcknowledged(this.#options.buffer, this.#stats, acknowledged);
    return failed ? { kind: 'failed' } : { kind: 'ok', full: peeked.length >= this.#options.batchRecords };
  }

  /** One PutRecords call; resolves with each entry's result or with the error that failed the call. */
  async #send(stream: string, records: BufferedRecord[]): Promise<{ stream: string; records: BufferedRecord[]; entries: PutRecordsEntryResult[] } | PutRecordsError> {
    const body = Buffer.from(
      JSON.stringify({
        StreamName: stream,
        ProducerId: this.#producerId,
        Records: records.map((record) => ({ Data: record.data.toString('base64'), PartitionKey: record.partitionKey, ProducerSequence: String(record.sequence) })),
      }),
    );
    let answer: { status: number; body: string };
    try {
      answer = await this.#post(body);
    } catch (error) {
      return new PutRecordsError(`PutRecords to ${stream} failed: ${(error as Error).message}`, undefined, undefined, stream);
    }
    let parsed: { __type?: string; message?: string; Message?: string; Records?: PutRecordsEntryResult[] };
    try {
      parsed = JSON.parse(answer.body) as typeof parsed;
    } catch {
      return new PutRecordsError(`PutRecords to ${stream}: HTTP ${answer.status} with a body that is not JSON`, undefined, answer.status, stream);
    }
    if (answer.status !== 200 || !Array.isArray(parsed.Records)) {
      const type = parsed.__type?.split('#').pop();
      return new PutRecordsError(`PutRecords to ${stream}: HTTP ${answer.status} ${type ?? ''}: ${parsed.message ?? parsed.Message ?? ''}`.trim(), type, answer.status, stream);
    }
    return { stream, records, entries: parsed.Records };
  }

  #post(body: Buffer): Promise<{ status: number; body: string }> {
    return signedPost({
      url: this.#endpoint,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': TARGET },
      body,
      ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
      region: this.#options.region,
      service: 'kinesis',
      timeoutMs: this.#options.requestTimeoutMs,
      agent: this.#agent,
      onRequest: (request) => {
        this.#requests.add(request);
        request.on('close', () => this.#requests.delete(request));
      },
    });
  }

  #noteError(error: unknown, attempts: number): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#stats.lastError = { at: Date.now(), message };
    this.#log.warn('upload failed; backing off', { error: message, attempts });
  }
}

// ---- shared with the MQTT uploader --------------------------------------------------------------

/** The ProducerId of a buffer's records: deviceId/buffer epoch (the same over HTTP and MQTT). */
export function producerIdOf(deviceId: string, buffer: UploadSource): string {
  return `${deviceId}/${buffer.producerEpoch}`;
}

/** Counters at start. */
export function emptyStats(): UploaderStats {
  return {
    uploadedRecords: 0,
    uploadedBytes: 0,
    requests: 0,
    failedEntries: 0,
    failedRequests: 0,
    consecutiveFailures: 0,
    failingStreams: [],
    lastSuccessAt: null,
    lastError: null,
    heldKeys: 0,
    uploadedBySource: {},
  };
}

/** Removes what the server acknowledged from the buffer, then counts it. */
export async function removeAcknowledged(buffer: UploadSource, stats: UploaderStats, acknowledged: BufferedRecord[]): Promise<void> {
  if (acknowledged.length === 0) return;
  await buffer.remove(acknowledged.map((record) => record.sequence));
  stats.uploadedRecords += acknowledged.length;
  stats.lastSuccessAt = Date.now();
  const bySource = stats.uploadedBySource;
  for (const record of acknowledged) {
    stats.uploadedBytes += record.data.length + Buffer.byteLength(record.partitionKey);
    bySource[record.source] = (bySource[record.source] ?? 0) + 1;
  }
}

/** Options of {@link DrainLoop}. */
export interface DrainLoopOptions extends Pick<DrainSettings, 'batchRecords' | 'intervalMs' | 'baseBackoffMs' | 'maxBackoffMs' | 'random' | 'log'> {
  /** One round of draining; an exception counts as a failed round. */
  round: () => Promise<RoundOutcome>;
  /** A round threw; `attempts` counts failed rounds in a row, this one included. */
  onError: (error: unknown, attempts: number) => void;
}

/**
 * The uploaders' pacing, whatever the transport: runs rounds back to back while they fill a
 * batch, lingers `intervalMs` after one that did not (unless notify() reports a full batch
 * waiting), backs off with full jitter after a failed one, and stops with a grace period.
 */
export class DrainLoop {
  readonly #options: DrainLoopOptions;
  /** Failed rounds in a row (partial failures, buffer errors, lost connections). */
  #failures = 0;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;
  #woken = false;
  /** Records appended since the last round began, as reported by notify(). */
  #appended = 0;

  constructor(options: DrainLoopOptions) {
    this.#options = options;
  }

  /** Failed rounds in a row; 0 after a good one. */
  get failures(): number {
    return this.#failures;
  }

  /** True from stop() until the loop has ended. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** A full-jitter backoff: uniform between 0 and min(max, base × 2^(attempt-1)). */
  backoff(attempt: number): number {
    const ceiling = Math.min(this.#options.maxBackoffMs, this.#options.baseBackoffMs * 2 ** Math.min(attempt - 1, 30));
    return this.#options.random() * ceiling;
  }

  start(): void {
    if (this.#running) return;
    this.#stopping = false;
    this.#running = this.#run().catch((error: unknown) => {
      // The loop catches everything per round; reaching here is a bug, but must not crash the agent.
      this.#options.log.error('uploader stopped unexpectedly', { error });
    });
  }

  notify(records?: number): void {
    this.#appended += records ?? Infinity;
    if (this.#appended < this.#options.batchRecords) return;
    this.#woken = true;
    this.#wake?.();
  }

  /** Ends the loop after the round in flight; calls `cutOff` if that round takes longer than 5 s. */
  async stop(cutOff: () => void): Promise<void> {
    if (!this.#running) return;
    this.#stopping = true;
    this.#wake?.();
    const grace = setTimeout(cutOff, STOP_GRACE_MS);
    try {
      await this.#running;
    } finally {
      clearTimeout(grace);
      this.#running = undefined;
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let outcome: RoundOutcome;
      this.#woken = false;
      this.#appended = 0;
      try {
        outcome = await this.#options.round();
      } catch (error) {
        // The buffer failing (closed, disk error) is not the server's fault but is retried the same way.
        this.#options.onError(error, this.#failures + 1);
        outcome = { kind: 'failed' };
      }
      if (this.#stopping) break;
      if (outcome.kind === 'failed') {
        this.#failures++;
        await this.#sleep(this.backoff(this.#failures), false);
      } else {
        this.#failures = 0;
        if (outcome.kind === 'idle' || (outcome.kind === 'ok' && !outcome.full)) await this.#sleep(this.#options.intervalMs, true);
        else if (outcome.kind === 'cooling') await this.#sleep(outcome.waitMs, false);
      }
    }
  }

  /** Waits `ms`, or less when stopped (or, if `wakeable`, notified). */
  #sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.#woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        if (wakeable || this.#stopping) done();
      };
    }).finally(() => {
      this.#wake = undefined;
    });
  }
}

/** `stream\0partitionKey`: the unit whose order the uploaders keep. */
export function keyOf(record: BufferedRecord): string {
  return `${record.stream}\0${record.partitionKey}`;
}
