// ListFragments and GetMediaForFragmentList through the real SDK client
// (@aws-sdk/client-kinesis-video-archived-media), over both transports, on fragments put by the
// agent's PutMedia client.

import test from 'ava';
import { setTimeout } from 'node:timers/promises';
import {
  GetMediaForFragmentListCommand,
  ListFragmentsCommand,
  type Fragment,
  type KinesisVideoArchivedMediaClient,
} from '@aws-sdk/client-kinesis-video-archived-media';
import { openPutMedia } from '../../agent/video/put-media-client.js';
import type { Ack } from '../../ingest-server/video-streams/acks.js';
import type { MkvEvent } from '../../video/mkv/model.js';
import { writeCluster, writeMkvHeader, writeTags } from '../../video/mkv/writer.js';
import { TRANSPORTS, startVideoServer, videoClients } from '../helpers/video.js';
import { FRAGMENTS, cameraFile, clustersOf, createVideoStream, mkvEvents, putBytes, tagValue } from './media.js';

const START_MS = 1_795_000_000_000;

/** GetMediaForFragmentList's answer, read as Matroska events. */
async function mediaFor(archived: KinesisVideoArchivedMediaClient, stream: string, numbers: string[]): Promise<{ events: MkvEvent[]; contentType?: string }> {
  const output = await archived.send(new GetMediaForFragmentListCommand({ StreamName: stream, Fragments: numbers }));
  return { events: mkvEvents(await output.Payload!.transformToByteArray()), ...(output.ContentType ? { contentType: output.ContentType } : {}) };
}

for (const transport of TRANSPORTS) {
  test(`ListFragments lists what was put, in pages and by producer or server time [${transport}]`, async (t) => {
    const { url } = await startVideoServer(t);
    const { video, archived } = videoClients(url, transport);
    await createVideoStream(video, 'camera');
    await putBytes({ endpoint: url, streamName: 'camera', producerStartTimestampMs: START_MS }, await cameraFile());
    const sent = clustersOf(await cameraFile());

    const fragments: Fragment[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await archived.send(new ListFragmentsCommand({ StreamName: 'camera', MaxResults: 2, ...(nextToken ? { NextToken: nextToken } : {}) }));
      fragments.push(...page.Fragments!);
      nextToken = page.NextToken;
      pages++;
    } while (nextToken);
    t.is(pages, 3);
    t.is(fragments.length, FRAGMENTS);
    fragments.forEach((fragment, index) => {
      t.is(fragment.FragmentSizeInBytes, sent[index]!.bytes.length);
      t.is(fragment.ProducerTimestamp!.getTime(), START_MS + index * 1000);
      t.is(fragment.FragmentLengthInMilliseconds, 1000);
      t.true(Math.abs(fragment.ServerTimestamp!.getTime() - Date.now()) < 60_000);
      if (index > 0) t.true(BigInt(fragment.FragmentNumber!) > BigInt(fragments[index - 1]!.FragmentNumber!));
    });

    const middle = await archived.send(
      new ListFragmentsCommand({
        StreamName: 'camera',
        FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(START_MS + 1000), EndTimestamp: new Date(START_MS + 3000) } },
      }),
    );
    t.deepEqual(middle.Fragments!.map((fragment) => fragment.FragmentNumber), fragments.slice(1, 4).map((fragment) => fragment.FragmentNumber));
    const future = await archived.send(
      new ListFragmentsCommand({
        StreamName: 'camera',
        FragmentSelector: { FragmentSelectorType: 'SERVER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(Date.now() + 3_600_000), EndTimestamp: new Date(Date.now() + 7_200_000) } },
      }),
    );
    t.deepEqual(future.Fragments, []);
  });

  test(`GetMediaForFragmentList returns the Clusters byte for byte, in the order asked, with this call's tag spelling [${transport}]`, async (t) => {
    const { url } = await startVideoServer(t);
    const { video, archived } = videoClients(url, transport);
    await createVideoStream(video, 'camera');
    await putBytes({ endpoint: url, streamName: 'camera', producerStartTimestampMs: START_MS }, await cameraFile());
    const sent = clustersOf(await cameraFile());
    const numbers = (await archived.send(new ListFragmentsCommand({ StreamName: 'camera' }))).Fragments!.map((fragment) => fragment.FragmentNumber!);

    const asked = [numbers[3]!, numbers[0]!, numbers[1]!, numbers[2]!, numbers[4]!];
    const { events, contentType } = await mediaFor(archived, 'camera', asked);
    t.is(contentType, 'video/webm');
    t.deepEqual(events.map((event) => event.type), asked.flatMap(() => ['header', 'tags', 'cluster']));
    const tags = events.flatMap((event) => (event.type === 'tags' ? [event.tags] : []));
    const clusters = events.flatMap((event) => (event.type === 'cluster' ? [event.cluster.bytes] : []));
    asked.forEach((number, index) => {
      const sentIndex = numbers.indexOf(number);
      t.is(tagValue(tags[index]!, 'AWS_KINESISVIDEO_FRAGMENT_NUMBER'), number);
      t.is(tagValue(tags[index]!, 'AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP'), ((START_MS + sentIndex * 1000) / 1000).toFixed(3));
      t.regex(tagValue(tags[index]!, 'AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP')!, /^\d{10}\.\d{3}$/);
      t.deepEqual(clusters[index], sent[sentIndex]!.bytes, `fragment ${number}`);
    });
  });

  test(`producer tags sent after a Cluster come back after it [${transport}]`, async (t) => {
    const { url } = await startVideoServer(t);
    const { video, archived } = videoClients(url, transport);
    await createVideoStream(video, 'tagged');
    const track = { number: 1, type: 1, codecId: 'V_MPEG4/ISO/AVC' };
    const frame = { track: 1, timecode: 0, keyframe: true, data: new Uint8Array(64) };
    const tags = writeTags([{ name: 'GPS', value: '52.37,4.89' }]);
    const session = await openPutMedia({ endpoint: url, streamName: 'tagged', timecodeType: 'ABSOLUTE' });
    // The tags arrive in two pieces, apart in time, after their Cluster is complete.
    await session.write(Buffer.concat([writeMkvHeader([track]), writeCluster(START_MS, [frame]), tags.subarray(0, 9)]));
    await setTimeout(10);
    await session.write(Buffer.concat([tags.subarray(9), writeCluster(START_MS + 1000, [frame])]));
    const acks: Ack[] = [];
    const ending = session.end();
    for await (const ack of session) acks.push(ack);
    await ending;
    const numbers = acks.filter((ack) => ack.EventType === 'PERSISTED').map((ack) => ack.FragmentNumber!);
    t.is(numbers.length, 2);

    const { events } = await mediaFor(archived, 'tagged', numbers);
    t.deepEqual(events.map((event) => event.type), ['header', 'tags', 'cluster', 'tags', 'header', 'tags', 'cluster']);
    const producerTags = events[3]!;
    t.is(producerTags.type === 'tags' ? tagValue(producerTags.tags, 'GPS') : undefined, '52.37,4.89');
  });
}
