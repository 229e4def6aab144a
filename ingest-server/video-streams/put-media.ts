// PutMedia: one long-lived POST whose body is a Matroska stream, one Cluster per fragment. The
// answer (HTTP 200) goes out at once and then carries newline-separated acknowledgements while
// the body is still arriving. Every ack of a session goes through one queue, so a producer sees
// BUFFERING, RECEIVED and PERSISTED (or ERROR) for fragment N before anything about N+1, and
// PERSISTED only once the store has made the fragment durable: the producer then drops its copy.

import type http from 'node:http';
import type http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { header as headerValue } from '../../lib/sigv4.js';
import type { Logger } from '../../lib/log.js';
import type { MkvCluster, MkvEvent, MkvHeader } from '../../video/mkv/model.js';
import { MkvStreamReader } from '../../video/mkv/stream-reader.js';
import { InvalidArgumentException } from '../protocol/errors.js';
import type { VideoStreamState } from '../storage/video-store.js';
import { FragmentRejectedError, encodeAck, type Ack, type AckErrorName } from './acks.js';
import type { VideoStreamsContext } from './context.js';
import { streamFor } from './streams.js';

/** What PutMedia accepts and how long it waits; AWS's documented figures by default. */
export interface PutMediaLimits {
  /** Size of one Cluster (error 4001). */
  maxFragmentBytes: number;
  /** Span of one Cluster's frames (error 4002). */
  maxFragmentMs: number;
  /** Tracks in the stream header (error 4012). */
  maxTracks: number;
  /** SimpleTags a producer may attach to one fragment (error 4009). */
  maxTagsPerFragment: number;
  /** An IDLE ack goes out after this long without data. */
  idleAckIntervalMs: number;
  /** The server ends the call after this long without data. */
  idleTimeoutMs: number;
}

/** AWS's PutMedia limits. */
export const DEFAULT_PUT_MEDIA_LIMITS: PutMediaLimits = {
  maxFragmentBytes: 50 * 1024 * 1024,
  maxFragmentMs: 10_000,
  maxTracks: 3,
  maxTagsPerFragment: 10,
  idleAckIntervalMs: 3_000,
  idleTimeoutMs: 30_000,
};

// Complete fragments waiting for the store before the request is paused: enough to keep the
// store's group commit busy, few enough that a slow disk pushes back on the producer.
const MAX_QUEUED_FRAGMENTS = 3;
const NO_BYTES = new Uint8Array(0);
// How long a complete Cluster waits for producer tags behind it. Producers write a fragment's
// tags right after its Cluster, in the same write, so they arrive within milliseconds even when
// split across chunks; waiting for the next Cluster instead would delay PERSISTED by a GOP.
// Tags that have arrived complete with nothing after them end the wait at once (the agent always
// sends some), so only a fragment sent without tags pays it.
const TAGS_GRACE_MS = 50;

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** How a session turns Cluster timecodes into producer timestamps (x-amzn-fragment-timecode-type). */
interface Timing {
  type: 'ABSOLUTE' | 'RELATIVE';
  /** x-amzn-producer-start-timestamp, epoch ms; what RELATIVE timecodes count from. */
  producerStartMs: number;
}

/** Serves POST /putMedia: validates the headers (errors before the 200 are normal JSON errors), then runs the session until the body ends. */
export async function putMedia(ctx: VideoStreamsContext, request: Request, response: Response): Promise<void> {
  const stream = await streamFor(ctx, {
    StreamName: headerValue(request.headers, 'x-amzn-stream-name'),
    StreamARN: headerValue(request.headers, 'x-amzn-stream-arn'),
  });
  const timing = readTiming(request);
  ctx.throughput?.admitPutMedia(stream.uid, stream.name);
  const limits = { ...DEFAULT_PUT_MEDIA_LIMITS, ...ctx.settings.putMediaLimits };
  response.writeHead(200, { 'content-type': 'application/json' });
  // Producers wait for the status line before streaming (kvssink after its 100-continue).
  if ('flushHeaders' in response) response.flushHeaders();
  await new MediaSession(ctx, stream, timing, limits, request, response).run();
}

function readTiming(request: Request): Timing {
  const type = headerValue(request.headers, 'x-amzn-fragment-timecode-type');
  if (type !== 'ABSOLUTE' && type !== 'RELATIVE') {
    throw new InvalidArgumentException('x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE.');
  }
  const start = headerValue(request.headers, 'x-amzn-producer-start-timestamp');
  const startSeconds = start === undefined || start.trim() === '' ? undefined : Number(start);
  if (startSeconds !== undefined && !(Number.isFinite(startSeconds) && startSeconds >= 0)) {
    throw new InvalidArgumentException('x-amzn-producer-start-timestamp must be epoch seconds, e.g. 1795347940.485.');
  }
  if (type === 'RELATIVE' && startSeconds === undefined) {
    throw new InvalidArgumentException('x-amzn-producer-start-timestamp is required with RELATIVE fragment timecodes.');
  }
  return { type, producerStartMs: Math.round((startSeconds ?? 0) * 1000) };
}

/** A complete Cluster waiting for the producer tags that may follow it. */
interface HeldFragment {
  header: MkvHeader;
  cluster: MkvCluster;
  producerTimestampMs: number;
  durationMs: number;
  tags: Uint8Array[];
  tagCount: number;
}

/** One PutMedia call from the 200 to the end of the acks. */
class MediaSession {
  private readonly reader = new MkvStreamReader();
  private readonly log: Logger;
  private header: MkvHeader | undefined;
  private lastTimecode: number | undefined;
  /** The newest complete Cluster, waiting up to TAGS_GRACE_MS (or the next element) for its tags. */
  private held: HeldFragment | undefined;
  private heldTimer: NodeJS.Timeout | undefined;
  /** Acks and appends, one after another. */
  private queue: Promise<void> = Promise.resolve();
  private queuedFragments = 0;
  private lastDataAt = performance.now();
  private lastIdleAckAt = performance.now();
  private finished = false;
  private done!: () => void;

  constructor(
    private readonly ctx: VideoStreamsContext,
    private readonly stream: VideoStreamState,
    private readonly timing: Timing,
    private readonly limits: PutMediaLimits,
    private readonly request: Request,
    private readonly response: Response,
  ) {
    this.log = ctx.log.child({ operation: 'PutMedia', stream: stream.name });
  }

  run(): Promise<void> {
    const ended = new Promise<void>((resolve) => (this.done = resolve));
    const tick = setInterval(() => this.onTick(), Math.min(this.limits.idleAckIntervalMs, 1_000));
    const onClosing = () => this.finish('server closing', false);
    this.ctx.closing.signal.addEventListener('abort', onClosing);
    this.request.on('data', (chunk: Buffer) => this.onData(chunk));
    this.request.on('end', () => this.finish('end of body', true));
    this.request.on('error', () => this.fail('STREAM_READ_ERROR', 'request body failed'));
    // A producer that disconnects mid-stream: keep what it sent in full, drop the partial Cluster.
    this.request.on('close', () => this.finish('producer disconnected', false));
    this.response.on('close', () => this.finish('response closed', false));
    if (this.ctx.closing.signal.aborted) onClosing();
    return ended.finally(() => {
      clearInterval(tick);
      this.ctx.closing.signal.removeEventListener('abort', onClosing);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.lastDataAt = performance.now();
    let events: MkvEvent[] = [];
    let parseError: unknown;
    try {
      events = this.reader.push(chunk);
      // The reader returns what came before damage and throws on its next call: make that now,
      // so the producer hears INVALID_MKV_DATA without sending more.
      if (events.length > 0) this.reader.push(NO_BYTES);
    } catch (error) {
      parseError = error;
    }
    this.handle(events, parseError);
  }

  /** Applies parsed events, then the parse error that stopped the reader, if any. */
  private handle(events: MkvEvent[], parseError: unknown): void {
    for (const event of events) {
      if (event.type === 'header') {
        this.storeHeld();
        this.header = event.header;
      } else if (event.type === 'cluster') {
        this.storeHeld();
        this.onCluster(event.cluster);
      } else if (this.held) {
        this.held.tags.push(event.bytes);
        this.held.tagCount += event.tags.length;
      } else {
        // Tags before any Cluster, or after one that was refused, have no fragment to go with.
        this.log.debug('producer tags without a fragment dropped', { tags: event.tags.length });
      }
    }
    if (this.held && this.held.tags.length > 0 && this.reader.atElementBoundary) this.storeHeld();
    if (parseError !== undefined) {
      this.storeHeld();
      this.fail('INVALID_MKV_DATA', parseError instanceof Error ? parseError.message : String(parseError));
    }
  }

  private onCluster(cluster: MkvCluster): void {
    const timecode = cluster.timecode;
    this.enqueue(() => this.ack({ EventType: 'BUFFERING', FragmentTimecode: timecode }));
    try {
      const fragment = this.accept(cluster);
      this.lastTimecode = timecode;
      this.enqueue(() => this.ack({ EventType: 'RECEIVED', FragmentTimecode: timecode }));
      this.held = fragment;
      this.heldTimer = setTimeout(() => this.storeHeld(), TAGS_GRACE_MS);
    } catch (error) {
      this.reject(timecode, error instanceof FragmentRejectedError ? error : new FragmentRejectedError('INTERNAL_ERROR', String(error)));
    }
  }

  /** Checks a Cluster against the limits, in the order AWS documents its error ids. */
  private accept(cluster: MkvCluster): HeldFragment {
    const header = this.header;
    if (!header) throw new FragmentRejectedError('INVALID_MKV_DATA', 'Cluster before the stream header');
    if (header.tracks.length > this.limits.maxTracks) {
      throw new FragmentRejectedError('MORE_THAN_ALLOWED_TRACKS_FOUND', `${header.tracks.length} tracks; at most ${this.limits.maxTracks} are allowed`);
    }
    const tracks = new Set(header.tracks.map((track) => track.number));
    const stray = cluster.blocks.find((block) => !tracks.has(block.track));
    if (stray) throw new FragmentRejectedError('TRACK_NUMBER_MISMATCH', `a frame of track ${stray.track}, which the header does not declare`);
    const framed = new Set(cluster.blocks.map((block) => block.track));
    const silent = header.tracks.find((track) => !framed.has(track.number));
    if (silent) throw new FragmentRejectedError('FRAMES_MISSING_FOR_TRACK', `no frame of track ${silent.number} in the fragment`);
    if (cluster.bytes.length > this.limits.maxFragmentBytes) {
      throw new FragmentRejectedError('MAX_FRAGMENT_SIZE_REACHED', `fragment of ${cluster.bytes.length} bytes; the limit is ${this.limits.maxFragmentBytes}`);
    }
    const unitMs = header.timecodeScaleNs / 1e6;
    const durationMs = Math.round(cluster.durationUnits * unitMs);
    if (durationMs > this.limits.maxFragmentMs) {
      throw new FragmentRejectedError('MAX_FRAGMENT_DURATION_REACHED', `fragment of ${durationMs} ms; the limit is ${this.limits.maxFragmentMs}`);
    }
    if (this.lastTimecode !== undefined && cluster.timecode <= this.lastTimecode) {
      throw new FragmentRejectedError('FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS', `timecode ${cluster.timecode} after ${this.lastTimecode}`);
    }
    const offsetMs = Math.round(cluster.timecode * unitMs);
    const producerTimestampMs = this.timing.type === 'ABSOLUTE' ? offsetMs : this.timing.producerStartMs + offsetMs;
    if (!Number.isSafeInteger(producerTimestampMs) || producerTimestampMs < 0) {
      throw new FragmentRejectedError('INVALID_PRODUCER_TIMESTAMP', `producer timestamp ${producerTimestampMs} ms`);
    }
    return { header, cluster, producerTimestampMs, durationMs, tags: [], tagCount: 0 };
  }

  /** Queues the held fragment's append; PERSISTED follows once it is durable. */
  private storeHeld(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    clearTimeout(this.heldTimer);
    const timecode = held.cluster.timecode;
    if (held.tagCount > this.limits.maxTagsPerFragment) {
      this.reject(timecode, new FragmentRejectedError('FRAGMENT_METADATA_LIMIT_REACHED', `${held.tagCount} tags; at most ${this.limits.maxTagsPerFragment} per fragment`));
      return;
    }
    this.queuedFragments++;
    if (this.queuedFragments > MAX_QUEUED_FRAGMENTS) this.request.pause();
    this.enqueue(async () => {
      try {
        // Over the stream's quota the fragment waits, and the request is read no faster.
        const wait = this.ctx.throughput?.fragmentDelayMs(this.stream.uid, held.cluster.bytes.length) ?? 0;
        if (wait > 0) await sleep(wait);
        const stored = await this.ctx.store.appendFragment(this.stream.uid, {
          header: held.header.bytes,
          cluster: held.cluster.bytes,
          producerTags: concat(held.tags),
          producerTimestampMs: held.producerTimestampMs,
          serverTimestampMs: this.ctx.now(),
          durationMs: held.durationMs,
        });
        this.ack({ EventType: 'PERSISTED', FragmentTimecode: timecode, FragmentNumber: stored.number });
      } catch (error) {
        await this.storeFailed(timecode, error);
      } finally {
        this.queuedFragments--;
        if (this.queuedFragments <= MAX_QUEUED_FRAGMENTS && !this.finished) this.request.resume();
      }
    });
  }

  /** An append failed: the stream was deleted under the session, or the store broke; either ends the call. */
  private async storeFailed(timecode: number, error: unknown): Promise<void> {
    const current = await this.ctx.store.getStream(this.stream.name).catch(() => undefined);
    const gone = current?.uid !== this.stream.uid;
    const name: AckErrorName = gone ? 'STREAM_NOT_ACTIVE' : 'ARCHIVAL_ERROR';
    if (!gone) this.log.error('fragment not stored', { error });
    this.ack({ EventType: 'ERROR', FragmentTimecode: timecode, ErrorId: new FragmentRejectedError(name, '').errorId });
    this.finish(name, false);
  }

  private reject(timecode: number, error: FragmentRejectedError): void {
    this.log.info('fragment refused', { timecode, error: error.errorName, reason: error.message });
    this.enqueue(() => this.ack({ EventType: 'ERROR', FragmentTimecode: timecode, ErrorId: error.errorId }));
  }

  /** Sends ERROR for a problem with the stream itself (not one fragment) and ends the call. */
  private fail(name: AckErrorName, reason: string): void {
    if (this.finished) return;
    this.log.info('session failed', { error: name, reason });
    const timecode = this.lastTimecode ?? 0;
    const errorId = new FragmentRejectedError(name, reason).errorId;
    this.enqueue(() => this.ack({ EventType: 'ERROR', FragmentTimecode: timecode, ErrorId: errorId }));
    this.finish(name, false);
  }

  private onTick(): void {
    if (this.finished) return;
    const now = performance.now();
    if (now - this.lastDataAt >= this.limits.idleTimeoutMs) {
      this.finish('idle timeout', false);
      return;
    }
    if (now - this.lastDataAt < this.limits.idleAckIntervalMs) return;
    if (now - this.lastIdleAckAt >= this.limits.idleAckIntervalMs) {
      this.lastIdleAckAt = now;
      const timecode = this.lastTimecode ?? 0;
      this.enqueue(() => this.ack({ EventType: 'IDLE', FragmentTimecode: timecode }));
    }
  }

  /**
   * Ends the session once the queued acks are out. With `complete`, the body ended normally: the
   * reader's last Cluster (of unknown size) is complete and is stored too.
   */
  private finish(reason: string, complete: boolean): void {
    if (this.finished) return;
    if (complete) {
      let events: MkvEvent[] = [];
      let parseError: unknown;
      try {
        events = this.reader.end();
      } catch (error) {
        parseError = error;
      }
      this.handle(events, parseError);
      if (this.finished) return;
    }
    // Whatever Cluster is held arrived whole, so it is kept even when the producer went away.
    this.storeHeld();
    this.finished = true;
    this.log.debug('session ends', { reason });
    void this.queue.then(() => {
      if (!this.response.writableEnded && !this.response.destroyed) this.response.end();
      // The producer may still be sending (idle timeout, INVALID_MKV_DATA): it learns from the
      // end of the response; node discards the rest of its body.
      this.request.resume();
      this.done();
    });
  }

  private enqueue(step: () => void | Promise<void>): void {
    this.queue = this.queue.then(step).catch((error: unknown) => this.log.error('PutMedia step failed', { error }));
  }

  private ack(ack: Ack): void {
    if (this.response.writableEnded || this.response.destroyed) return;
    // The two response classes declare write() with overloads TypeScript cannot unite.
    (this.response.write as (chunk: string) => boolean)(encodeAck(ack));
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
