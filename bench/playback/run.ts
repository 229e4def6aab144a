// Playback on this machine, in one run:
//   1. remux MB/s (bench/playback/remux.ts): our fMP4 and MPEG-TS writers and mediabunny's fMP4
//      side by side, over the same stored fragments;
//   2. live latency with 1 s fragments: a camera-like producer puts one 1 s GOP a second into a
//      `rivulet server` process, each fragment stamped (ABSOLUTE timecode) with the capture time of
//      its first frame — it can only be sent once its GOP is complete, so it leaves 1 s after
//      that — and a LIVE HLS session (GetHLSStreamingSessionURL, AWS SDK v3) is followed:
//      from the producer timestamp to the segment listed in the media playlist (LL-HLS blocking
//      reloads, _HLS_msn) and to its bytes fetched; then chromium (playwright-core) plays the
//      same live URL with hls.js at low-latency settings: latency = now − hls.playingDate (from
//      EXT-X-PROGRAM-DATE-TIME), sampled for --seconds;
//   3. time to first frame in chromium: page navigation → first video frame presented;
//   4. a summary, target against measured.
// Chromium and the server share this machine's cores with the producer, as a viewer on the
// device's LAN would not; the figures are an upper bound.
//
//   node dist/bench/playback/run.js [--seconds 15]

import { CreateStreamCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { GetHLSStreamingSessionURLCommand, KinesisVideoArchivedMediaClient } from '@aws-sdk/client-kinesis-video-archived-media';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startBenchServer, type BenchServer } from '../lib/processes.js';
import { percentile, table } from '../lib/stats.js';
import { makeClip, type Clip } from '../lib/video-clip.js';
import { Producer } from '../lib/video-producer.js';
import { benchRemux } from './remux.js';

// The project supports Node 20; the SDK's notice that its future releases will not is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '15' } } });
const SECONDS = Number(args.seconds);
const FRAGMENT_MS = 1000;
const FPS = 30;
const BITRATE_KBPS = 2000;
const TARGETS = { liveLatencyMs: 2000, remuxMBps: 200 };
const STREAM = 'live-cam';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rivulet = `${root}dist/cli/rivulet.js`;
const hlsScript = `${root}node_modules/hls.js/dist/hls.min.js`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : '-');

/** Puts one GOP a second, as a camera with 1 s fragments would; stop() ends the session. */
function produceLive(producer: Producer, clip: Clip): { stop(): Promise<void>; fragments(): number } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    const started = performance.now();
    for (let index = 0; running; index++) {
      const due = started + index * FRAGMENT_MS;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      // The GOP's first frame was captured one fragment ago: only now is the fragment complete.
      await producer.send(clip.gops[index % clip.gops.length]!, Date.now() - FRAGMENT_MS);
      sent += 1;
    }
  })();
  return {
    fragments: () => sent,
    async stop() {
      running = false;
      await loop;
      await producer.close();
    },
  };
}

interface Listed {
  sequence: number;
  programDateTimeMs: number;
  uri: string;
}

/** The segments of a media playlist with their sequence numbers and EXT-X-PROGRAM-DATE-TIME. */
function segmentsOf(playlist: string): Listed[] {
  let sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? 0);
  let programDateTimeMs = NaN;
  const segments: Listed[] = [];
  for (const line of playlist.split('\n').map((text) => text.trim())) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) programDateTimeMs = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
    else if (line !== '' && !line.startsWith('#')) segments.push({ sequence: sequence++, programDateTimeMs, uri: line });
  }
  return segments;
}

async function text(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${await response.text()}`);
  return response.text();
}

interface Followed {
  /** Producer timestamp → segment listed in the media playlist, ms. */
  listed: number[];
  /** Producer timestamp → segment bytes fetched, ms. */
  fetched: number[];
  /** Segment listed → its bytes fetched, ms. */
  download: number[];
  bytes: number;
}

/** Follows the live media playlist with blocking reloads for `seconds`, fetching each new segment. */
async function followPlaylist(masterUrl: string, seconds: number): Promise<Followed> {
  const master = await text(masterUrl);
  const mediaUrl = new URL(master.split('\n').find((line) => line.trim() !== '' && !line.startsWith('#'))!.trim(), masterUrl);
  const followed: Followed = { listed: [], fetched: [], download: [], bytes: 0 };
  let next = -1;
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const url = new URL(mediaUrl);
    if (next >= 0) url.searchParams.set('_HLS_msn', String(next));
    const segments = segmentsOf(await text(url.href));
    const listedAt = Date.now();
    // The first playlist only says where the live edge is: its segments were listed before we asked.
    const fresh = next < 0 ? [] : segments.filter((segment) => segment.sequence >= next);
    for (const segment of fresh) {
      const media = await fetch(new URL(segment.uri, mediaUrl), { signal: AbortSignal.timeout(10_000) });
      if (!media.ok) throw new Error(`segment ${segment.sequence}: HTTP ${media.status}`);
      followed.bytes += (await media.arrayBuffer()).byteLength;
      const fetchedAt = Date.now();
      followed.listed.push(listedAt - segment.programDateTimeMs);
      followed.fetched.push(fetchedAt - segment.programDateTimeMs);
      followed.download.push(fetchedAt - listedAt);
    }
    next = Math.max(next, (segments.at(-1)?.sequence ?? next) + 1);
  }
  return followed;
}

interface Played {
  supported: boolean;
  /** now − hls.playingDate, ms, sampled every 250 ms once playing. */
  latency: number[];
  /** Navigation start → 'playing', ms. */
  playingMs: number;
  /** Navigation start → first video frame presented (requestVideoFrameCallback), ms. */
  firstFrameMs: number;
  stalls: number;
  error: string | null;
}

/** The player page: hls.js at low-latency settings on a muted autoplaying video. */
function playerPage(masterUrl: string): string {
  return `<!doctype html><html><body><video id="video" muted autoplay playsinline></video>
<script src="/bench-playback/hls.min.js"></script>
<script>
  const video = document.getElementById('video');
  const state = { supported: Hls.isSupported(), latency: [], playingMs: NaN, firstFrameMs: NaN, stalls: 0, error: null };
  window.benchState = state;
  video.addEventListener('playing', () => { if (Number.isNaN(state.playingMs)) state.playingMs = performance.now(); });
  video.addEventListener('waiting', () => { if (!Number.isNaN(state.playingMs)) state.stalls++; });
  video.requestVideoFrameCallback(() => { state.firstFrameMs = performance.now(); });
  if (state.supported) {
    // liveSyncDuration: play 0.5 s behind the newest listed media, the least hls.js keeps stable with 1 s segments.
    const hls = new Hls({ lowLatencyMode: true, liveSyncDuration: 0.5, liveMaxLatencyDuration: 3, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 0 });
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) state.error = data.type + ': ' + data.details; });
    hls.loadSource(${JSON.stringify(masterUrl)});
    hls.attachMedia(video);
    setInterval(() => { const at = hls.playingDate; if (at && !video.paused) state.latency.push(Date.now() - at.getTime()); }, 250);
  }
</script></body></html>`;
}

/** Plays the live URL in headless chromium for `seconds`; the page is served from the server's origin (no CORS). */
async function playInChromium(server: BenchServer, masterUrl: string, seconds: number): Promise<Played> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage();
    const script = await readFile(hlsScript);
    await page.route(`${server.url}/bench-playback/**`, (route) =>
      route.request().url().endsWith('/hls.min.js')
        ? route.fulfill({ body: script, contentType: 'text/javascript' })
        : route.fulfill({ body: playerPage(masterUrl), contentType: 'text/html' }),
    );
    await page.goto(`${server.url}/bench-playback/player.html`);
    await sleep(seconds * 1000);
    return await page.evaluate(() => (window as unknown as { benchState: Played }).benchState);
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  console.log('1. remux (bench/playback/remux.ts): a 20 s 720p 4 Mbit/s recording as stored fragments → fMP4 / MPEG-TS, MB/s of input MKV, best of 5\n');
  const remux = await benchRemux();
  console.log(table(['writer', 'MB/s'], [['rivulet fMP4', remux.ownFmp4MBps.toFixed(0)], ['rivulet MPEG-TS', remux.ownTsMBps.toFixed(0)], ['mediabunny fMP4 (MKV → fMP4 conversion)', remux.mediabunnyFmp4MBps.toFixed(0)]]));

  const dir = await mkdtemp(join(tmpdir(), 'rivulet-bench-playback-'));
  const server = await startBenchServer('playback', [rivulet, 'server', '--port', '{port}', '--data-dir', '{dir}', '--log-level', 'warn']);
  const config = { region: 'us-east-1', endpoint: server.url, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, requestHandler: new NodeHttpHandler() };
  const video = new KinesisVideoClient(config);
  const archived = new KinesisVideoArchivedMediaClient(config);
  try {
    const clip = await makeClip(dir, { seconds: 10, fps: FPS, bitrateKbps: BITRATE_KBPS, gopMs: FRAGMENT_MS, width: 1280, height: 720 });
    await video.send(new CreateStreamCommand({ StreamName: STREAM, DataRetentionInHours: 1, MediaType: 'video/h264' }));
    const live = produceLive(await Producer.open(server.url, STREAM, clip.tracks), clip);
    try {
      // LIVE sessions need a recent fragment to start from.
      while (live.fragments() < 2) await sleep(100);
      const { HLSStreamingSessionURL: masterUrl } = await archived.send(
        new GetHLSStreamingSessionURLCommand({ StreamName: STREAM, PlaybackMode: 'LIVE', HLSFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP' }, ContainerFormat: 'FRAGMENTED_MP4' }),
      );
      console.log(
        `\n2. live latency: 1280x720 ${FPS} fps x264 ${BITRATE_KBPS} kbit/s, one ${FRAGMENT_MS / 1000} s GOP per fragment put in real time (agent's PutMedia client, ABSOLUTE timecodes = capture time of the first frame) into \`rivulet server\`; LIVE HLS, fMP4\n`,
      );
      const followed = await followPlaylist(masterUrl!, SECONDS);
      const played = await playInChromium(server, masterUrl!, SECONDS);
      if (!played.supported) throw new Error('hls.js reports no MediaSource support in this chromium');
      console.log(
        table(
          ['measured from the producer timestamp', 'samples', 'p50 ms', 'p95 ms', 'max ms'],
          [
            ['segment listed in the media playlist (_HLS_msn blocking reload)', String(followed.listed.length), ms(percentile(followed.listed, 50)), ms(percentile(followed.listed, 95)), ms(Math.max(...followed.listed))],
            ['segment bytes fetched', String(followed.fetched.length), ms(percentile(followed.fetched, 50)), ms(percentile(followed.fetched, 95)), ms(Math.max(...followed.fetched))],
            ['chromium + hls.js: now − playingDate (frame on screen)', String(played.latency.length), ms(percentile(played.latency, 50)), ms(percentile(played.latency, 95)), ms(Math.max(...played.latency))],
          ],
        ),
      );
      console.log(`(a fragment is complete ${FRAGMENT_MS} ms after its first frame: that much of every figure is the camera's own GOP; listed → fetched p50 ${ms(percentile(followed.download, 50))} ms; player stalls ${played.stalls}${played.error ? `; hls.js error ${played.error}` : ''})`);

      console.log('\n3. time to first frame in chromium (hls.js, LIVE URL already issued)\n');
      console.log(table(['navigation → playing ms', 'navigation → first frame presented ms'], [[ms(played.playingMs), ms(played.firstFrameMs)]]));

      const liveP50 = percentile(played.latency, 50);
      const slowestRemux = Math.min(remux.ownFmp4MBps, remux.ownTsMBps);
      console.log('\n4. summary\n');
      console.log(
        table(
          ['target', 'target', 'measured', ''],
          [
            ['live latency p50, chromium + hls.js, 1 s fragments, ms', `≤ ${TARGETS.liveLatencyMs}`, ms(liveP50), liveP50 <= TARGETS.liveLatencyMs ? 'met' : 'MISSED'],
            ['remux, slower of our fMP4 and MPEG-TS writers, MB/s', `≥ ${TARGETS.remuxMBps}`, slowestRemux.toFixed(0), slowestRemux >= TARGETS.remuxMBps ? 'met' : 'MISSED'],
          ],
        ),
      );
    } finally {
      await live.stop();
    }
  } finally {
    video.destroy();
    archived.destroy();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
