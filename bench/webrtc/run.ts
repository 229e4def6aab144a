// WebRTC live view on this machine: a `rivulet server` process (signaling), a `rivulet-agent`
// process publishing a `test` camera (videotestsrc 640x360@30, recorded as usual, and live over
// WebRTC with webrtc.burnTimestamp: the send time drawn into every frame), and 1, then 4, Node
// viewers in this process (the public SignalingClient as VIEWER and an @roamhq/wrtc peer):
//   - glass-to-glass latency: the viewer's clock when a frame leaves its decoder − the time the
//     agent drew into it just before handing it to WebRTC (same machine, same clock), p50/p99;
//   - frames per second each viewer received;
//   - the agent's CPU (/proc/<pid>/stat), before any viewer and per viewer above that;
//   - a summary, target against measured (p99 < 300 ms).
// The viewers decode in this process, on the same cores as the agent: on a small machine their
// CPU competes with the agent's, so the figures are a pessimistic bound for a LAN viewer.
//
//   node dist/bench/webrtc/run.js [--seconds 15] [--viewers 1,4]

import { CreateSignalingChannelCommand, CreateStreamCommand, GetSignalingChannelEndpointCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AgentStatus } from '../../agent/status.js';
import { readTimestamp } from '../../agent/webrtc/timestamp-code.js';
import { cpuSeconds } from '../lib/proc.js';
import { freePort, startBenchProcess, startBenchServer, type BenchProcess, type BenchServer } from '../lib/processes.js';
import { percentile, table } from '../lib/stats.js';
import { watch, type Viewer } from './viewer.js';

// The project supports Node 20; the SDK's notice that its future releases will not is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    viewers: { type: 'string', default: '1,4' },
  },
});
const SECONDS = Number(args.seconds);
const VIEWER_COUNTS = args.viewers.split(',').map(Number);
if (!(SECONDS > 0)) throw new RangeError('--seconds must be a number above 0');
if (VIEWER_COUNTS.some((count) => !Number.isSafeInteger(count) || count < 1 || count > 4)) throw new RangeError('--viewers must be a list of counts from 1 to 4 (the camera serves 4)');

const TARGET_P99_MS = 300;
const CAMERA = { width: 640, height: 360, fps: 30 };
/** Frames read before a window starts: the encoder ramps its bit rate up first. */
const WARMUP_MS = 3000;

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rivulet = `${root}dist/cli/rivulet.js`;
// The agent as a device runs it: the bin whose #! line carries its V8 flags.
const rivuletAgent = `${root}dist/cli/rivulet-agent.js`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  viewers: number;
  /** Per viewer, mean over viewers. */
  framesPerSecond: number;
  p50: number;
  p99: number;
  /** Frames whose barcode did not read as a plausible time. */
  unreadable: number;
  /** The size the viewers decoded last (libwebrtc may scale down under load). */
  size: string;
  /** Cores the agent used in the window. */
  agentCores: number;
  degraded: boolean;
}

async function status(url: string): Promise<AgentStatus> {
  const response = await fetch(`${url}/status`);
  return (await response.json()) as AgentStatus;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function measure(count: number, channel: { arn: string; endpoint: string }, agent: BenchProcess, statusUrl: string): Promise<Row> {
  const latencies: number[] = [];
  let unreadable = 0;
  let measuring = false;
  const viewers: Viewer[] = [];
  for (let index = 0; index < count; index++) {
    viewers.push(
      watch({
        channelArn: channel.arn,
        endpoint: channel.endpoint,
        clientId: `bench-${count}-${index}`,
        onFrame: (frame) => {
          if (!measuring) return;
          const latency = frame.receivedAt - readTimestamp(frame.data, frame.width);
          if (latency >= 0 && latency < 10_000) latencies.push(latency);
          else unreadable++;
        },
      }),
    );
  }
  try {
    await waitFor(`frames at ${count} viewer(s)`, () => viewers.every((viewer) => viewer.frames > 0), 20_000);
    await sleep(WARMUP_MS);
    const framesBefore = viewers.map((viewer) => viewer.frames);
    const cpuBefore = cpuSeconds(agent.pid);
    const started = performance.now();
    measuring = true;
    await sleep(SECONDS * 1000);
    measuring = false;
    const seconds = (performance.now() - started) / 1000;
    const cores = (cpuSeconds(agent.pid) - cpuBefore) / seconds;
    const received = viewers.reduce((sum, viewer, index) => sum + viewer.frames - framesBefore[index]!, 0);
    const webrtc = (await status(statusUrl)).cameras[0]!.webrtc!;
    const size = [...new Set(viewers.map((viewer) => `${viewer.last?.width}x${viewer.last?.height}`))].join(', ');
    return { viewers: count, framesPerSecond: received / count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), unreadable, size, agentCores: cores, degraded: webrtc.degraded };
  } finally {
    for (const viewer of viewers) viewer.close();
    // Closed viewers are dropped once their consent checks lapse (disconnected + the grace period).
    await waitFor('the viewers dropped', async () => (await status(statusUrl)).cameras[0]!.webrtc!.viewers === 0, 45_000);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-bench-webrtc-'));
  let server: BenchServer | undefined;
  let agent: BenchProcess | undefined;
  try {
    server = await startBenchServer('rivulet', [rivulet, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn']);
    const video = new KinesisVideoClient({ region: 'us-east-1', endpoint: server.url, credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' } });
    await video.send(new CreateStreamCommand({ StreamName: 'bench-cam', DataRetentionInHours: 1, MediaType: 'video/h264' }));
    const { ChannelARN } = await video.send(new CreateSignalingChannelCommand({ ChannelName: 'bench-live' }));
    const { ResourceEndpointList } = await video.send(new GetSignalingChannelEndpointCommand({ ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS'], Role: 'VIEWER' } }));
    const channel = { arn: ChannelARN!, endpoint: ResourceEndpointList![0]!.ResourceEndpoint! };

    const statusPort = await freePort();
    const configFile = join(dir, 'agent.json');
    await writeFile(
      configFile,
      JSON.stringify({
        deviceId: 'bench-cam',
        server: { url: server.url },
        dataDir: join(dir, 'agent'),
        status: { port: statusPort },
        logLevel: 'warn',
        cameras: [{ name: 'bench', source: { type: 'test', pattern: 'ball' }, stream: 'bench-cam', ...CAMERA, webrtc: { channel: 'bench-live', ...CAMERA, maxViewers: 4, burnTimestamp: true } }],
      }),
    );
    agent = await startBenchProcess('agent', ['--config', configFile], { ready: /^Rivulet agent .* running/m, executable: rivuletAgent });
    const statusUrl = `http://127.0.0.1:${statusPort}`;
    await waitFor('the agent on its signaling channel', async () => (await status(statusUrl)).cameras[0]?.webrtc?.signaling === 'connected', 20_000);

    console.log(`Rivulet WebRTC live view benchmark (issue 6), ${new Date().toISOString()}\n`);
    console.log(
      `\`rivulet-agent\` with a test camera ${CAMERA.width}x${CAMERA.height}@${CAMERA.fps} (videotestsrc → x264enc → PutMedia to a \`rivulet server\` process, and the raw\n` +
        `branch → RTCVideoSource with the send time drawn into each frame); Node viewers (SignalingClient + @roamhq/wrtc) in this process.\n` +
        `${SECONDS} s windows after ${WARMUP_MS / 1000} s of warm-up; latency = viewer's Date.now() when the frame is decoded − the time drawn into it.\n`,
    );
    await sleep(2000);
    const idleBefore = cpuSeconds(agent.pid);
    await sleep(5000);
    const idleCores = (cpuSeconds(agent.pid) - idleBefore) / 5;
    const rows: Row[] = [];
    for (const count of VIEWER_COUNTS) rows.push(await measure(count, channel, agent, statusUrl));

    const percent = (cores: number) => `${(cores * 100).toFixed(0)} %`;
    console.log(
      table(
        ['viewers', 'frame size', 'frames/s per viewer', 'latency p50 ms', 'p99 ms', 'unreadable frames', 'agent CPU', 'CPU per viewer', 'degraded'],
        rows.map((row) => [
          String(row.viewers),
          row.size,
          row.framesPerSecond.toFixed(1),
          row.p50.toFixed(0),
          row.p99.toFixed(0),
          String(row.unreadable),
          percent(row.agentCores),
          percent((row.agentCores - idleCores) / row.viewers),
          row.degraded ? 'yes' : 'no',
        ]),
      ),
    );
    console.log(`   agent CPU with no viewer (capture, encode, PutMedia; the raw branch runs but hands nothing to WebRTC): ${percent(idleCores)} of a core\n`);

    console.log('Summary');
    console.log(
      table(
        ['measure', 'target', 'measured', 'verdict'],
        rows.map((row) => [`glass-to-glass p99, ${row.viewers} viewer(s)`, `< ${TARGET_P99_MS} ms`, `${row.p99.toFixed(0)} ms`, row.p99 < TARGET_P99_MS ? 'met' : 'MISSED']),
      ),
    );
  } finally {
    await agent?.stop(10_000);
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// wrtc's native threads keep a process that created peers from ending by itself.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
