// One configured camera: its GStreamer capture → keyframe-led fragments → Matroska bytes with
// ABSOLUTE timecodes (the cluster timecode is the capture's epoch ms) → the spool. After each
// Cluster comes a Tags element with the device's tags and, with attachGps, the latest GPS fix.
//
// The stream header is rebuilt from each capture run's tracks without the muxer's random track
// UIDs, so a pipeline restart with the same codec data gives the same header bytes and the
// uploader keeps its session. Timecodes only increase per camera: a fragment at or before the
// last one (the wall clock stepped back across a restart) is dropped with a log line.

import { silentLogger, type Logger } from '../../lib/log.js';
import { Fragmenter, type Fragment } from '../../video/fragmenter.js';
import type { MkvHeader, MkvTrack, SimpleTag } from '../../video/mkv/model.js';
import { writeCluster, writeMkvHeader, writeTags } from '../../video/mkv/writer.js';
import { GstCapture, type CaptureState, type RawFrame } from '../../video/gstreamer/capture.js';
import { buildCapturePipeline, chooseEncoder, type CaptureSource, type EncoderChoice, type EncoderName } from '../../video/gstreamer/pipeline.js';
import { bestFormat, discoverCameras, type VideoDevice } from '../../hardware/camera/discovery.js';
import type { GpsFix } from '../agent.js';
import type { CameraConfig } from '../config.js';
import type { FragmentSpool } from './spool.js';

/** What to capture for a configured camera; a V4L2 device's format "auto" is picked from the discovered `devices`. */
export function captureSourceFor(source: CameraConfig['source'], devices: readonly VideoDevice[]): CaptureSource {
  switch (source.type) {
    case 'v4l2': {
      const device = devices.find((each) => each.path === source.device);
      // Not found (unplugged at start): raw, the one format every V4L2 capture device has.
      const format = source.format === undefined || source.format === 'auto' ? (device ? bestFormat(device) : 'raw') : source.format;
      return { type: 'v4l2', device: source.device!, format };
    }
    case 'libcamera':
      return source.cameraName ? { type: 'libcamera', cameraName: source.cameraName } : { type: 'libcamera' };
    case 'rtsp':
      return { type: 'rtsp', url: source.url! };
    case 'test':
      return source.pattern ? { type: 'test', pattern: source.pattern } : { type: 'test' };
  }
}

/** The encoder and gst-launch description for a camera; throws when nothing installed can encode its source. */
export function capturePipelineFor(camera: CameraConfig, source: CaptureSource, encoders: readonly string[]): { encoder: EncoderChoice; description: string } {
  const encoder = chooseEncoder(source, camera.encoder, encoders);
  const description = buildCapturePipeline({
    source,
    encoder,
    fragmentSeconds: camera.fragmentSeconds,
    ...(camera.width !== undefined ? { width: camera.width } : {}),
    ...(camera.height !== undefined ? { height: camera.height } : {}),
    ...(camera.fps !== undefined ? { fps: camera.fps } : {}),
    ...(camera.webrtc ? { raw: { width: camera.webrtc.width, height: camera.webrtc.height } } : {}),
  });
  return { encoder, description };
}

/** The raw branch's appsink: buildCapturePipeline's default name. */
const RAW_SINK = 'raw';

/** Options of {@link CameraSource}. */
export interface CameraSourceOptions {
  config: CameraConfig;
  deviceId: string;
  spool: FragmentSpool;
  /** H.264 encoders installed (video/gstreamer/encoders.ts). */
  encoders: readonly EncoderName[];
  /** The latest GPS fix, for attachGps. */
  gps?: () => GpsFix | undefined;
  /** Where the raw branch's frames go, for a camera with webrtc. */
  live?: (frame: RawFrame) => void;
  log?: Logger;
}

/** A camera's side of the agent status. */
export interface CameraSourceStatus {
  capture: CaptureState;
  encoder: EncoderChoice | null;
  pipeline: string | null;
  frames: number;
  fragments: number;
  restarts: number;
  /** Frames the fragmenter dropped for want of a leading keyframe. */
  droppedFrames: number;
  lastFragmentAt: number | null;
  lastError: string | null;
}

/** Captures one camera into the spool; start() / stop(). */
export class CameraSource {
  readonly #options: CameraSourceOptions;
  readonly #log: Logger;
  readonly #fragmenter: Fragmenter;
  #capture: GstCapture | undefined;
  #header: Uint8Array | undefined;
  #lastTimecode = -Infinity;
  #adding: Promise<unknown> = Promise.resolve();
  #encoder: EncoderChoice | null = null;
  #pipeline: string | null = null;
  #fragments = 0;
  #lastFragmentAt: number | null = null;
  #lastError: string | null = null;

  constructor(options: CameraSourceOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#fragmenter = new Fragmenter({ fragmentMs: options.config.fragmentSeconds * 1000 });
  }

  /** Builds the pipeline description and starts capturing; a camera that is not there yet is retried by the capture. */
  async start(): Promise<void> {
    const config = this.#options.config;
    const devices = config.source.type === 'v4l2' && (config.source.format ?? 'auto') === 'auto' ? (await discoverCameras()).devices : [];
    const { encoder, description } = capturePipelineFor(config, captureSourceFor(config.source, devices), this.#options.encoders);
    this.#encoder = encoder;
    this.#pipeline = description;
    const live = this.#options.live;
    const capture = new GstCapture({ description: () => description, log: this.#log, ...(config.webrtc ? { rawSinkName: RAW_SINK } : {}) });
    this.#capture = capture;
    if (live) capture.onRawFrame(live);
    capture.onHeader((header) => this.#onHeader(header));
    capture.onFrame((frame) => this.#spool(this.#fragmenter.push(frame)));
    capture.onState((state, reason) => {
      if (reason) this.#lastError = reason;
      this.#log.info('camera capture', { state, ...(reason ? { reason } : {}) });
    });
    capture.start();
    this.#log.info('camera started', { encoder: this.#encoder, pipeline: description });
  }

  /** Stops capturing and spools the last, possibly short, fragment. */
  async stop(): Promise<void> {
    await this.#capture?.stop();
    this.#spool(this.#fragmenter.flush());
    await this.#adding;
  }

  status(): CameraSourceStatus {
    const counters = this.#capture?.counters;
    return {
      capture: this.#capture?.state ?? 'stopped',
      encoder: this.#encoder,
      pipeline: this.#pipeline,
      frames: counters?.frames ?? 0,
      fragments: this.#fragments,
      restarts: counters?.restarts ?? 0,
      droppedFrames: this.#fragmenter.droppedBeforeKeyframe,
      lastFragmentAt: this.#lastFragmentAt,
      lastError: this.#lastError ?? counters?.lastError ?? null,
    };
  }

  #onHeader(header: MkvHeader): void {
    // Frames of the previous run belong under the previous header.
    this.#spool(this.#fragmenter.flush());
    const tracks = header.tracks.map(
      (track): MkvTrack => ({
        number: track.number,
        type: track.type,
        codecId: track.codecId,
        ...(track.codecPrivate ? { codecPrivate: track.codecPrivate } : {}),
        ...(track.width !== undefined ? { width: track.width } : {}),
        ...(track.height !== undefined ? { height: track.height } : {}),
        ...(track.defaultDurationNs !== undefined ? { defaultDurationNs: track.defaultDurationNs } : {}),
      }),
    );
    this.#header = writeMkvHeader(tracks, { muxingApp: 'rivulet', writingApp: 'rivulet-agent' });
  }

  /** Writes fragments and queues them into the spool, in order. */
  #spool(fragments: Fragment[]): void {
    const header = this.#header;
    if (!header) return;
    const config = this.#options.config;
    for (const fragment of fragments) {
      if (fragment.timestampMs <= this.#lastTimecode) {
        this.#log.warn('fragment dropped: its timecode is not after the previous one (clock stepped back?)', { timecode: fragment.timestampMs, previous: this.#lastTimecode });
        continue;
      }
      this.#lastTimecode = fragment.timestampMs;
      const cluster = writeCluster(fragment.timestampMs, fragment.blocks);
      const tags = writeTags(this.#tags());
      this.#adding = this.#adding
        .then(() => this.#options.spool.add(config.name, { timecodeMs: fragment.timestampMs, durationMs: fragment.durationMs, header, cluster, tags }))
        .then(
          (result) => {
            if (result.spooled) {
              this.#log.debug('fragment spooled', { timecode: fragment.timestampMs, durationMs: fragment.durationMs, frames: fragment.blocks.length });
              this.#fragments++;
              this.#lastFragmentAt = fragment.timestampMs;
            } else this.#log.warn('spool full: fragment rejected', { timecode: fragment.timestampMs });
            if (result.dropped > 0) this.#log.warn('spool full: oldest fragments dropped', { dropped: result.dropped });
          },
          (error: unknown) => {
            this.#lastError = `spool: ${(error as Error).message}`;
            this.#log.error('fragment could not be spooled', { timecode: fragment.timestampMs, error });
          },
        );
    }
  }

  #tags(): SimpleTag[] {
    const tags: SimpleTag[] = [{ name: 'RIVULET_DEVICE_ID', value: this.#options.deviceId }];
    for (const [name, value] of Object.entries(this.#options.config.tags)) tags.push({ name, value });
    const fix = this.#options.config.attachGps ? this.#options.gps?.() : undefined;
    if (fix) {
      tags.push({ name: 'GPS_LATITUDE', value: String(fix.lat) }, { name: 'GPS_LONGITUDE', value: String(fix.lon) }, { name: 'GPS_FIX_AT', value: fix.at });
      if (typeof fix.altitudeM === 'number') tags.push({ name: 'GPS_ALTITUDE_M', value: String(fix.altitudeM) });
      if (typeof fix.speedKmh === 'number') tags.push({ name: 'GPS_SPEED_KMH', value: String(fix.speedKmh) });
    }
    return tags;
  }
}
