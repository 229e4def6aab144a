// GetImages through the real SDK client over both transports: images come back at the sampling
// interval with their timestamps, decode with ffprobe at the size asked for, and bad ranges fail.

import { GetImagesCommand, type GetImagesCommandInput, type Image } from '@aws-sdk/client-kinesis-video-archived-media';
import { videoTest, type VideoClients } from '../helpers/video.js';
import { probeVideo, scratchDir } from '../video/media-tools.js';
import { START_MS, streamWithCamera } from './playback.js';

type ImagesRequest = Omit<GetImagesCommandInput, 'StreamName' | 'ImageSelectorType' | 'StartTimestamp' | 'EndTimestamp'>;

/** GetImages by producer time over [START_MS + fromMs, START_MS + toMs]. */
function images(archived: VideoClients['archived'], fromMs: number, toMs: number, request: ImagesRequest) {
  return archived.send(
    new GetImagesCommand({ StreamName: 'camera', ImageSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: new Date(START_MS + fromMs), EndTimestamp: new Date(START_MS + toMs), ...request }),
  );
}

const offsets = (list: Image[]) => list.map((image) => image.TimeStamp!.getTime() - START_MS);

videoTest('GetImages samples the range at the interval, as JPEG or PNG at the size asked for', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const scratch = await scratchDir();
  t.teardown(scratch.cleanup);
  const probe = (image: Image) => probeVideo({ dir: scratch.path, bytes: Buffer.from(image.ImageContent!, 'base64') });

  // Width alone keeps the 4:3 picture's aspect ratio; the last two samples are after the recording.
  const jpeg = await images(archived, 2500, 6500, { Format: 'JPEG', SamplingInterval: 1000, WidthPixels: 160, FormatConfig: { JPEGQuality: '60' } });
  t.deepEqual(offsets(jpeg.Images!), [2500, 3500, 4500, 5500, 6500]);
  t.deepEqual(jpeg.Images!.map((image) => image.Error), [undefined, undefined, undefined, 'NO_MEDIA', 'NO_MEDIA']);
  t.is(jpeg.NextToken, undefined);
  for (const image of jpeg.Images!.slice(0, 3)) t.like(await probe(image), { codec: 'mjpeg', width: 160, height: 120, frames: 1 });

  const png = await images(archived, 0, 100, { Format: 'PNG', SamplingInterval: 200, HeightPixels: 60 });
  t.deepEqual(offsets(png.Images!), [0], 'a range shorter than the interval gives the image at its start');
  t.like(await probe(png.Images![0]!), { codec: 'png', width: 80, height: 60 });

  const full = await images(archived, 0, 0, { Format: 'JPEG' });
  t.like(await probe(full.Images![0]!), { width: 320, height: 240 });
});

videoTest('GetImages pages 25 images at a time with NextToken', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const first = await images(archived, 0, 5000, { Format: 'JPEG', SamplingInterval: 200, WidthPixels: 32, HeightPixels: 24 });
  t.is(first.Images!.length, 25);
  t.truthy(first.NextToken);
  const second = await images(archived, 0, 5000, { Format: 'JPEG', SamplingInterval: 200, WidthPixels: 32, HeightPixels: 24, NextToken: first.NextToken! });
  t.deepEqual(offsets([...first.Images!, ...second.Images!]), Array.from({ length: 26 }, (_, i) => i * 200));
  t.is(second.NextToken, undefined);
  t.deepEqual(second.Images!.map((image) => image.Error), ['NO_MEDIA'], 'the recording ends at 5 s');
  t.true(first.Images!.every((image) => image.Error === undefined && image.ImageContent!.length > 0));

  const few = await images(archived, 0, 5000, { Format: 'JPEG', SamplingInterval: 1000, WidthPixels: 32, HeightPixels: 24, MaxResults: 2 });
  t.is(few.Images!.length, 2);
  t.truthy(few.NextToken);
});

videoTest('GetImages refuses bad ranges and intervals', async (t, { url, video, archived }) => {
  await streamWithCamera(video, url, 'camera');
  const refused = async (fromMs: number, toMs: number, request: ImagesRequest) => (await t.throwsAsync(images(archived, fromMs, toMs, request)))?.name;
  t.is(await refused(0, 300_001, { Format: 'JPEG', SamplingInterval: 1000 }), 'InvalidArgumentException');
  t.is(await refused(2000, 1000, { Format: 'JPEG', SamplingInterval: 1000 }), 'InvalidArgumentException');
  t.is(await refused(0, 1000, { Format: 'JPEG', SamplingInterval: 199 }), 'InvalidArgumentException');
  t.is(await refused(0, 1000, { Format: 'JPEG', FormatConfig: { JPEGQuality: '101' } }), 'InvalidArgumentException');
});
