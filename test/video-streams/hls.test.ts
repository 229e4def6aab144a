// HLS playback through the real SDK client (GetHLSStreamingSessionURL) over both transports,
// playlists and media fetched over plain HTTP as players do, and every segment checked by
// ffprobe decoding it.

import test from 'ava';
import { setTimeout } from 'node:timers/promises';
import { CreateStreamCommand } from '@aws-sdk/client-kinesis-video';
import { GetHLSStreamingSessionURLCommand, ListFragmentsCommand, type GetHLSStreamingSessionURLCommandInput } from '@aws-sdk/client-kinesis-video-archived-media';
import { chromium } from 'playwright-core';
import { writeCluster, writeMkvHeader } from '../../video/mkv/writer.js';
import { startLiveCamera } from '../console/browser.js';
import { startVideoServer, videoClients, videoTest, type VideoClients } from '../helpers/video.js';
import { probeVideo, scratchDir } from '../video/media-tools.js';
import { cameraFile, createVideoStream, putBytes } from './media.js';
import { START_MS, get, streamWithCamera, tagValues, uriLines } from './playback.js';

type SessionRequest = Omit<GetHLSStreamingSessionURLCommandInput, 'StreamName'>;

async function sessionUrl(archived: VideoClients['archived'], stream: string, request: SessionRequest): Promise<string> {
  return (await archived.send(new GetHLSStreamingSessionURLCommand({ StreamName: stream, ...request }))).HLSStreamingSessionURL!;
}

/** ON_DEMAND by producer time over [START_MS + fromMs, START_MS + toMs]. */
function onDemand(fromMs: number, toMs: number, extra: SessionRequest = {}): SessionRequest {
  return {
    PlaybackMode: 'ON_DEMAND',
    HLSFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(START_MS + fromMs), EndTimestamp: new Date(START_MS + toMs) } },
    ...extra,
  };
}

/** The media playlist a master playlist points at, and its URL. */
async function mediaPlaylistOf(masterUrl: string): Promise<{ url: string; text: string }> {
  const master = await get(masterUrl);
  const url = new URL(uriLines(master.text)[0]!, masterUrl).toString();
  return { url, text: (await get(url)).text };
}

videoTest('HLS ON_DEMAND in fragmented MP4: playlists describe the fragments and every segment decodes', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const masterUrl = await sessionUrl(archived, 'camera', onDemand(0, 10_000));
  t.true(masterUrl.startsWith(`${url}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=`));

  const master = await get(masterUrl);
  t.is(master.status, 200);
  t.is(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  t.regex(master.text, /#EXT-X-STREAM-INF:BANDWIDTH=\d+,CODECS="avc1\.[0-9a-f]{6}",RESOLUTION=320x240/);

  const media = await mediaPlaylistOf(masterUrl);
  t.deepEqual(tagValues(media.text, 'EXT-X-VERSION'), ['7']);
  t.deepEqual(tagValues(media.text, 'EXT-X-MEDIA-SEQUENCE'), ['0']);
  t.deepEqual(tagValues(media.text, 'EXT-X-TARGETDURATION'), ['1']);
  t.deepEqual(tagValues(media.text, 'EXTINF'), Array(5).fill('1.000,'));
  t.deepEqual(tagValues(media.text, 'EXT-X-PROGRAM-DATE-TIME'), [0, 1, 2, 3, 4].map((i) => new Date(START_MS + i * 1000).toISOString()));
  t.deepEqual(tagValues(media.text, 'EXT-X-DISCONTINUITY'), [], 'a producer-time session has no discontinuities by default');
  t.deepEqual(tagValues(media.text, 'EXT-X-ENDLIST'), ['']);
  t.deepEqual(tagValues(media.text, 'EXT-X-SERVER-CONTROL'), [], 'a finished playlist offers no blocking reload');
  const listed = (await archived.send(new ListFragmentsCommand({ StreamName: 'camera' }))).Fragments!;
  const segments = uriLines(media.text);
  t.deepEqual(
    segments.map((uri) => new URL(uri, media.url).searchParams.get('FragmentNumber')),
    listed.map((fragment) => fragment.FragmentNumber),
  );

  const mapUri = /#EXT-X-MAP:URI="([^"]+)"/.exec(media.text)![1]!;
  const init = await get(mapUri, media.url);
  t.is(init.headers.get('content-type'), 'video/mp4');
  const scratch = await scratchDir();
  t.teardown(scratch.cleanup);
  const bodies: Uint8Array[] = [];
  for (const uri of segments) {
    const segment = await get(uri, media.url);
    t.is(segment.status, 200);
    bodies.push(segment.bytes);
    const probed = await probeVideo({ dir: scratch.path, bytes: Buffer.concat([init.bytes, segment.bytes]) });
    t.like(probed, { codec: 'h264', width: 320, height: 240, frames: 30 });
  }
  t.is((await probeVideo({ dir: scratch.path, bytes: Buffer.concat([init.bytes, ...bodies]) })).frames, 150);
  // FFmpeg as an HLS player: the master playlist URL alone is enough.
  t.is((await probeVideo(masterUrl)).frames, 150);
});

videoTest('HLS marks discontinuities where the producer timeline jumps, as DiscontinuityMode says', async (t, { url, video, archived }) => {
  // Two recordings 20 s apart: a 15 s hole after the fifth fragment.
  await streamWithCamera(video, url, 'camera', [START_MS, START_MS + 20_000]);
  const discontinuities = async (mode: 'ALWAYS' | 'NEVER' | 'ON_DISCONTINUITY') => {
    const { text } = await mediaPlaylistOf(await sessionUrl(archived, 'camera', onDemand(0, 30_000, { DiscontinuityMode: mode })));
    // The index of the segment each marker precedes.
    const lines = text.split('\n');
    return lines.flatMap((line, index) => (line === '#EXT-X-DISCONTINUITY' ? [uriLines(lines.slice(0, index).join('\n')).length] : []));
  };
  t.deepEqual(await discontinuities('ON_DISCONTINUITY'), [5]);
  t.deepEqual(await discontinuities('ALWAYS'), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.deepEqual(await discontinuities('NEVER'), []);

  const capped = await mediaPlaylistOf(await sessionUrl(archived, 'camera', onDemand(0, 30_000, { MaxMediaPlaylistFragmentResults: 3 })));
  t.is(uriLines(capped.text).length, 3, 'ON_DEMAND lists the oldest MaxMediaPlaylistFragmentResults');
  t.deepEqual(tagValues(capped.text, 'EXT-X-PROGRAM-DATE-TIME')[0], new Date(START_MS).toISOString());
});

videoTest('HLS in MPEG-TS: version 3 playlists, no init segment, every segment decodes alone', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const media = await mediaPlaylistOf(await sessionUrl(archived, 'camera', onDemand(0, 10_000, { ContainerFormat: 'MPEG_TS' })));
  t.deepEqual(tagValues(media.text, 'EXT-X-VERSION'), ['3']);
  t.false(media.text.includes('#EXT-X-MAP'));
  const segments = uriLines(media.text);
  t.is(segments.length, 5);
  const scratch = await scratchDir();
  t.teardown(scratch.cleanup);
  for (const uri of segments) {
    t.true(uri.startsWith('getTSFragment.ts?'));
    const segment = await get(uri, media.url);
    t.is(segment.headers.get('content-type'), 'video/mp2t');
    t.like(await probeVideo({ dir: scratch.path, bytes: segment.bytes }), { codec: 'h264', width: 320, height: 240, frames: 30 });
  }
});

videoTest('HLS LIVE lists the newest fragments and a blocking reload returns as soon as the next one is stored', async (t, { url, video, archived }) => {
  const startMs = Date.now() - 10_000;
  await streamWithCamera(video, url, 'camera', [startMs]);
  const masterUrl = await sessionUrl(archived, 'camera', { PlaybackMode: 'LIVE', MaxMediaPlaylistFragmentResults: 3 });
  const first = await mediaPlaylistOf(masterUrl);
  t.is(uriLines(first.text).length, 3);
  t.deepEqual(tagValues(first.text, 'EXT-X-MEDIA-SEQUENCE'), ['0']);
  t.deepEqual(tagValues(first.text, 'EXT-X-ENDLIST'), []);
  t.deepEqual(tagValues(first.text, 'EXT-X-SERVER-CONTROL'), ['CAN-BLOCK-RELOAD=YES']);
  t.deepEqual(tagValues(first.text, 'EXT-X-PROGRAM-DATE-TIME')[0], new Date(startMs + 2000).toISOString());

  // Ask for media sequence 3 before it exists; it comes with the next recording.
  const blockingUrl = `${first.url}&_HLS_msn=3`;
  let answeredAt = 0;
  const blocked = get(blockingUrl).then((reply) => ((answeredAt = Date.now()), reply));
  await setTimeout(500);
  t.is(answeredAt, 0, 'the reload waits for the sequence asked for');
  const putStartedAt = Date.now();
  const putting = putBytes({ endpoint: url, streamName: 'camera', producerStartTimestampMs: startMs + 5000 }, await cameraFile());
  const reloaded = await blocked;
  t.true(answeredAt - putStartedAt < 2000, `answered ${answeredAt - putStartedAt} ms after the put began`);
  const sequence = Number(tagValues(reloaded.text, 'EXT-X-MEDIA-SEQUENCE')[0]);
  t.true(sequence + uriLines(reloaded.text).length - 1 >= 3);
  await putting;

  const settled = (await get(first.url)).text;
  t.deepEqual(tagValues(settled, 'EXT-X-MEDIA-SEQUENCE'), ['5'], 'sequence numbers count fragments from the first one listed (the third of ten)');
  t.deepEqual(tagValues(settled, 'EXT-X-PROGRAM-DATE-TIME'), [7, 8, 9].map((i) => new Date(startMs + i * 1000).toISOString()));
});

videoTest('HLS LIVE_REPLAY releases fragments as time passes, from the start time, and ends at EndTimestamp', async (t, { url, video, archived, clock }) => {
  // Replay time is server time since the session began: only the test moves it.
  clock.freeze();
  await streamWithCamera(video, url, 'camera', [START_MS, START_MS + 5000]);
  const replay = (end?: number): SessionRequest => ({
    PlaybackMode: 'LIVE_REPLAY',
    MaxMediaPlaylistFragmentResults: 3,
    HLSFragmentSelector: {
      FragmentSelectorType: 'PRODUCER_TIMESTAMP',
      TimestampRange: { StartTimestamp: new Date(START_MS + 1000), ...(end !== undefined ? { EndTimestamp: new Date(START_MS + end) } : {}) },
    },
  });
  const open = await mediaPlaylistOf(await sessionUrl(archived, 'camera', replay()));
  const bounded = await mediaPlaylistOf(await sessionUrl(archived, 'camera', replay(7000)));
  const window = (text: string) => [tagValues(text, 'EXT-X-MEDIA-SEQUENCE')[0], tagValues(text, 'EXT-X-PROGRAM-DATE-TIME').map((time) => (Date.parse(time) - START_MS) / 1000), tagValues(text, 'EXT-X-ENDLIST').length];
  t.deepEqual(window(open.text), ['0', [1, 2, 3], 0]);

  clock.advance(2000);
  t.deepEqual(window((await get(open.url)).text), ['2', [3, 4, 5], 0]);
  clock.advance(60_000);
  t.deepEqual(window((await get(open.url)).text), ['6', [7, 8, 9], 0], 'without an EndTimestamp the replay stays open');
  t.deepEqual(window((await get(bounded.url)).text), ['4', [5, 6, 7], 1]);
});

videoTest('HLS sessions fail as AWS does, and an expired or forged token is refused with 403', async (t, { url, video, archived, clock }) => {
  await streamWithCamera(video, url, 'camera');
  await video.send(new CreateStreamCommand({ StreamName: 'unkept', DataRetentionInHours: 0 }));
  await video.send(new CreateStreamCommand({ StreamName: 'empty', DataRetentionInHours: 1 }));
  const refused = (stream: string, request: SessionRequest) => t.throwsAsync(sessionUrl(archived, stream, request));

  t.is((await refused('nothing', { PlaybackMode: 'LIVE' }))?.name, 'ResourceNotFoundException');
  t.is((await refused('unkept', { PlaybackMode: 'LIVE' }))?.name, 'NoDataRetentionException');
  t.regex((await refused('empty', { PlaybackMode: 'LIVE' }))?.message ?? '', /No fragments found/);
  t.is((await refused('camera', { PlaybackMode: 'ON_DEMAND' }))?.name, 'InvalidArgumentException');
  t.is((await refused('camera', onDemand(0, 10_000, { Expires: 299 })))?.name, 'InvalidArgumentException');
  t.is((await refused('camera', onDemand(20_000, 30_000)))?.name, 'ResourceNotFoundException');

  // Media HLS cannot carry: a VP8 track, and H.264 without its CodecPrivate.
  const frame = { track: 1, timecode: 0, keyframe: true, data: new Uint8Array(64) };
  for (const [name, codecId] of [['vp8', 'V_VP8'], ['bare', 'V_MPEG4/ISO/AVC']] as const) {
    await createVideoStream(video, name);
    const bytes = Buffer.concat([writeMkvHeader([{ number: 1, type: 1, codecId }]), writeCluster(START_MS, [frame]), writeCluster(START_MS + 1000, [frame])]);
    await putBytes({ endpoint: url, streamName: name, timecodeType: 'ABSOLUTE' }, bytes);
  }
  t.is((await refused('vp8', onDemand(0, 10_000)))?.name, 'UnsupportedStreamMediaTypeException');
  t.is((await refused('bare', onDemand(0, 10_000)))?.name, 'MissingCodecPrivateDataException');

  // A session plays its own range: a fragment outside it is not found through its token.
  const narrow = await mediaPlaylistOf(await sessionUrl(archived, 'camera', onDemand(0, 1500)));
  const inside = uriLines(narrow.text)[1]!;
  const last = (await archived.send(new ListFragmentsCommand({ StreamName: 'camera' }))).Fragments!.at(-1)!.FragmentNumber!;
  t.is((await get(inside, narrow.url)).status, 200);
  t.is((await get(inside.replace(/FragmentNumber=\d+/, `FragmentNumber=${last}`), narrow.url)).status, 404);

  const masterUrl = await sessionUrl(archived, 'camera', onDemand(0, 10_000, { Expires: 300 }));
  const token = new URL(masterUrl).searchParams.get('SessionToken')!;
  const forged = masterUrl.replace(token, token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11));
  const garbled = await get(forged);
  t.is(garbled.status, 403);
  t.is(garbled.headers.get('x-amzn-errortype'), 'NotAuthorizedException');
  t.is((await get(masterUrl)).status, 200);
  clock.advance(301_000);
  const expired = await get(masterUrl);
  t.is(expired.status, 403);
  t.is(expired.headers.get('x-amzn-errortype'), 'NotAuthorizedException');
  t.regex(JSON.parse(expired.text).message, /expired/);
  // Five minutes on, the newest fragment is too old for LIVE.
  t.regex((await refused('camera', { PlaybackMode: 'LIVE' }))?.message ?? '', /No fragments found/);
});

test('hls.js in chromium plays a LIVE session close behind the camera, using blocking reloads', async (t) => {
  const { url } = await startVideoServer(t);
  const { video, archived } = videoClients(url, 'h2', t);
  await createVideoStream(video, 'live');
  const camera = await startLiveCamera(url, 'live');
  t.teardown(() => camera.stop());
  let masterUrl: string | undefined;
  for (let tries = 0; !masterUrl; tries++) {
    masterUrl = await sessionUrl(archived, 'live', { PlaybackMode: 'LIVE' }).catch((error: Error) => {
      if (tries > 50) throw error;
      return setTimeout(200, undefined);
    });
  }

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const blockingReloads: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('_HLS_msn=')) blockingReloads.push(request.url());
  });
  // A page of another origin: playback GETs must allow it (CORS), as on AWS.
  await page.addScriptTag({ path: 'node_modules/hls.js/dist/hls.min.js' });
  const played = await page.evaluate(async (source) => {
    const HlsPlayer = (globalThis as unknown as { Hls: new (config: object) => HlsLike }).Hls;
    interface HlsLike {
      loadSource(url: string): void;
      attachMedia(media: HTMLMediaElement): void;
      on(event: string, listener: (event: string, data: { fatal?: boolean; details?: string }) => void): void;
      playingDate: Date | null;
    }
    const media = document.createElement('video');
    media.muted = true;
    document.body.append(media);
    const hls = new HlsPlayer({ lowLatencyMode: true, liveSyncDurationCount: 1 });
    const errors: string[] = [];
    hls.on('hlsError', (_event, data) => {
      if (data.fatal) errors.push(data.details ?? 'fatal');
    });
    hls.loadSource(source);
    hls.attachMedia(media);
    void media.play().catch(() => undefined);
    const until = Date.now() + 20_000;
    while (media.currentTime < 3 && Date.now() < until && errors.length === 0) await new Promise((resolve) => window.setTimeout(resolve, 100));
    const latencies: number[] = [];
    for (let i = 0; i < 10 && errors.length === 0; i++) {
      if (hls.playingDate) latencies.push(Date.now() - hls.playingDate.getTime());
      await new Promise((resolve) => window.setTimeout(resolve, 200));
    }
    return { currentTime: media.currentTime, width: media.videoWidth, latencies, errors };
  }, masterUrl);

  t.deepEqual(played.errors, []);
  t.true(played.currentTime >= 3, `played ${played.currentTime} s`);
  t.is(played.width, 320);
  const latency = Math.max(...played.latencies);
  t.log(`camera → screen latency ${Math.min(...played.latencies)}–${latency} ms`);
  t.true(latency < 4500, `the player runs ${latency} ms behind the camera`);
  t.true(blockingReloads.length > 0, 'hls.js reloads the playlist with _HLS_msn');
});
