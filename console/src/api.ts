// The console's calls to its server: the JSON API under /console/api/ and playback operations
// run through /console/api/kvs/ (which the server authorizes by the console's Basic auth).

/** A data stream in the overview. */
export interface DataStreamSummary {
  name: string;
  status: string;
  mode: string;
  openShards: number;
  retentionHours: number;
  recordsPerSecond: number;
}

/** A video stream in the overview. */
export interface VideoStreamSummary {
  name: string;
  status: string;
  mediaType: string | null;
  lastFragment: { number: string; producerTimestampMs: number; serverTimestampMs: number; durationMs: number } | null;
  live: boolean;
}

/** A signaling channel; one named like a video stream offers its WebRTC live view. */
export interface SignalingChannelSummary {
  name: string;
  arn: string;
  type: string;
}

/** What GET /console/api/webrtc/<channel> answers: a WebSocket URL ready to open (presigned when the server checks signatures). */
export interface WebRtcEndpoint {
  channelArn: string;
  clientId: string;
  wsUrl: string;
  iceServers: RTCIceServer[];
}

/** A record as the console API decodes it. */
export interface ConsoleRecord {
  position: number;
  arrivalMs: number;
  partitionKey: string;
  sizeBytes: number;
  text?: string;
  json?: unknown;
  base64?: string;
}

/** One shard's new records and where to read on from. */
export interface ShardRecords {
  shardId: string;
  shardIndex: number;
  cursor: number;
  records: ConsoleRecord[];
}

/** A fragment on the timeline. */
export interface TimelineFragment {
  number: string;
  producerTimestampMs: number;
  durationMs: number;
  sizeBytes: number;
}

/** A device: its latest heartbeat (the agent's status document; null before the first), its identity and its pushed config's state. */
export interface DeviceHeartbeat {
  deviceId: string;
  receivedAt: number | null;
  status: {
    deviceId: string;
    server?: string;
    agentVersion?: string;
    uptimeMs?: number;
    buffer?: { backlogRecords: number; backlogBytes: number } | null;
    upload?: { lastError?: { at: number; message: string } | null; lastSuccessAt?: number | null } | null;
    sources?: { name: string; type: string; stream: string; transport: string; healthy?: boolean }[];
    cameras?: { name: string; stream: string; lastError: string | null }[];
    host?: { memory?: { rssBytes: number; totalBytes: number; freeBytes: number }; disk?: { path: string; totalBytes: number; freeBytes: number } | null };
    gps?: { lat: number; lon: number; fixQuality: number; at: number | string } | null;
  } | null;
  identity?: { accessKeyId: string; createdAt: number; revokedAt: number | null };
  config?: { desiredVersion: number; reportedVersion: number | null; state: 'pending' | 'applied' | 'rejected'; error?: string };
}

/** An error answer of the server, with its wire name. */
export class ApiError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** GETs a console API path (after /console/api/). */
export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(`/console/api/${path}`, { headers: { accept: 'application/json' } });
  if (!response.ok) throw await apiError(response);
  return (await response.json()) as T;
}

/** Runs a playback operation (getHLSStreamingSessionURL, getImages, getClip) with a JSON body. */
export async function playback(operation: string, body: unknown): Promise<Response> {
  const response = await fetch(`/console/api/kvs/${operation}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw await apiError(response);
  return response;
}

async function apiError(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
    return new ApiError(parsed.__type?.split('#').pop() ?? 'Error', parsed.message ?? parsed.Message ?? text, response.status);
  } catch {
    return new ApiError(`HTTP ${response.status}`, text.trim() || response.statusText, response.status);
  }
}
