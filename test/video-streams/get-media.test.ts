// GetMedia through the real SDK client (@aws-sdk/client-kinesis-video-media), over both
// transports: every start selector, the tags around each fragment, live tailing, the reader
// limit, and ffprobe accepting what comes out.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { GetMediaCommand, type KinesisVideoMediaClient, type StartSelector } from '@aws-sdk/client-kinesis-video-media';
import { DeleteStreamCommand, DescribeStreamCommand } from '@aws-sdk/client-kinesis-video';
import type { MkvEvent } from '../../video/mkv/model.js';
import { MkvStreamReader } from '../../video/mkv/stream-reader.js';
import { TRANSPORTS, startVideoServer, videoClients, type Transport, type VideoClients } from '../helpers/video.js';
import { FRAGMENTS, FRAMES, cameraFile, clustersOf, createVideoStream, putBytes, readUntil, tagValue } from './media.js';

const run = promisify(execFile);
const START_MS = 1_795_000_000_000;

/** One fragment as GetMedia framed it: the tags before and after its Cluster. */
interface ReadFragment {
  number: string;
  serverTimestamp: string;
  producerTimestamp: string;
  cluster?: Uint8Array;
  millisBehindNow?: string;
  continuationToken?: string;
}

/** Groups GetMedia events per fragment, checking each comes as header, tags, Cluster, tags. */
function fragmentsOf(events: MkvEvent[]): ReadFragment[] {
  const fragments: ReadFragment[] = [];
  let expect: MkvEvent['type'][] = [];
  for (const event of events) {
    if (event.type === 'header') {
      if (expect.length > 0) throw new Error(`header where ${expect[0]} was due`);
      expect = ['tags', 'cluster', 'tags'];
      continue;
    }
    if (expect.shift() !== event.type) throw new Error(`unexpected ${event.type}`);
    if (event.type === 'cluster') fragments[fragments.length - 1]!.cluster = event.cluster.bytes;
    else if (expect.length === 2) {
      fragments.push({
        number: tagValue(event.tags, 'AWS_KINESISVIDEO_FRAGMENT_NUMBER')!,
        serverTimestamp: tagValue(event.tags, 'AWS_KINESISVIDEO_SERVER_TIMESTAMP')!,
        producerTimestamp: tagValue(event.tags, 'AWS_KINESISVIDEO_PRODUCER_TIMESTAMP')!,
      });
    } else {
      const last = fragments[fragments.length - 1]!;
      last.millisBehindNow = tagValue(event.tags, 'AWS_KINESISVIDEO_MILLIS_BEHIND_NOW');
      last.continuationToken = tagValue(event.tags, 'AWS_KINESISVIDEO_CONTINUATION_TOKEN');
    }
  }
  return fragments;
}

/** Starts GetMedia and reads until `count` fragments have come whole; the call is then dropped. */
async function getFragments(media: KinesisVideoMediaClient, selector: StartSelector, count: number): Promise<{ fragments: ReadFragment[]; bytes: Uint8Array; contentType?: string }> {
  const abort = new AbortController();
  try {
    const output = await media.send(new GetMediaCommand({ StreamName: 'camera', StartSelector: selector }), { abortSignal: abort.signal });
    const { bytes, events } = await readUntil(output.Payload, (so) => fragmentsOf(so).filter((fragment) => fragment.continuationToken).length >= count);
    return { fragments: fragmentsOf(events), bytes, ...(output.ContentType ? { contentType: output.ContentType } : {}) };
  } finally {
    abort.abort();
  }
}

async function cameraStream(t: ExecutionContext, transport: Transport): Promise<{ url: string; clients: VideoClients }> {
  const { url } = await startVideoServer(t);
  const clients = videoClients(url, transport);
  await createVideoStream(clients.video, 'camera');
  await putBytes({ endpoint: url, streamName: 'camera', producerStartTimestampMs: START_MS }, await cameraFile());
  return { url, clients };
}

for (const transport of TRANSPORTS) {
  test(`GetMedia EARLIEST sends each fragment framed by its tags, and ffprobe counts every frame [${transport}]`, async (t) => {
    const { clients } = await cameraStream(t, transport);
    const { fragments, bytes, contentType } = await getFragments(clients.media, { StartSelectorType: 'EARLIEST' }, FRAGMENTS);

    t.is(contentType, 'video/webm');
    const sent = clustersOf(await cameraFile());
    t.is(fragments.length, FRAGMENTS);
    fragments.forEach((fragment, index) => {
      t.deepEqual(fragment.cluster, sent[index]!.bytes, `cluster ${index}`);
      t.is(fragment.producerTimestamp, ((START_MS + index * 1000) / 1000).toFixed(3));
      t.regex(fragment.serverTimestamp, /^\d{10}\.\d{3}$/);
      t.is(fragment.continuationToken, fragment.number);
      t.regex(fragment.millisBehindNow!, /^\d+$/);
    });

    const dir = await mkdtemp(join(tmpdir(), 'rivulet-get-media-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'out.mkv'), bytes);
    const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'csv=p=0', join(dir, 'out.mkv')]);
    t.is(stdout.trim(), `h264,320,240,${FRAMES}`);
  });

  test(`GetMedia starts after a continuation token or fragment number, and at a producer or server timestamp [${transport}]`, async (t) => {
    const { clients } = await cameraStream(t, transport);
    const { fragments: all } = await getFragments(clients.media, { StartSelectorType: 'EARLIEST' }, FRAGMENTS);
    const numbers = all.map((fragment) => fragment.number);

    const resumed = await getFragments(clients.media, { StartSelectorType: 'CONTINUATION_TOKEN', ContinuationToken: all[1]!.continuationToken! }, 1);
    t.is(resumed.fragments[0]!.number, numbers[2]);
    const after = await getFragments(clients.media, { StartSelectorType: 'FRAGMENT_NUMBER', AfterFragmentNumber: numbers[3] }, 1);
    t.is(after.fragments[0]!.number, numbers[4]);
    const byProducer = await getFragments(clients.media, { StartSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: new Date(START_MS + 1500) }, 1);
    t.is(byProducer.fragments[0]!.number, numbers[2]);

    const listed = await clients.archived.send(new ListFragmentsCommand({ StreamName: 'camera' }));
    const third = listed.Fragments!.find((fragment) => fragment.FragmentNumber === numbers[2])!;
    const firstAtThatTime = listed.Fragments!.find((fragment) => fragment.ServerTimestamp!.getTime() >= third.ServerTimestamp!.getTime())!;
    const byServer = await getFragments(clients.media, { StartSelectorType: 'SERVER_TIMESTAMP', StartTimestamp: third.ServerTimestamp }, 1);
    t.is(byServer.fragments[0]!.number, firstAtThatTime.FragmentNumber!);
  });

  test(`GetMedia NOW waits for and delivers a fragment put after it started [${transport}]`, async (t) => {
    const { url, clients } = await cameraStream(t, transport);
    const abort = new AbortController();
    t.teardown(() => abort.abort());
    const output = await clients.media.send(new GetMediaCommand({ StreamName: 'camera', StartSelector: { StartSelectorType: 'NOW' } }), { abortSignal: abort.signal });
    const reading = readUntil(output.Payload, (events) => fragmentsOf(events).some((fragment) => fragment.continuationToken));

    const acks = await putBytes({ endpoint: url, streamName: 'camera', producerStartTimestampMs: START_MS + 60_000 }, await cameraFile());
    const firstNew = acks.find((ack) => ack.EventType === 'PERSISTED')!.FragmentNumber!;
    const [live] = fragmentsOf((await reading).events);
    t.is(live!.number, firstNew);
    t.is(live!.producerTimestamp, ((START_MS + 60_000) / 1000).toFixed(3));
  });

  test(`a live GetMedia whose stream is deleted ends with AWS's error tags (4000) instead of waiting forever [${transport}]`, async (t) => {
    const { clients } = await cameraStream(t, transport);
    const media = await clients.media.send(new GetMediaCommand({ StreamName: 'camera', StartSelector: { StartSelectorType: 'EARLIEST' } }));
    const events: MkvEvent[] = [];
    const reading = (async () => {
      const reader = new MkvStreamReader();
      for await (const chunk of media.Payload as AsyncIterable<Uint8Array>) events.push(...reader.push(chunk));
    })();
    // Everything stored is read, then the call tails; the stream goes away under it.
    while (events.filter((event) => event.type === 'cluster').length < FRAGMENTS) await new Promise((resolve) => setTimeout(resolve, 20));
    const { StreamInfo } = await clients.video.send(new DescribeStreamCommand({ StreamName: 'camera' }));
    await clients.video.send(new DeleteStreamCommand({ StreamARN: StreamInfo!.StreamARN! }));
    await reading;
    const last = events.at(-1)!;
    t.is(last.type, 'tags');
    const tags = last.type === 'tags' ? last.tags : [];
    t.is(tagValue(tags, 'AWS_KINESISVIDEO_ERROR_ID'), '4000');
    t.is(tagValue(tags, 'AWS_KINESISVIDEO_ERROR_CODE'), 'Requested fragment is not found');
  });

  test(`a fourth concurrent GetMedia on a stream is refused with ClientLimitExceededException, an unknown stream with ResourceNotFoundException [${transport}]`, async (t) => {
    const { clients } = await cameraStream(t, transport);
    const abort = new AbortController();
    t.teardown(() => abort.abort());
    const readers = [];
    for (let i = 0; i < 3; i++) {
      readers.push(await clients.media.send(new GetMediaCommand({ StreamName: 'camera', StartSelector: { StartSelectorType: 'NOW' } }), { abortSignal: abort.signal }));
    }
    const refused = await t.throwsAsync(clients.media.send(new GetMediaCommand({ StreamName: 'camera', StartSelector: { StartSelectorType: 'NOW' } })));
    t.is(refused?.name, 'ClientLimitExceededException');

    const missing = await t.throwsAsync(clients.media.send(new GetMediaCommand({ StreamName: 'nobody', StartSelector: { StartSelectorType: 'EARLIEST' } })));
    t.is(missing?.name, 'ResourceNotFoundException');
    t.is(readers.length, 3);
  });
}
