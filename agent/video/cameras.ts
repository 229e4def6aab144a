// The agent's video side: the fragment spool, one CameraSource per configured camera and the
// PutMedia uploader. Loaded by the agent only when cameras are configured (GStreamer's binding
// and its pipelines cost tens of MiB).

import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import { availableEncoders } from '../../video/gstreamer/encoders.js';
import type { GpsFix } from '../agent.js';
import type { AgentConfig } from '../config.js';
import type { WebRtcPublisher, WebRtcStatus } from '../webrtc/live-view.js';
import { CameraSource } from './camera-source.js';
import { FragmentSpool } from './spool.js';
import { VideoUploader } from './video-uploader.js';

/** One camera in the agent status. */
export interface CameraStatus {
  name: string;
  stream: string;
  source: string;
  capture: string;
  encoder: string | null;
  frames: number;
  /** Fragments captured and spooled. */
  fragments: number;
  restarts: number;
  backlogFragments: number;
  backlogBytes: number;
  oldestAgeMs: number | null;
  /** Fragments the server acknowledged PERSISTED. */
  persisted: number;
  /** Sent without an ack, then found stored by ListFragments (so not sent again). */
  foundStored: number;
  /** Spool bounds: dropped (drop-oldest), rejected (reject-new), expired (maxAgeMs). */
  dropped: number;
  rejected: number;
  expired: number;
  /** Refused by the server for their content, kept aside. */
  quarantined: number;
  uploadSessions: number;
  lastPersistedAt: number | null;
  lastError: string | null;
  /** The live view, for a camera with webrtc. */
  webrtc: WebRtcStatus | null;
}

/** Folder of the spool inside dataDir. */
export const VIDEO_DIR = 'video';

/** Cameras → spool → PutMedia; start() / stop(). */
export class Cameras {
  private constructor(
    private readonly spool: FragmentSpool,
    private readonly sources: { config: AgentConfig['cameras'][number]; source: CameraSource; publisher: WebRtcPublisher | undefined }[],
    private readonly uploader: VideoUploader,
  ) {}

  /** Opens the spool, starts the uploader and every camera. */
  static async start(config: AgentConfig, log: Logger, gps: () => GpsFix | undefined): Promise<Cameras> {
    const spool = await FragmentSpool.open({ dir: join(config.dataDir, VIDEO_DIR), cameras: config.cameras.map((camera) => ({ name: camera.name, ...camera.spool })) });
    const uploader = new VideoUploader({
      spool,
      cameras: config.cameras.map((camera) => ({ name: camera.name, stream: camera.stream })),
      endpoint: config.server.url,
      region: config.server.region,
      ...(config.server.accessKeyId && config.server.secretAccessKey ? { credentials: { accessKeyId: config.server.accessKeyId, secretAccessKey: config.server.secretAccessKey } } : {}),
      order: config.videoUpload.order,
      maxBackoffMs: config.upload.maxBackoffMs,
      log: log.child({ component: 'video-uploader' }),
    });
    // Each running camera keeps one libuv pool job (its appsink pull) blocked; SQLite and file I/O
    // share that pool, so leave them room.
    // A live view's raw branch keeps a second pull blocked.
    const pulls = config.cameras.reduce((sum, camera) => sum + (camera.webrtc ? 2 : 1), 0);
    const pool = Number(process.env['UV_THREADPOOL_SIZE']) || 4;
    if (pulls + 2 > pool) log.warn('few libuv pool threads for this many cameras: set UV_THREADPOOL_SIZE', { cameras: config.cameras.length, threads: pool, atLeast: pulls + 2 });
    const encoders = await availableEncoders();
    // WebRTC's native library is loaded only by an agent that publishes a live view.
    const webrtc = config.cameras.some((camera) => camera.webrtc) ? await import('../webrtc/live-view.js') : undefined;
    const sources = config.cameras.map((camera) => {
      const cameraLog = log.child({ camera: camera.name });
      const publisher = camera.webrtc ? webrtc?.createPublisher(camera.webrtc, config.server, cameraLog.child({ component: 'webrtc' })) : undefined;
      return {
        config: camera,
        source: new CameraSource({ config: camera, deviceId: config.deviceId, spool, encoders, gps, log: cameraLog, ...(publisher ? { live: (frame) => publisher.push(frame) } : {}) }),
        publisher,
      };
    });
    const cameras = new Cameras(spool, sources, uploader);
    uploader.start();
    try {
      for (const { publisher } of sources) publisher?.start();
      for (const { source } of sources) await source.start();
    } catch (error) {
      await cameras.stop();
      throw error;
    }
    return cameras;
  }

  /** Stops capturing (spooling the last fragments), ends the upload sessions, closes the spool. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.sources.map(({ source }) => source.stop()));
    await Promise.allSettled(this.sources.map(({ publisher }) => publisher?.stop()));
    await this.uploader.stop();
    await this.spool.close();
  }

  status(): CameraStatus[] {
    return this.sources.map(({ config, source, publisher }) => {
      const captured = source.status();
      const spooled = this.spool.stats(config.name);
      const upload = this.uploader.stats(config.name)!;
      return {
        name: config.name,
        stream: config.stream,
        source: config.source.type === 'v4l2' ? config.source.device! : config.source.type === 'rtsp' ? redact(config.source.url!) : config.source.type,
        capture: captured.capture,
        encoder: captured.encoder,
        frames: captured.frames,
        fragments: captured.fragments,
        restarts: captured.restarts,
        backlogFragments: spooled.fragments,
        backlogBytes: spooled.bytes,
        oldestAgeMs: spooled.oldestAgeMs,
        persisted: upload.persisted,
        foundStored: upload.foundStored,
        dropped: spooled.dropped,
        rejected: spooled.rejected,
        expired: spooled.expired,
        quarantined: spooled.quarantined,
        uploadSessions: upload.sessions,
        lastPersistedAt: upload.lastPersistedAt,
        lastError: captured.lastError ?? upload.lastError?.message ?? null,
        webrtc: publisher?.status() ?? null,
      };
    });
  }
}

/** An RTSP URL without its password: the status is readable by anyone on the device. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
