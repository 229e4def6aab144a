// Runs a capture pipeline through gstreamer-superficial and turns its Matroska output back into
// frames with wall-clock timestamps and keyframe flags (the appsink's buffers carry neither).
//
// Supervised: end of stream, a malformed stream, or no output for noDataTimeoutMs tears the
// pipeline down and builds it again after a backoff that doubles up to maxBackoffMs and resets
// once frames flow. rtspsrc does not reconnect by itself; this is what makes a camera that
// reboots come back.
//
// The binding runs each pull and each bus poll as a libuv pool job that blocks until something
// arrives: a pull is always pending while a pipeline runs, and a bus poll would hold a second pool
// thread for good (the pool has 4 unless UV_THREADPOOL_SIZE says otherwise, and SQLite and file
// I/O need it too). So the bus is not watched: an ERROR stops the flow of buffers, the no-data
// watchdog notices, and only then the bus is read for the error's text.
//
// Each run's Matroska timecodes start near 0 at PLAYING; a frame's timestamp is the wall clock
// at play() plus its timecode.
//
// A pipeline with a raw branch (pipeline.ts `raw`, the WebRTC live view) has a second appsink,
// pulled alongside (one more pool thread); its I420 frames are stamped with the wall clock when
// they arrive, and its end is left to the main sink, which drives restarts.

import { createRequire } from 'node:module';
import { silentLogger, type Logger } from '../../lib/log.js';
import { MkvStreamReader } from '../mkv/stream-reader.js';
import type { MkvEvent, MkvHeader } from '../mkv/model.js';

/** One frame out of the pipeline. */
export interface CapturedFrame {
  /** Epoch milliseconds. */
  timestampMs: number;
  keyframe: boolean;
  track: number;
  data: Uint8Array;
}

/** One uncompressed I420 frame from the raw branch (a pipeline built with `raw`). */
export interface RawFrame {
  /** Epoch milliseconds when it left the pipeline. */
  timestampMs: number;
  width: number;
  height: number;
  /** Y plane, then U, then V (each chroma plane a quarter of Y). */
  data: Uint8Array;
}

/** Options of {@link GstCapture}. */
export interface GstCaptureOptions {
  /** Called for each (re)build, so a restart can pick up a changed device. */
  description: () => string;
  /** The raw branch's appsink (pipeline.ts `raw.sinkName`), when the pipeline has one. */
  rawSinkName?: string;
  /** Build again after ERROR/EOS (true), or end for good (false: tests with num-buffers). */
  restart?: boolean;
  /** No output this long means a stalled source; 10 s unless given, 0 turns it off. */
  noDataTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: Logger;
  now?: () => number;
}

/** What {@link GstCapture} counts. */
export interface CaptureCounters {
  frames: number;
  bytes: number;
  restarts: number;
  lastError: string | null;
}

export type CaptureState = 'starting' | 'running' | 'waiting' | 'ended' | 'stopped';

interface GstPipeline {
  play(): void;
  stop(): void;
  findChild(name: string): { pull(callback: (buffer: Buffer | null, caps: { width?: number; height?: number } | undefined) => void): void };
  pollBus(callback: (message: { type: string; message?: string; _src_element_name?: string }) => void): void;
}

type GstModule = { Pipeline: new (description: string) => GstPipeline };
let gst: GstModule | undefined;

/** Loads the native binding on first use: an agent without cameras never pays its memory. */
function gstreamer(): GstModule {
  gst ??= createRequire(import.meta.url)('gstreamer-superficial') as GstModule;
  return gst;
}

/** A supervised GStreamer capture yielding timestamped frames. start() / stop(). */
export class GstCapture {
  readonly counters: CaptureCounters = { frames: 0, bytes: 0, restarts: 0, lastError: null };
  readonly #options: GstCaptureOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #headerListeners: ((header: MkvHeader) => void)[] = [];
  readonly #frameListeners: ((frame: CapturedFrame) => void)[] = [];
  readonly #rawListeners: ((frame: RawFrame) => void)[] = [];
  readonly #stateListeners: ((state: CaptureState, reason?: string) => void)[] = [];
  #state: CaptureState = 'stopped';
  #pipeline: GstPipeline | undefined;
  /** Increases with every run, so callbacks of a torn-down pipeline are ignored. */
  #run = 0;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #lastOutputAt = 0;
  #ended: (() => void) | undefined;

  constructor(options: GstCaptureOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#backoffMs = options.minBackoffMs ?? 500;
  }

  get state(): CaptureState {
    return this.#state;
  }

  /** The stream header of each run (tracks, codec private data). */
  onHeader(listener: (header: MkvHeader) => void): void {
    this.#headerListeners.push(listener);
  }

  onFrame(listener: (frame: CapturedFrame) => void): void {
    this.#frameListeners.push(listener);
  }

  /** Raw frames of the raw branch (only with `rawSinkName`). */
  onRawFrame(listener: (frame: RawFrame) => void): void {
    this.#rawListeners.push(listener);
  }

  onState(listener: (state: CaptureState, reason?: string) => void): void {
    this.#stateListeners.push(listener);
  }

  /** Builds and plays the pipeline; a description GStreamer refuses is retried like any failure. */
  start(): void {
    if (this.#state !== 'stopped') throw new Error('a capture starts once');
    const noData = this.#options.noDataTimeoutMs ?? 10_000;
    if (noData > 0) {
      this.#watchdog = setInterval(() => {
        if (this.#state === 'running' && this.#now() - this.#lastOutputAt > noData) this.#failWithBusError(this.#run, `no output for ${noData} ms`);
      }, Math.min(1000, noData));
      this.#watchdog.unref();
    }
    this.#launch();
  }

  /** Resolves when the pipeline ended by itself without restart (EOS with restart: false). */
  ended(): Promise<void> {
    if (this.#state === 'ended') return Promise.resolve();
    return new Promise((resolve) => (this.#ended = resolve));
  }

  /** Stops the pipeline; no more frames are delivered. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    clearInterval(this.#watchdog);
    this.#teardown();
    this.#setState('stopped');
  }

  #launch(): void {
    const run = ++this.#run;
    this.#setState('starting');
    let pipeline: GstPipeline;
    const description = this.#options.description();
    try {
      pipeline = new (gstreamer().Pipeline)(description);
    } catch (error) {
      this.#fail(run, `pipeline refused: ${(error as Error).message}`);
      return;
    }
    this.#pipeline = pipeline;
    const reader = new MkvStreamReader();
    let header: MkvHeader | undefined;
    let startWallMs = 0;
    const deliver = (events: MkvEvent[]) => {
      for (const event of events) {
        if (event.type === 'header') {
          header = event.header;
          for (const listener of this.#headerListeners) listener(event.header);
        } else if (event.type === 'cluster' && header) {
          const msPerUnit = header.timecodeScaleNs / 1_000_000;
          for (const block of event.cluster.blocks) {
            this.counters.frames++;
            const frame: CapturedFrame = { timestampMs: Math.round(startWallMs + (event.cluster.timecode + block.timecode) * msPerUnit), keyframe: block.keyframe, track: block.track, data: block.data };
            for (const listener of this.#frameListeners) listener(frame);
          }
          // The first frames prove the source works: the next failure starts the backoff afresh.
          this.#backoffMs = this.#options.minBackoffMs ?? 500;
        }
      }
    };
    const sink = pipeline.findChild('sink');
    const onBuffer = (buffer: Buffer | null) => {
      if (run !== this.#run) return;
      if (buffer === null) {
        // End of stream or a stopped pipeline: pulling again would spin.
        try {
          deliver(reader.end());
        } catch (error) {
          this.#log.warn('capture stream ended malformed', { error });
        }
        if (this.#options.restart === false) this.#finish(run);
        // A pipeline that could not start at all (a missing device) ends here too. Its bus is not
        // read: it stays in the NULL state, where a bus poll is not released by stop().
        else this.#fail(run, 'end of stream, or the pipeline could not start (is the device there?)');
        return;
      }
      this.#lastOutputAt = this.#now();
      this.counters.bytes += buffer.length;
      try {
        deliver(reader.push(buffer));
      } catch (error) {
        this.#fail(run, `malformed Matroska from the pipeline: ${(error as Error).message}`);
        return;
      }
      sink.pull(onBuffer);
    };
    startWallMs = this.#now();
    this.#lastOutputAt = startWallMs;
    pipeline.play();
    sink.pull(onBuffer);
    if (this.#options.rawSinkName !== undefined) this.#pullRaw(run, pipeline.findChild(this.#options.rawSinkName));
    this.#setState('running');
    this.#log.debug('capture started', { description });
  }

  /** Pulls the raw branch until the run ends; its end of stream is the main sink's to handle. */
  #pullRaw(run: number, sink: ReturnType<GstPipeline['findChild']>): void {
    const onBuffer = (buffer: Buffer | null, caps: { width?: number; height?: number } | undefined) => {
      if (run !== this.#run || buffer === null) return;
      if (caps?.width !== undefined && caps.height !== undefined) {
        const frame: RawFrame = { timestampMs: this.#now(), width: caps.width, height: caps.height, data: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length) };
        for (const listener of this.#rawListeners) listener(frame);
      }
      sink.pull(onBuffer);
    };
    sink.pull(onBuffer);
  }

  /** Fails the run with the ERROR queued on its bus, if any, else with `reason`. */
  #failWithBusError(run: number, reason: string): void {
    let error: string | undefined;
    // The poll ends when the pipeline is stopped (its bus flushes).
    this.#pipeline?.pollBus((message) => {
      if (message.type === 'error') error ??= `${message._src_element_name ?? 'pipeline'}: ${message.message ?? 'error'}`;
    });
    // Queued messages arrive within a few ms; a second call for the same run is ignored by #fail.
    setTimeout(() => this.#fail(run, error ?? reason), 100);
  }

  /** Ends for good (restart: false). */
  #finish(run: number, reason?: string): void {
    if (run !== this.#run) return;
    this.#teardown();
    this.#setState('ended', reason);
    this.#ended?.();
  }

  #fail(run: number, reason: string): void {
    if (run !== this.#run || this.#state === 'stopped' || this.#state === 'ended') return;
    this.counters.lastError = reason;
    if (this.#options.restart === false) {
      this.#log.warn('capture failed', { reason });
      this.#finish(run, reason);
      return;
    }
    this.#teardown();
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 30_000);
    this.counters.restarts++;
    this.#log.warn('capture failed; restarting', { reason, inMs: delay });
    this.#setState('waiting', reason);
    this.#timer = setTimeout(() => this.#launch(), delay);
  }

  #teardown(): void {
    this.#run++;
    const pipeline = this.#pipeline;
    this.#pipeline = undefined;
    // stop() sets the NULL state: the pending pull returns null and the bus poll ends.
    pipeline?.stop();
  }

  #setState(state: CaptureState, reason?: string): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of this.#stateListeners) listener(state, reason);
  }
}
