// Kinesis Video ingest on this machine: camera-like producers putting 4 Mbit/s H.264 through the
// agent's PutMedia client into a `rivulet server` process (files + SQLite index, fsync before
// PERSISTED), in one run:
//   1. PutMedia MB/s, 1 and 16 sessions sending fragments back to back (how fast it can go);
//   2. 1, 16 and 100 (--streams) concurrent streams at camera pace — one 2 s fragment (~1 MB)
//      every 2 s per stream, starts spread over the period as independent cameras would be:
//      PERSISTED latency (last byte of the fragment written → PERSISTED ack), whether every
//      stream kept its pace, and the server's CPU per stream (/proc/<pid>/stat);
//   3. GetMedia live tail delay: a GetMedia (StartSelector NOW, AWS SDK v3 client) following one
//      of the paced streams: last byte of a fragment put → its Cluster parsed from GetMedia;
//   4. a summary, target against measured.
// No self-hosted Kinesis Video peer exists to run side by side (kvssink is a producer; the
// emulators that offer KVS need accounts or are closed), so the figures stand alone.
//
//   node dist/bench/video/run.js [--seconds 20] [--streams 1,16,100] [--fragment-seconds 2]
import { CreateStreamCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { GetMediaCommand, KinesisVideoMediaClient } from '@aws-sdk/client-kinesis-video-media';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MkvStreamReader } from '../../video/mkv/stream-reader.js';
import { startBenchServer, type BenchServer } from '../lib/processes.js';
import { makeClip, type Clip } from '../lib/video-clip.js';
import { Producer } from '../lib/video-producer.js';
import { cpuSeconds } from '../lib/proc.js';
import { percentile, table } from '../lib/stats.js';

// The project supports Node 20; the SDK's notice that its future releases will not is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    streams: { type: 'string', default: '1,16,100' },
    'fragment-seconds': { type: 'string', default: '2' },
  },
});
const SECONDS = Number(args.seconds);
const STREAM_COUNTS = args.streams.split(',').map(Number);
const FRAGMENT_MS = Number(args['fragment-seconds']) * 1000;
const BITRATE_KBPS = 4000;
const FPS = 30;
const TARGETS = { streams: 100, persistedP99Ms: 100 };

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rivulet = `${root}dist/cli/rivulet.js`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createStreams(client: KinesisVideoClient, prefix: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  for (const name of names) await client.send(new CreateStreamCommand({ StreamName: name, DataRetentionInHours: 1, MediaType: 'video/h264' }));
  return names;
}

interface Throughput {
  sessions: number;
  seconds: number;
  megabytesPerSecond: number;
  fragments: number;
  errors: number;
}

/** `sessions` producers sending GOPs back to back for `seconds`. */
async function backToBack(server: BenchServer, client: KinesisVideoClient, clip: Clip, sessions: number): Promise<Throughput> {
  const streams = await createStreams(client, `flat-${sessions}`, sessions);
  const producers = await Promise.all(streams.map((stream) => Producer.open(server.url, stream, clip.tracks)));
  const started = performance.now();
  const deadline = started + (SECONDS / 2) * 1000;
  await Promise.all(
    producers.map(async (producer) => {
      for (let index = 0; performance.now() < deadline; index++) await producer.send(clip.gops[index % clip.gops.length]!);
      await producer.close();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const bytes = producers.reduce((sum, producer) => sum + producer.persistedBytes, 0);
  return {
    sessions,
    seconds,
    megabytesPerSecond: bytes / seconds / 1e6,
    fragments: producers.reduce((sum, producer) => sum + producer.persistedMs.length, 0),
    errors: producers.reduce((sum, producer) => sum + producer.errors, 0),
  };
}

interface Paced {
  streams: number;
  fragmentsSent: number;
  fragmentsPersisted: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** Worst lateness of a fragment's send against its stream's schedule, ms. */
  worstLagMs: number;
  serverCpuPercent: number;
  tail?: { samples: number; p50: number; max: number };
}

/** `count` streams at camera pace for SECONDS; optionally one GetMedia NOW following the first. */
async function paced(server: BenchServer, client: KinesisVideoClient, media: KinesisVideoMediaClient, clip: Clip, count: number, followOne: boolean): Promise<Paced> {
  const streams = await createStreams(client, `paced-${count}`, count);
  const producers = await Promise.all(streams.map((stream) => Producer.open(server.url, stream, clip.tracks)));

  const tailDelays: number[] = [];
  const tail = followOne ? await followLive(media, streams[0]!, (timecode, at) => {
    const sent = producers[0]!.sentAt.get(timecode);
    if (sent !== undefined) tailDelays.push(at - sent);
  }) : undefined;

  const cpuBefore = cpuSeconds(server.process.pid!);
  const started = performance.now();
  let worstLagMs = 0;
  let sent = 0;
  await Promise.all(
    producers.map(async (producer, stream) => {
      // Cameras are not synchronised: each starts somewhere in the first fragment period.
      const offset = (stream / count) * FRAGMENT_MS;
      for (let index = 0; offset + index * FRAGMENT_MS < SECONDS * 1000; index++) {
        const due = started + offset + index * FRAGMENT_MS;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        worstLagMs = Math.max(worstLagMs, performance.now() - due);
        await producer.send(clip.gops[index % clip.gops.length]!);
        sent += 1;
      }
    }),
  );
  await Promise.all(producers.map((producer) => producer.close()));
  const cpu = cpuSeconds(server.process.pid!) - cpuBefore;
  const seconds = (performance.now() - started) / 1000;
  tail?.stop();

  const latencies = producers.flatMap((producer) => producer.persistedMs);
  return {
    streams: count,
    fragmentsSent: sent,
    fragmentsPersisted: latencies.length,
    errors: producers.reduce((sum, producer) => sum + producer.errors, 0),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    worstLagMs,
    serverCpuPercent: (cpu / seconds) * 100,
    ...(followOne ? { tail: { samples: tailDelays.length, p50: percentile(tailDelays, 50), max: Math.max(...tailDelays) } } : {}),
  };
}

/** GetMedia NOW on a stream; calls onCluster with each Cluster's timecode as it is parsed. */
async function followLive(media: KinesisVideoMediaClient, stream: string, onCluster: (timecode: number, at: number) => void): Promise<{ stop(): void }> {
  const abort = new AbortController();
  const output = await media.send(new GetMediaCommand({ StreamName: stream, StartSelector: { StartSelectorType: 'NOW' } }), { abortSignal: abort.signal });
  const body = output.Payload as Readable;
  const reader = new MkvStreamReader();
  body.on('data', (chunk: Buffer) => {
    const at = performance.now();
    for (const event of reader.push(chunk)) if (event.type === 'cluster') onCluster(event.cluster.timecode, at);
  });
  body.on('error', () => undefined);
  return {
    stop() {
      abort.abort();
      body.destroy();
    },
  };
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-bench-video-'));
  try {
    const clip = await makeClip(dir, { seconds: 10, fps: FPS, bitrateKbps: BITRATE_KBPS, gopMs: FRAGMENT_MS, width: 1280, height: 720 });
    const server = await startBenchServer('video', [rivulet, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn']);
    const config = { region: 'us-east-1', endpoint: server.url, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, requestHandler: new NodeHttpHandler() };
    const client = new KinesisVideoClient(config);
    const media = new KinesisVideoMediaClient(config);
    try {
      console.log(
        `clip: gst-launch videotestsrc pattern=snow 1280x720 ${FPS} fps → x264enc ${BITRATE_KBPS} kbit/s CBR, GOP ${FRAGMENT_MS / 1000} s: ` +
          `${clip.gops.length} GOPs, ${(clip.bytesPerSecond * 8 / 1e6).toFixed(2)} Mbit/s; server: \`rivulet server\` (files + SQLite index, fsync before PERSISTED); ` +
          `producers: agent/video/put-media-client.ts (HTTP/1.1 chunked), ABSOLUTE timecodes, in this process\n`,
      );

      console.log(`1. PutMedia back to back (${SECONDS / 2} s)\n`);
      const flat = [await backToBack(server, client, clip, 1), await backToBack(server, client, clip, 16)];
      console.log(table(['sessions', 'seconds', 'MB/s persisted', 'fragments', 'errors'], flat.map((row) => [String(row.sessions), row.seconds.toFixed(1), row.megabytesPerSecond.toFixed(1), String(row.fragments), String(row.errors)])));

      console.log(`\n2. concurrent streams at camera pace: one ${FRAGMENT_MS / 1000} s fragment per stream every ${FRAGMENT_MS / 1000} s for ${SECONDS} s; latency = fragment written → PERSISTED; lag = worst send lateness\n`);
      const rows: Paced[] = [];
      for (const count of STREAM_COUNTS) rows.push(await paced(server, client, media, clip, count, count === STREAM_COUNTS[Math.min(1, STREAM_COUNTS.length - 1)]));
      console.log(
        table(
          ['streams', 'Mbit/s in', 'fragments sent', 'persisted', 'errors', 'p50 ms', 'p99 ms', 'max ms', 'worst lag ms', 'server CPU %', 'CPU % per stream'],
          rows.map((row) => [
            String(row.streams),
            ((row.streams * clip.bytesPerSecond * 8) / 1e6).toFixed(0),
            String(row.fragmentsSent),
            String(row.fragmentsPersisted),
            String(row.errors),
            ms(row.p50),
            ms(row.p99),
            ms(row.max),
            ms(row.worstLagMs),
            row.serverCpuPercent.toFixed(1),
            (row.serverCpuPercent / row.streams).toFixed(2),
          ]),
        ),
      );

      const followed = rows.find((row) => row.tail);
      console.log(`\n3. GetMedia live tail (StartSelector NOW, @aws-sdk/client-kinesis-video-media) on one of ${followed?.streams ?? '-'} paced streams: fragment written → its Cluster parsed from GetMedia\n`);
      console.log(table(['fragments followed', 'p50 ms', 'max ms'], followed?.tail ? [[String(followed.tail.samples), ms(followed.tail.p50), ms(followed.tail.max)]] : []));

      const most = rows.filter((row) => row.fragmentsPersisted === row.fragmentsSent && row.errors === 0 && row.worstLagMs < FRAGMENT_MS).map((row) => row.streams);
      const largest = rows.find((row) => row.streams === Math.max(...STREAM_COUNTS))!;
      console.log('\n4. summary\n');
      console.log(
        table(
          ['target', 'target', 'measured', ''],
          [
            ['concurrent 4 Mbit/s streams, every fragment PERSISTED at camera pace', `≥ ${TARGETS.streams}`, String(Math.max(0, ...most)), Math.max(0, ...most) >= TARGETS.streams ? 'met' : 'MISSED'],
            [`PERSISTED p99 at ${largest.streams} streams, ms`, `< ${TARGETS.persistedP99Ms}`, ms(largest.p99), largest.p99 < TARGETS.persistedP99Ms ? 'met' : 'MISSED'],
          ],
        ),
      );
    } finally {
      client.destroy();
      media.destroy();
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
