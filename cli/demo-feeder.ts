import http from 'node:http';
import type { Logger } from '../lib/log.js';

// Stands in for a device until the agent exists: one synthetic smart-meter reading a second,
// put over the server's own Kinesis API on loopback, so `npm start` shows data moving.

const STREAM = 'demo-meter';

function call(url: string, operation: string, body: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `Kinesis_20131202.${operation}` } },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

/** Starts feeding readings; returns the function that stops it. */
export async function startDemoFeeder(url: string, log: Logger): Promise<() => void> {
  const created = await call(url, 'CreateStream', { StreamName: STREAM, ShardCount: 1 });
  if (created.status !== 200 && !created.body.includes('ResourceInUseException')) throw new Error(`could not create ${STREAM}: ${created.body}`);
  let energyKwh = 1234.5;
  const timer = setInterval(() => {
    const powerW = Math.round(400 + 300 * Math.sin(Date.now() / 60_000) + Math.random() * 50);
    energyKwh += powerW / 3_600_000;
    const reading = { deviceId: 'demo-meter-1', source: 'dsmr', timestamp: new Date().toISOString(), values: { powerW, energyKwh: Number(energyKwh.toFixed(4)) } };
    call(url, 'PutRecord', { StreamName: STREAM, PartitionKey: reading.deviceId, Data: Buffer.from(JSON.stringify(reading)).toString('base64') }).catch((error) =>
      log.warn('demo put failed', { error }),
    );
  }, 1000);
  return () => clearInterval(timer);
}

export const DEMO_STREAM = STREAM;
