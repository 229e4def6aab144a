// The WebRTC live view: the browser joins a signaling channel as a VIEWER over a plain WebSocket
// (the Kinesis Video signaling messages, field for field), offers a receive-only video
// connection to the channel's master and plays what it sends. Server modules cannot be imported
// here, so the small message codec is written again below with the same field names.

import { getJson, type WebRtcEndpoint } from './api.js';

/** Where the connection is, as the page shows it. */
export type WebRtcState = 'connecting' | 'connected' | 'failed';

/** What the page hears from a running view. */
export interface WebRtcCallbacks {
  state(state: WebRtcState, reason?: string): void;
  /** An estimate of the delay from the master's capture to the screen, in ms. */
  latency(ms: number): void;
}

type SignalingAction = 'SDP_OFFER' | 'SDP_ANSWER' | 'ICE_CANDIDATE';

interface ServerMessage {
  senderClientId?: string;
  messageType: SignalingAction | 'GO_AWAY' | 'RECONNECT_ICE_SERVER' | 'STATUS_RESPONSE';
  messagePayload?: string;
  statusResponse?: { correlationId?: string; errorType?: string; statusCode?: string; description?: string };
}

// A master that has not answered by then is taken as absent: the page falls back to HLS.
const CONNECT_TIMEOUT_MS = 10_000;
const STATS_INTERVAL_MS = 1000;

/** Connects to a channel's master and plays its video in `video`; returns the function that stops it. */
export function startWebRtcView(video: HTMLVideoElement, channel: string, on: WebRtcCallbacks): () => void {
  let stopped = false;
  let settled = false;
  let socket: WebSocket | undefined;
  let peer: RTCPeerConnection | undefined;
  let statsTimer: number | undefined;

  const stop = () => {
    stopped = true;
    window.clearTimeout(timeout);
    window.clearInterval(statsTimer);
    socket?.close();
    peer?.close();
    if (video.srcObject) video.srcObject = null;
  };
  const fail = (reason: string) => {
    if (stopped) return;
    stop();
    on.state('failed', reason);
  };
  const timeout = window.setTimeout(() => fail(`no answer from the channel's master within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);

  const connect = async () => {
    on.state('connecting');
    const endpoint = await getJson<WebRtcEndpoint>(`webrtc/${encodeURIComponent(channel)}`);
    if (stopped) return;
    const pc = (peer = new RTCPeerConnection({ iceServers: endpoint.iceServers }));
    const ws = (socket = new WebSocket(endpoint.wsUrl));
    const send = (action: SignalingAction, payload: unknown) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action, messagePayload: encodePayload(payload) }));
    };
    // Candidates can arrive before the answer; they apply once the remote description is set.
    const early: RTCIceCandidateInit[] = [];

    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) send('ICE_CANDIDATE', candidate.toJSON());
    });
    pc.addEventListener('track', ({ streams, track }) => {
      video.srcObject = streams[0] ?? new MediaStream([track]);
      void video.play().catch(() => {
        // Autoplay can be refused until the user interacts; the controls are there for that.
      });
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected' && !settled) {
        settled = true;
        window.clearTimeout(timeout);
        // Signaling is only needed to set the connection up.
        ws.close();
        on.state('connected');
        const meter = latencyMeter(pc);
        statsTimer = window.setInterval(() => void meter().then((ms) => ms !== undefined && !stopped && on.latency(ms)), STATS_INTERVAL_MS);
      } else if (pc.connectionState === 'failed' || (settled && pc.connectionState === 'closed')) {
        fail(`the peer connection ${pc.connectionState}`);
      }
    });

    ws.addEventListener('message', (event) => {
      void (async () => {
        const message = JSON.parse(String(event.data)) as ServerMessage;
        switch (message.messageType) {
          case 'SDP_ANSWER':
            await pc.setRemoteDescription(decodePayload(message.messagePayload) as RTCSessionDescriptionInit);
            for (const candidate of early.splice(0)) await pc.addIceCandidate(candidate);
            break;
          case 'ICE_CANDIDATE': {
            const candidate = decodePayload(message.messagePayload) as RTCIceCandidateInit;
            if (pc.remoteDescription) await pc.addIceCandidate(candidate);
            else early.push(candidate);
            break;
          }
          case 'STATUS_RESPONSE':
            fail(`signaling refused a message: ${message.statusResponse?.errorType ?? 'error'} ${message.statusResponse?.description ?? ''}`.trim());
            break;
          case 'GO_AWAY':
            if (!settled) fail('the signaling channel went away');
            break;
          default:
            // SDP_OFFER and RECONNECT_ICE_SERVER are for masters.
            break;
        }
      })().catch((error: unknown) => fail(`cannot apply the master's answer: ${(error as Error).message}`));
    });
    ws.addEventListener('error', () => {
      if (!settled) fail('cannot open the signaling WebSocket');
    });
    await new Promise<void>((resolve) => ws.addEventListener('open', () => resolve(), { once: true }));
    if (stopped) return;
    await pc.setLocalDescription(await pc.createOffer());
    send('SDP_OFFER', pc.localDescription!.toJSON());
  };

  void connect().catch((error: unknown) => fail((error as Error).message));
  return stop;
}

/**
 * The estimate: the average time a frame waited in the jitter buffer since the last call plus
 * half the round trip (the network's one-way share). Capture and encode time at the master are
 * not visible to the viewer, so the real delay is somewhat larger.
 */
function latencyMeter(pc: RTCPeerConnection): () => Promise<number | undefined> {
  // jitterBufferDelay and jitterBufferEmittedCount are totals; differences give the recent average.
  let last = { delay: 0, count: 0 };
  return async () => {
    let jitterMs: number | undefined;
    let rttMs = 0;
    (await pc.getStats()).forEach((report: Record<string, unknown>) => {
      if (report['type'] === 'inbound-rtp' && report['kind'] === 'video') {
        const now = { delay: Number(report['jitterBufferDelay'] ?? 0), count: Number(report['jitterBufferEmittedCount'] ?? 0) };
        if (now.count > last.count) jitterMs = ((now.delay - last.delay) / (now.count - last.count)) * 1000;
        last = now;
      }
      if (report['type'] === 'candidate-pair' && report['nominated'] && typeof report['currentRoundTripTime'] === 'number') rttMs = report['currentRoundTripTime'] * 1000;
    });
    return jitterMs === undefined ? undefined : Math.round(jitterMs + rttMs / 2);
  };
}

/** A signaling payload: base64 of the JSON text. */
function encodePayload(value: unknown): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(value))));
}

function decodePayload(text: string | undefined): unknown {
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(text ?? ''), (char) => char.charCodeAt(0))));
}
