// A WebRTC live-view viewer in Node, as a browser would be one: the public Kinesis Video WebRTC
// SDK's SignalingClient as VIEWER and an @roamhq/wrtc RTCPeerConnection receiving the video,
// whose decoded I420 frames come out of an RTCVideoSink. The bench measures with it and the
// agent's live-view tests watch with it. A process that uses it must end with process.exit().

import wrtc from '@roamhq/wrtc';
import { Role, SignalingClient, SigV4RequestSigner, type RequestSigner } from 'amazon-kinesis-video-streams-webrtc';
import { WebSocket } from 'ws';

// Node 20 has no global WebSocket; the SDK looks for one.
Object.assign(globalThis, { WebSocket: globalThis.WebSocket ?? WebSocket });

/** One decoded frame as the viewer got it. */
export interface ViewerFrame {
  width: number;
  height: number;
  /** I420. */
  data: Uint8Array;
  /** Date.now() when it came out of the decoder. */
  receivedAt: number;
}

/** Options of {@link watch}. */
export interface ViewerOptions {
  channelArn: string;
  /** The WSS endpoint GetSignalingChannelEndpoint gave. */
  endpoint: string;
  clientId: string;
  region?: string;
  /** Signs the WebSocket URL; unsigned (a server without credentials) unless given. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  iceServers?: RTCIceServer[];
  onFrame?: (frame: ViewerFrame) => void;
}

/** A watching viewer: what it received so far, and close(). */
export interface Viewer {
  readonly frames: number;
  readonly last: ViewerFrame | undefined;
  /** The peer connection's state (new, connecting, connected, failed, closed). */
  readonly state: string;
  /** The signaling client's last error, if any. */
  readonly error: string | undefined;
  close(): void;
}

/** The plain ws:// endpoint without a signature, as against a server without credentials. */
const UNSIGNED: RequestSigner = { getSignedURL: async (endpoint, query) => endpoint + '/?' + new URLSearchParams(query as Record<string, string>) };

/**
 * The SDK's signer on a plain ws:// endpoint: it insists on wss://, and the signature covers host,
 * path and query, not the scheme.
 */
function plainSigner(signer: SigV4RequestSigner): RequestSigner {
  return { getSignedURL: async (endpoint, query, date) => (await signer.getSignedURL(endpoint.replace(/^ws:/, 'wss:'), query, date)).replace(/^wss:/, 'ws:') };
}

/** Connects as a viewer and sends an offer for video; frames arrive once the master answers. */
export function watch(options: ViewerOptions): Viewer {
  const region = options.region ?? 'us-east-1';
  const signaling = new SignalingClient({
    channelARN: options.channelArn,
    channelEndpoint: options.endpoint,
    clientId: options.clientId,
    role: Role.VIEWER,
    region,
    requestSigner: options.credentials ? plainSigner(new SigV4RequestSigner(region, options.credentials)) : UNSIGNED,
    systemClockOffset: 0,
  });
  const connection = new wrtc.RTCPeerConnection({ iceServers: options.iceServers ?? [] });
  let sink: InstanceType<typeof wrtc.nonstandard.RTCVideoSink> | undefined;
  const viewer = { frames: 0, last: undefined as ViewerFrame | undefined, state: 'new', error: undefined as string | undefined, close };
  connection.addTransceiver('video', { direction: 'recvonly' });
  connection.onconnectionstatechange = () => (viewer.state = connection.connectionState);
  connection.ontrack = ({ track }) => {
    sink = new wrtc.nonstandard.RTCVideoSink(track);
    sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
      const received: ViewerFrame = { width: frame.width, height: frame.height, data: frame.data, receivedAt: Date.now() };
      viewer.frames++;
      viewer.last = received;
      options.onFrame?.(received);
    };
  };
  connection.onicecandidate = ({ candidate }) => {
    if (candidate) signaling.sendIceCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } as RTCIceCandidate);
  };
  signaling.on('open', () => {
    void (async () => {
      const offer = await connection.createOffer();
      await connection.setLocalDescription(offer);
      signaling.sendSdpOffer({ type: 'offer', sdp: offer.sdp } as RTCSessionDescription);
    })();
  });
  signaling.on('sdpAnswer', (answer: RTCSessionDescriptionInit) => void connection.setRemoteDescription(answer));
  signaling.on('iceCandidate', (candidate: RTCIceCandidateInit) => void connection.addIceCandidate(candidate).catch(() => {}));
  // A dropped signaling connection does not end a call that is up.
  signaling.on('error', (error: Error) => (viewer.error = error.message));
  signaling.open();

  function close(): void {
    sink?.stop();
    connection.close();
    signaling.close();
    viewer.state = 'closed';
  }
  return viewer;
}
