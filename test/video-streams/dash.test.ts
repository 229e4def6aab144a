// DASH playback through the real SDK client (GetDASHStreamingSessionURL) over both transports:
// the manifest is read by FFmpeg's DASH demuxer and checked for its structure, and every
// segment it names decodes.

import { GetDASHStreamingSessionURLCommand, type GetDASHStreamingSessionURLCommandInput } from '@aws-sdk/client-kinesis-video-archived-media';
import { videoTest, type VideoClients } from '../helpers/video.js';
import { probeVideo, scratchDir } from '../video/media-tools.js';
import { START_MS, get, streamWithCamera } from './playback.js';

async function manifestUrl(archived: VideoClients['archived'], request: Omit<GetDASHStreamingSessionURLCommandInput, 'StreamName'>): Promise<string> {
  return (await archived.send(new GetDASHStreamingSessionURLCommand({ StreamName: 'camera', ...request }))).DASHStreamingSessionURL!;
}

/** An attribute of the first element named `element`. */
function attribute(mpd: string, element: string, name: string): string | undefined {
  const tag = new RegExp(`<${element}\\b[^>]*>`).exec(mpd)?.[0];
  return tag ? new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1] : undefined;
}

const unescape = (value: string) => value.replace(/&amp;/g, '&');

videoTest('DASH ON_DEMAND: a static manifest FFmpeg plays, whose segments all decode', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const mpdUrl = await manifestUrl(archived, {
    PlaybackMode: 'ON_DEMAND',
    DASHFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(START_MS), EndTimestamp: new Date(START_MS + 10_000) } },
  });
  t.true(mpdUrl.startsWith(`${url}/dash/v1/getDASHManifest.mpd?SessionToken=`));
  const mpd = await get(mpdUrl);
  t.is(mpd.headers.get('content-type'), 'application/dash+xml');
  t.is(attribute(mpd.text, 'MPD', 'type'), 'static');
  t.is(attribute(mpd.text, 'MPD', 'mediaPresentationDuration'), 'PT5.000S');
  t.regex(attribute(mpd.text, 'Representation', 'codecs') ?? '', /^avc1\.[0-9a-f]{6}$/);
  t.is(attribute(mpd.text, 'Representation', 'width'), '320');
  t.is(attribute(mpd.text, 'SegmentList', 'presentationTimeOffset'), String(START_MS));
  t.deepEqual([...mpd.text.matchAll(/<S( t="(\d+)")? d="(\d+)"\/>/g)].map((match) => [match[2], match[3]]), [[String(START_MS), '1000'], ...Array(4).fill([undefined, '1000'])]);

  const scratch = await scratchDir();
  t.teardown(scratch.cleanup);
  const init = await get(unescape(attribute(mpd.text, 'Initialization', 'sourceURL')!), mpdUrl);
  const segments = [...mpd.text.matchAll(/<SegmentURL media="([^"]+)"\/>/g)].map((match) => unescape(match[1]!));
  t.is(segments.length, 5);
  for (const segment of segments) {
    const media = await get(segment, mpdUrl);
    t.is(media.status, 200);
    t.is((await probeVideo({ dir: scratch.path, bytes: Buffer.concat([init.bytes, media.bytes]) })).frames, 30);
  }
  // FFmpeg as a DASH player, from the manifest URL alone.
  t.like(await probeVideo(mpdUrl), { codec: 'h264', width: 320, height: 240, frames: 150 });
});

videoTest('DASH LIVE: a dynamic manifest of the newest fragments on a wall-clock timeline', async (t, { url, video, archived }) => {
  const startMs = Date.now() - 10_000;
  await streamWithCamera(video, url, 'camera', [startMs]);
  const mpdUrl = await manifestUrl(archived, { PlaybackMode: 'LIVE', MaxManifestFragmentResults: 3 });
  const mpd = (await get(mpdUrl)).text;
  t.is(attribute(mpd, 'MPD', 'type'), 'dynamic');
  t.is(attribute(mpd, 'MPD', 'availabilityStartTime'), '1970-01-01T00:00:00Z');
  t.true(Math.abs(Date.parse(attribute(mpd, 'MPD', 'publishTime')!) - Date.now()) < 10_000);
  t.is(attribute(mpd, 'MPD', 'minimumUpdatePeriod'), 'PT1.000S');
  t.is(attribute(mpd, 'SegmentList', 'presentationTimeOffset'), undefined);
  t.is(attribute(mpd, 'S', 't'), String(startMs + 2000), 'media time is the producer time of the first listed fragment');
  t.is([...mpd.matchAll(/<SegmentURL /g)].length, 3);
});
