// The demo's streams, created over the server's own HTTP API on loopback (the AWS SDK clients are
// development dependencies, and a plain request shows what any client sends). An existing stream
// is kept: the demo's data dir survives restarts.

import http from 'node:http';
import { signRequest } from '../lib/sigv4.js';

/** An access key the server accepts, when it was started with --credentials. */
export interface DemoKeys {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/** The data stream the demo agent's serial sources write to. */
export const DEMO_DATA_STREAM = 'telemetry';
/** The video stream the demo agent's test camera writes to. */
export const DEMO_VIDEO_STREAM = 'demo-cam';

function post(url: string, path: string, service: string, unsigned: Record<string, string>, body: object, keys: DemoKeys | undefined): Promise<{ status: number; body: string }> {
  const target = new URL(path, url);
  const bytes = Buffer.from(JSON.stringify(body));
  const headers = keys ? signRequest({ method: 'POST', path, headers: { ...unsigned, host: target.host }, body: bytes, ...keys, service }) : unsigned;
  return new Promise((resolve, reject) => {
    const request = http.request(target, { method: 'POST', headers }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    request.end(bytes);
  });
}

function assertCreated(name: string, answer: { status: number; body: string }): void {
  if (answer.status !== 200 && !answer.body.includes('ResourceInUseException')) throw new Error(`could not create the stream ${name}: HTTP ${answer.status} ${answer.body}`);
}

/** Creates `telemetry` (2 shards) and `demo-cam` (24 h retention) unless they exist. */
export async function ensureDemoStreams(url: string, keys?: DemoKeys): Promise<void> {
  const kinesisHeaders = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Kinesis_20131202.CreateStream' };
  assertCreated(DEMO_DATA_STREAM, await post(url, '/', 'kinesis', kinesisHeaders, { StreamName: DEMO_DATA_STREAM, ShardCount: 2 }, keys));
  assertCreated(DEMO_VIDEO_STREAM, await post(url, '/createStream', 'kinesisvideo', { 'content-type': 'application/json' }, { StreamName: DEMO_VIDEO_STREAM, DataRetentionInHours: 24, MediaType: 'video/h264' }, keys));
}
