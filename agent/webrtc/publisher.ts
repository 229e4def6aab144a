// One camera's WebRTC live view: raw I420 frames from the capture's raw branch go into one
// RTCVideoSource, whose track is added to one RTCPeerConnection per viewer (libwebrtc encodes
// once per connection, so each viewer costs an encoder). The channel's signaling master hands
// over viewers' offers; at most maxViewers are served, further offers are refused with a log line.
//
// CPU: frames are passed on at most at webrtc.fps, and none while nobody watches. Every few
// seconds the publisher looks at how long handing a frame over took and at the process's CPU
// time; when either says the device cannot keep up, it degrades to half the frame rate and half
// the size, and comes back when both are well below their limits again (hysteresis: half the
// thresholds), so it does not flap.

import { availableParallelism } from 'node:os';
import wrtc from '@roamhq/wrtc';
import { silentLogger, type Logger } from '../../lib/log.js';
import type { RawFrame } from '../../video/gstreamer/capture.js';
import { decodePayload, encodePayload, type ServerMessage } from '../../ingest-server/signaling/messages.js';
import type { CameraWebRtcConfig } from '../config.js';
import { halveI420, i420Size } from './i420.js';
import type { MasterSignalingClient } from './signaling-client.js';
import { burnTimestamp } from './timestamp-code.js';

/** Options of {@link WebRtcPublisher}. */
export interface WebRtcPublisherOptions {
  config: CameraWebRtcConfig;
  signaling: MasterSignalingClient;
  log?: Logger;
  /** Degrade when the process uses more than this share of all cores; 0.8 unless given. */
  cpuLimit?: number;
  /** How often load is judged, ms; 2000 unless given. */
  adaptEveryMs?: number;
}

/** A camera's live view in the agent status. */
export interface WebRtcStatus {
  channel: string;
  signaling: 'connected' | 'disconnected';
  viewers: number;
  maxViewers: number;
  /** Offers refused because maxViewers were watching. */
  refusedViewers: number;
  framesSent: number;
  /** Half rate and half size because the device could not keep up. */
  degraded: boolean;
  lastError: string | null;
}

interface Viewer {
  connection: RTCPeerConnection;
  /** Candidates that came before the offer was applied. */
  pending: RTCIceCandidateInit[] | null;
}

const { RTCPeerConnection, nonstandard } = wrtc;
/** How long a disconnected viewer keeps its place (and its encoder) before it is dropped. */
const DISCONNECTED_GRACE_MS = 5000;

/** Serves a camera's frames to its channel's viewers; start() / stop(). */
export class WebRtcPublisher {
  readonly #options: WebRtcPublisherOptions;
  readonly #log: Logger;
  readonly #source = new nonstandard.RTCVideoSource();
  readonly #track = this.#source.createTrack();
  readonly #viewers = new Map<string, Viewer>();
  #refused = 0;
  #framesSent = 0;
  #lastSentAt = -Infinity;
  #degraded = false;
  #warnedSize = false;
  #lastError: string | null = null;
  #adaptTimer: NodeJS.Timeout | undefined;
  /** onFrame time and frames since the last judgement. */
  #handoffMs = 0;
  #handoffs = 0;
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();

  constructor(options: WebRtcPublisherOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    options.signaling.onMessage((message) => void this.#onSignal(message).catch((error: unknown) => this.#viewerFailed(message.senderClientId, error)));
  }

  start(): void {
    this.#options.signaling.start();
    this.#adaptTimer = setInterval(() => this.#adapt(), this.#options.adaptEveryMs ?? 2000);
    this.#adaptTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#adaptTimer);
    await this.#options.signaling.stop();
    for (const id of [...this.#viewers.keys()]) this.#drop(id);
    this.#track.stop();
  }

  /** A frame from the capture's raw branch; passed on when a viewer watches and its turn has come. */
  push(frame: RawFrame): void {
    if (this.#viewers.size === 0) return;
    const now = performance.now();
    const fps = this.#degraded ? this.#options.config.fps / 2 : this.#options.config.fps;
    // A little slack so a source at exactly fps is not halved by timer jitter.
    if (now - this.#lastSentAt < 900 / fps) return;
    if (frame.data.length !== i420Size(frame.width, frame.height)) {
      if (!this.#warnedSize) this.#log.warn('webrtc: raw frames are not tightly packed I420; not sent', { width: frame.width, height: frame.height, bytes: frame.data.length });
      this.#warnedSize = true;
      return;
    }
    this.#lastSentAt = now;
    const sent = this.#degraded ? halveI420(frame.data, frame.width, frame.height) : frame;
    if (this.#options.config.burnTimestamp) burnTimestamp(sent.data, sent.width, Date.now());
    const started = performance.now();
    this.#source.onFrame({ width: sent.width, height: sent.height, data: sent.data });
    this.#handoffMs += performance.now() - started;
    this.#handoffs++;
    this.#framesSent++;
  }

  status(): WebRtcStatus {
    return {
      channel: this.#options.config.channel,
      signaling: this.#options.signaling.connected ? 'connected' : 'disconnected',
      viewers: this.#viewers.size,
      maxViewers: this.#options.config.maxViewers,
      refusedViewers: this.#refused,
      framesSent: this.#framesSent,
      degraded: this.#degraded,
      lastError: this.#lastError ?? this.#options.signaling.lastError,
    };
  }

  async #onSignal(message: ServerMessage): Promise<void> {
    const id = message.senderClientId;
    if (id === undefined || message.messagePayload === undefined) return;
    if (message.messageType === 'SDP_OFFER') await this.#answer(id, decodePayload(message.messagePayload) as RTCSessionDescriptionInit);
    else if (message.messageType === 'ICE_CANDIDATE') {
      const candidate = decodePayload(message.messagePayload) as RTCIceCandidateInit;
      const viewer = this.#viewers.get(id);
      if (!viewer) return;
      if (viewer.pending) viewer.pending.push(candidate);
      else await viewer.connection.addIceCandidate(candidate);
    }
  }

  async #answer(id: string, offer: RTCSessionDescriptionInit): Promise<void> {
    // The same viewer offering again (a reload) replaces its old connection.
    if (this.#viewers.has(id)) this.#drop(id);
    if (this.#viewers.size >= this.#options.config.maxViewers) {
      this.#refused++;
      this.#log.warn('webrtc viewer refused: maxViewers are watching', { viewer: id, maxViewers: this.#options.config.maxViewers });
      return;
    }
    const connection = new RTCPeerConnection({ iceServers: this.#options.signaling.session?.iceServers ?? [] });
    const viewer: Viewer = { connection, pending: [] };
    this.#viewers.set(id, viewer);
    connection.addTrack(this.#track);
    connection.onicecandidate = ({ candidate }) => {
      if (!candidate) return;
      this.#options.signaling.send({
        action: 'ICE_CANDIDATE',
        recipientClientId: id,
        messagePayload: encodePayload({ candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }),
      });
    };
    let grace: NodeJS.Timeout | undefined;
    connection.onconnectionstatechange = () => {
      const state = connection.connectionState;
      this.#log.debug('webrtc viewer', { viewer: id, state });
      clearTimeout(grace);
      const drop = () => {
        if (this.#viewers.get(id)?.connection === connection) this.#drop(id);
      };
      if (state === 'failed' || state === 'closed') drop();
      // A viewer that closed its tab says nothing: its consent checks stop, the connection turns
      // disconnected, and only ~30 s later failed. A short network blip recovers within the grace.
      else if (state === 'disconnected') grace = setTimeout(drop, DISCONNECTED_GRACE_MS).unref();
    };
    await connection.setRemoteDescription(offer);
    const answer = await connection.createAnswer();
    await connection.setLocalDescription(answer);
    this.#options.signaling.send({ action: 'SDP_ANSWER', recipientClientId: id, messagePayload: encodePayload({ type: 'answer', sdp: connection.localDescription?.sdp ?? answer.sdp }) });
    const pending = viewer.pending ?? [];
    viewer.pending = null;
    for (const candidate of pending) await connection.addIceCandidate(candidate);
    this.#log.info('webrtc viewer connected', { viewer: id, viewers: this.#viewers.size });
  }

  #viewerFailed(id: string | undefined, error: unknown): void {
    this.#lastError = `viewer ${id ?? '?'}: ${(error as Error).message}`;
    this.#log.warn('webrtc viewer failed', { viewer: id, error });
    if (id !== undefined && this.#viewers.has(id)) this.#drop(id);
  }

  #drop(id: string): void {
    const viewer = this.#viewers.get(id);
    if (!viewer) return;
    this.#viewers.delete(id);
    viewer.connection.close();
    this.#log.info('webrtc viewer left', { viewer: id, viewers: this.#viewers.size });
  }

  /** Judges the last period's load and degrades or recovers. */
  #adapt(): void {
    const now = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const share = (cpu.user + cpu.system) / 1000 / (now - this.#cpuAt) / availableParallelism();
    const interval = 1000 / this.#options.config.fps;
    const handoff = this.#handoffs > 0 ? this.#handoffMs / this.#handoffs : 0;
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    this.#handoffMs = 0;
    this.#handoffs = 0;
    const limit = this.#options.cpuLimit ?? 0.8;
    // Handing a frame over should take a small part of its interval; half of it means frames back up.
    const overloaded = share > limit || handoff > interval / 2;
    const relaxed = share < limit / 2 && handoff < interval / 4;
    if (!this.#degraded && overloaded && this.#viewers.size > 0) {
      this.#degraded = true;
      this.#log.warn('webrtc: degrading to half rate and size', { cpuShare: round(share), handoffMs: round(handoff) });
    } else if (this.#degraded && relaxed) {
      this.#degraded = false;
      this.#log.info('webrtc: back to full rate and size', { cpuShare: round(share), handoffMs: round(handoff) });
    }
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
