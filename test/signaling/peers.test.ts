// Two real WebRTC peers (@roamhq/wrtc) find each other through the server's signaling alone:
// the viewer offers, the master answers, both trickle candidates over the public SDK's
// SignalingClient, and a data channel carries a message once ICE connects.

import test, { registerCompletionHandler } from 'ava';
import { once } from 'node:events';
import { CreateSignalingChannelCommand, GetSignalingChannelEndpointCommand } from '@aws-sdk/client-kinesis-video';
import wrtc from '@roamhq/wrtc';
import { Role, SignalingClient, type RequestSigner } from 'amazon-kinesis-video-streams-webrtc';
import { WebSocket } from 'ws';
import { startVideoServer, videoClients } from '../helpers/video.js';

// Node 20 has no global WebSocket; the SDK looks for one.
Object.assign(globalThis, { WebSocket });
// wrtc's native threads keep the process from ending by itself.
registerCompletionHandler(() => process.exit(0));

const UNSIGNED: RequestSigner = { getSignedURL: async (endpoint, query) => endpoint + '/?' + new URLSearchParams(query as Record<string, string>) };

test('a wrtc viewer and master connect a data channel through the server', async (t) => {
  const { url } = await startVideoServer(t);
  const { video } = videoClients(url, 'http1.1', t);
  const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'peers' }));
  const { ResourceEndpointList } = await video.send(
    new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'MASTER' } }),
  );
  const signaling = (clientId?: string) => {
    const client = new SignalingClient({
      channelARN: ChannelARN!,
      channelEndpoint: ResourceEndpointList![0]!.ResourceEndpoint!,
      region: 'us-east-1',
      role: clientId === undefined ? Role.MASTER : Role.VIEWER,
      ...(clientId !== undefined ? { clientId } : {}),
      requestSigner: UNSIGNED,
    });
    t.teardown(() => client.close());
    return client;
  };

  // Master: answers each offer on its own peer connection, as a camera does.
  const master = signaling();
  const received = new Promise<string>((resolve) => {
    master.on('sdpOffer', async (offer: RTCSessionDescriptionInit, viewerId: string) => {
      const peer = new wrtc.RTCPeerConnection();
      t.teardown(() => peer.close());
      peer.onicecandidate = ({ candidate }) => candidate && master.sendIceCandidate(candidate, viewerId);
      peer.ondatachannel = ({ channel }) => (channel.onmessage = ({ data }) => resolve(String(data)));
      master.on('iceCandidate', (candidate: RTCIceCandidateInit, from: string) => from === viewerId && void peer.addIceCandidate(candidate));
      await peer.setRemoteDescription(offer);
      await peer.setLocalDescription(await peer.createAnswer());
      master.sendSdpAnswer(peer.localDescription!, viewerId);
    });
  });
  master.open();
  await once(master, 'open');

  const viewer = signaling('viewer-1');
  const peer = new wrtc.RTCPeerConnection();
  t.teardown(() => peer.close());
  const channel = peer.createDataChannel('hello');
  peer.onicecandidate = ({ candidate }) => candidate && viewer.sendIceCandidate(candidate);
  viewer.on('sdpAnswer', (answer: RTCSessionDescriptionInit) => void peer.setRemoteDescription(answer));
  viewer.on('iceCandidate', (candidate: RTCIceCandidateInit) => void peer.addIceCandidate(candidate));
  viewer.open();
  await once(viewer, 'open');
  await peer.setLocalDescription(await peer.createOffer());
  viewer.sendSdpOffer(peer.localDescription!);

  await new Promise<void>((resolve) => (channel.onopen = () => resolve()));
  channel.send('hello through rivulet signaling');
  t.is(await received, 'hello through rivulet signaling');
});
