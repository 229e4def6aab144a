// The console's JSON API (GET /console/api/...): what the browser console shows, read straight
// from the stores. Shapes are the console's own, not AWS's: one call per view, payloads decoded.
// The WebRTC live view gets its signaling WebSocket URL here, presigned on the browser's behalf.

import { randomUUID } from 'node:crypto';
import { presignUrl } from '../../lib/sigv4.js';
import type { DataStreamsContext } from '../data-streams/context.js';
import type { StoredRecord, StreamState } from '../data-streams/model.js';
import { formatShardId } from '../data-streams/sequence-number.js';
import { visibleShards, openShards } from '../data-streams/shards.js';
import { statusOf } from '../data-streams/streams.js';
import { configStateOf, reportedConfigOf, type DesiredConfigs } from '../devices/desired-configs.js';
import type { DeviceKeyStore } from '../devices/device-keys.js';
import { ResourceNotFoundException, ValidationException } from '../protocol/errors.js';
import { Input } from '../protocol/input.js';
import { getSignalingChannelEndpoint } from '../signaling/channels.js';
import type { SignalingContext } from '../signaling/context.js';
import { getIceServerConfig } from '../signaling/ice-servers.js';
import type { VideoStore } from '../storage/video-store.js';
import type { DeviceRegistry } from './heartbeats.js';
import { TILE_URL, tilesReachable } from './map-tiles.js';

/** What the console API reads. */
export interface ConsoleSources {
  data: DataStreamsContext;
  video: VideoStore;
  devices: DeviceRegistry;
  /** Device identities and desired configs: the fleet's revoked keys and config rollout. */
  identities: DeviceKeyStore;
  configs: DesiredConfigs;
  signaling: SignalingContext;
  now: () => number;
}

/** Who asks: where the browser reached the server, and the keys it signed in with (when the server has credentials). */
export interface ConsoleCaller {
  origin: string;
  keys?: { accessKeyId: string; secretAccessKey: string };
}

// Records/s is averaged over this window; the record view starts this far back.
const RATE_WINDOW_MS = 10_000;
const TAIL_WINDOW_MS = 15 * 60_000;
const MAX_TAIL_RECORDS = 500;
const RATE_READ_LIMIT = 10_000;
const READ_MAX_BYTES = 4 * 1024 * 1024;
// A video stream counts as live while its newest fragment ended this recently.
const LIVE_WITHIN_MS = 10_000;
const MAX_TIMELINE_FRAGMENTS = 5000;
// The viewer opens the WebSocket right away; the signature only has to outlive that.
const WEBSOCKET_URL_EXPIRES_SECONDS = 300;

/** Answers one console API path (after /console/api); undefined when no route matches. */
export async function consoleApi(sources: ConsoleSources, path: string, query: URLSearchParams, caller: ConsoleCaller): Promise<unknown | undefined> {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 1 && parts[0] === 'data-streams') return listDataStreams(sources);
  if (parts.length === 3 && parts[0] === 'data-streams' && parts[2] === 'records') return tailRecords(sources, parts[1]!, query);
  if (parts.length === 1 && parts[0] === 'video-streams') return listVideoStreams(sources);
  if (parts.length === 3 && parts[0] === 'video-streams' && parts[2] === 'fragments') return fragmentTimeline(sources, parts[1]!, query);
  if (parts.length === 1 && parts[0] === 'devices') return { devices: listDevices(sources), now: sources.now() };
  if (parts.length === 1 && parts[0] === 'signaling-channels') return listSignalingChannels(sources);
  if (parts.length === 2 && parts[0] === 'webrtc') return webRtcViewer(sources, parts[1]!, caller);
  if (parts.length === 1 && parts[0] === 'map-tiles') return { reachable: await tilesReachable(Date.now()), tileUrl: TILE_URL };
  return undefined;
}

/** Every device that has an identity or has sent a heartbeat: its latest status, its key's state and its config rollout. */
function listDevices(sources: ConsoleSources) {
  const names = new Set([...sources.devices.list().map((device) => device.deviceId), ...sources.identities.list().map((device) => device.name)]);
  return [...names].sort().map((deviceId) => {
    const heartbeat = sources.devices.get(deviceId);
    const identity = sources.identities.get(deviceId);
    const desired = sources.configs.get(deviceId);
    return {
      deviceId,
      receivedAt: heartbeat?.receivedAt ?? null,
      status: heartbeat?.status ?? null,
      ...(identity ? { identity: { accessKeyId: identity.accessKeyId, createdAt: identity.createdAt, revokedAt: identity.revokedAt ?? null } } : {}),
      ...(desired ? { config: configStateOf(desired, reportedConfigOf(heartbeat?.status)) } : {}),
    };
  });
}

async function listDataStreams(sources: ConsoleSources) {
  const now = sources.now();
  const streams = await sources.data.store.listStreams();
  const listed = await Promise.all(
    streams.map(async (state) => {
      const shards = openShards(state);
      const counts = await Promise.all(shards.map((shard) => recordsSince(sources.data, state, shard.index, now - RATE_WINDOW_MS)));
      return {
        name: state.name,
        status: statusOf(state, now),
        mode: state.mode,
        openShards: shards.length,
        retentionHours: state.retentionHours,
        recordsPerSecond: Math.round((counts.reduce((sum, count) => sum + count, 0) / (RATE_WINDOW_MS / 1000)) * 100) / 100,
      };
    }),
  );
  return { streams: listed.sort((a, b) => a.name.localeCompare(b.name)), now };
}

async function recordsSince(ctx: DataStreamsContext, state: StreamState, shardIndex: number, sinceMs: number): Promise<number> {
  const from = await ctx.store.positionAtTime(state.uid, shardIndex, sinceMs);
  const records = await ctx.store.read(state.uid, shardIndex, from, RATE_READ_LIMIT, READ_MAX_BYTES);
  return records.length;
}

/**
 * Records per shard: after the positions in `cursor` ("shardIndex:position,..."), or else the
 * newest `limit` of the last minutes. Each shard's `cursor` goes back in the next poll.
 */
async function tailRecords(sources: ConsoleSources, name: string, query: URLSearchParams) {
  const ctx = sources.data;
  const state = await ctx.store.getStream(name);
  if (!state) throw new ResourceNotFoundException(`Stream ${name} not found.`);
  const now = sources.now();
  const limit = integerParam(query, 'limit', 100, 1, MAX_TAIL_RECORDS);
  const cursors = parseCursor(query.get('cursor'));
  const shards = await Promise.all(
    visibleShards(state, now).map(async (shard) => {
      const after = cursors.get(shard.index);
      const durable = await ctx.store.durablePosition(state.uid, shard.index);
      let from: number;
      if (after !== undefined) {
        from = after;
      } else {
        const windowStart = await ctx.store.positionAtTime(state.uid, shard.index, now - TAIL_WINDOW_MS);
        // Positions only increase; where they are dense this skips straight to the newest records.
        from = Math.max(windowStart, durable - limit);
      }
      const records = from < durable ? await ctx.store.read(state.uid, shard.index, from, limit, READ_MAX_BYTES) : [];
      const last = records.at(-1);
      return {
        shardId: formatShardId(shard.index),
        shardIndex: shard.index,
        cursor: last ? last.position + 1 : from,
        records: records.map((record) => decodeRecord(ctx, record)),
      };
    }),
  );
  return { stream: name, now, shards };
}

function parseCursor(text: string | null): Map<number, number> {
  const cursors = new Map<number, number>();
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const match = /^(\d+):(\d+)$/.exec(part);
    if (!match) throw new ValidationException('cursor must be a list of shardIndex:position pairs.');
    cursors.set(Number(match[1]), Number(match[2]));
  }
  return cursors;
}

/** A record with its payload as text, and as JSON when it is. */
function decodeRecord(ctx: DataStreamsContext, record: StoredRecord) {
  const dataBase64 = record.keyId ? ctx.keys.decrypt(record.keyId, record.dataBase64) : record.dataBase64;
  const partitionKey = record.keyId ? ctx.keys.decryptText(record.keyId, record.partitionKey) : record.partitionKey;
  const bytes = Buffer.from(dataBase64, 'base64');
  let text: string | undefined;
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    json = JSON.parse(text);
  } catch {
    // Not UTF-8, or text that is not JSON: the console shows the text, else base64.
  }
  return {
    position: record.position,
    arrivalMs: record.arrivalMs,
    partitionKey,
    sizeBytes: bytes.length,
    ...(text === undefined ? { base64: dataBase64 } : json === undefined ? { text } : { text, json }),
  };
}

async function listVideoStreams(sources: ConsoleSources) {
  const now = sources.now();
  const streams = await sources.video.listStreams();
  const listed = await Promise.all(
    streams.map(async (state) => {
      const last = await sources.video.lastFragment(state.uid);
      return {
        name: state.name,
        status: state.status,
        mediaType: state.mediaType ?? null,
        retentionHours: state.dataRetentionInHours,
        lastFragment: last ? { number: last.number, producerTimestampMs: last.producerTimestampMs, serverTimestampMs: last.serverTimestampMs, durationMs: last.durationMs } : null,
        live: last !== undefined && now - (last.serverTimestampMs + last.durationMs) <= LIVE_WITHIN_MS,
      };
    }),
  );
  return { streams: listed.sort((a, b) => a.name.localeCompare(b.name)), now };
}

async function listSignalingChannels(sources: ConsoleSources) {
  const channels = await sources.signaling.channels.list();
  return { channels: channels.map((state) => ({ name: state.name, arn: state.arn, type: state.type })).sort((a, b) => a.name.localeCompare(b.name)) };
}

/**
 * What a browser needs to join a channel as a viewer: a fresh client id, the signaling WebSocket
 * URL with the channel and client id in its query (presigned with the caller's keys, since a
 * browser cannot sign), and the ICE servers with TURN credentials minted for that client id.
 */
async function webRtcViewer(sources: ConsoleSources, name: string, caller: ConsoleCaller) {
  const ctx = sources.signaling;
  const state = (await ctx.channels.list()).find((channel) => channel.name === name);
  if (!state) throw new ResourceNotFoundException(`Signaling channel ${name} not found.`);
  const clientId = `console-${randomUUID()}`;
  const endpoints = (await getSignalingChannelEndpoint(ctx, Input.of({ ChannelARN: state.arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'VIEWER' } }), caller)) as {
    ResourceEndpointList: { ResourceEndpoint: string }[];
  };
  const url = `${endpoints.ResourceEndpointList[0]!.ResourceEndpoint}?${new URLSearchParams({ 'X-Amz-ChannelARN': state.arn, 'X-Amz-ClientId': clientId })}`;
  const ice = (await getIceServerConfig(ctx, Input.of({ ChannelARN: state.arn, ClientId: clientId, Service: 'TURN' }))) as {
    IceServerList: { Uris: string[]; Username?: string; Password?: string }[];
  };
  return {
    channelArn: state.arn,
    clientId,
    wsUrl: caller.keys ? presignUrl({ url, ...caller.keys, region: ctx.settings.region, service: 'kinesisvideo', expiresSeconds: WEBSOCKET_URL_EXPIRES_SECONDS, now: ctx.now() }) : url,
    // RTCIceServer's shape, which the browser hands straight to RTCPeerConnection.
    iceServers: ice.IceServerList.map((server) => ({ urls: server.Uris, ...(server.Username ? { username: server.Username, credential: server.Password } : {}) })),
  };
}

/** Fragments by producer time in [startMs, endMs] (default: the last hour). */
async function fragmentTimeline(sources: ConsoleSources, name: string, query: URLSearchParams) {
  const state = await sources.video.getStream(name);
  if (!state) throw new ResourceNotFoundException(`The stream ${name} does not exist.`);
  const now = sources.now();
  const endMs = integerParam(query, 'endMs', now, 0, Number.MAX_SAFE_INTEGER);
  const startMs = integerParam(query, 'startMs', endMs - 3_600_000, 0, endMs);
  const fragments = await sources.video.listFragments(state.uid, { clock: 'producer', startMs, endMs }, MAX_TIMELINE_FRAGMENTS);
  return {
    stream: name,
    now,
    startMs,
    endMs,
    truncated: fragments.length === MAX_TIMELINE_FRAGMENTS,
    fragments: fragments.map((fragment) => ({ number: fragment.number, producerTimestampMs: fragment.producerTimestampMs, durationMs: fragment.durationMs, sizeBytes: fragment.sizeBytes })),
  };
}

function integerParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ValidationException(`${name} must be an integer from ${min} to ${max}.`);
  return value;
}
