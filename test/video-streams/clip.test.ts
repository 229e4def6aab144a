// GetClip through the real SDK client over both transports: the MP4 it returns is checked by
// ffprobe decoding every frame.

import { GetClipCommand, type ClipFragmentSelector } from '@aws-sdk/client-kinesis-video-archived-media';
import { videoTest } from '../helpers/video.js';
import { probeVideo, scratchDir } from '../video/media-tools.js';
import { START_MS, streamWithCamera } from './playback.js';

const byProducerTime = (fromMs: number, toMs: number): ClipFragmentSelector => ({
  FragmentSelectorType: 'PRODUCER_TIMESTAMP',
  TimestampRange: { StartTimestamp: new Date(START_MS + fromMs), EndTimestamp: new Date(START_MS + toMs) },
});

videoTest('GetClip returns one MP4 of the fragments in the range, every frame decodable', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const scratch = await scratchDir();
  t.teardown(scratch.cleanup);

  const whole = await archived.send(new GetClipCommand({ StreamName: 'camera', ClipFragmentSelector: byProducerTime(0, 10_000) }));
  t.is(whole.ContentType, 'video/mp4');
  const bytes = await whole.Payload!.transformToByteArray();
  t.is(Buffer.from(bytes.subarray(4, 8)).toString('latin1'), 'ftyp');
  t.like(await probeVideo({ dir: scratch.path, bytes }), { codec: 'h264', width: 320, height: 240, frames: 150 });

  // Fragments whose producer time is in [1 s, 2.5 s]: the second and the third.
  const part = await archived.send(new GetClipCommand({ StreamName: 'camera', ClipFragmentSelector: byProducerTime(1000, 2500) }));
  t.is((await probeVideo({ dir: scratch.path, bytes: await part.Payload!.transformToByteArray() })).frames, 60);
});

videoTest('GetClip refuses what it cannot clip', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const refused = async (selector: ClipFragmentSelector, stream = 'camera') => (await t.throwsAsync(archived.send(new GetClipCommand({ StreamName: stream, ClipFragmentSelector: selector }))))?.name;
  t.is(await refused(byProducerTime(60_000, 70_000)), 'ResourceNotFoundException');
  t.is(await refused(byProducerTime(5000, 1000)), 'InvalidArgumentException');
  t.is(await refused(byProducerTime(0, 10_000), 'nothing'), 'ResourceNotFoundException');
});
