// What the agent's camera tests share: an in-process agent with one test camera, and reading a
// stream's fragments back with the Kinesis Video SDK.

import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { ListFragmentsCommand, type Fragment, type KinesisVideoArchivedMediaClient } from '@aws-sdk/client-kinesis-video-archived-media';
import { Agent } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import type { AgentStatus } from '../../agent/status.js';
import type { CameraStatus } from '../../agent/video/cameras.js';
import { Logger } from '../../lib/log.js';

/** A TCP port free right now, so a server can be started (and restarted) on it. */
export { freePort } from '../../bench/lib/processes.js';

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An in-process agent with one test camera (1 s fragments at 15 fps, 160x120); its log lines are kept. */
export async function startAgent(t: ExecutionContext, options: { port: number; dataDir: string; stream: string; order?: 'live-first' | 'oldest-first'; gpsPort?: string }) {
  const config = parseAgentConfig(
    {
      deviceId: 'cam-rig',
      server: { url: `http://127.0.0.1:${options.port}`, accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
      dataDir: options.dataDir,
      status: { port: 0 },
      upload: { maxBackoffMs: 1000, ...(options.order ? { order: options.order } : {}) },
      ...(options.gpsPort ? { sources: [{ type: 'gps', port: options.gpsPort, stream: 'gps' }] } : {}),
      cameras: [{ name: 'yard', source: { type: 'test', pattern: 'ball' }, stream: options.stream, width: 160, height: 120, fps: 15, fragmentSeconds: 1, tags: { site: 'north' }, attachGps: options.gpsPort !== undefined }],
    },
    join(options.dataDir, 'agent.json'),
  );
  const lines: Record<string, unknown>[] = [];
  const agent = new Agent({ config, log: new Logger('debug', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>)) });
  t.teardown(() => agent.stop());
  await agent.start();
  const camera = async (): Promise<CameraStatus> => ((await agent.status()) as AgentStatus).cameras[0]!;
  /** Timecodes of every fragment the camera spooled so far. */
  const spooled = () => lines.filter((line) => line['msg'] === 'fragment spooled').map((line) => line['timecode'] as number);
  return { agent, camera, spooled, lines };
}

export async function listAll(archived: KinesisVideoArchivedMediaClient, stream: string): Promise<Fragment[]> {
  const fragments: Fragment[] = [];
  let nextToken: string | undefined;
  do {
    const page = await archived.send(
      new ListFragmentsCommand({
        StreamName: stream,
        FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(Date.now() - 3_600_000), EndTimestamp: new Date(Date.now() + 60_000) } },
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    fragments.push(...page.Fragments!);
    nextToken = page.NextToken;
  } while (nextToken);
  return fragments;
}

/** Producer timestamps (ms) of the listed fragments, with how often each occurs. */
export function countByTimecode(fragments: Fragment[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const fragment of fragments) counts.set(fragment.ProducerTimestamp!.getTime(), (counts.get(fragment.ProducerTimestamp!.getTime()) ?? 0) + 1);
  return counts;
}

