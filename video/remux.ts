// From a stored Kinesis Video fragment (the stream header it was put under + its Cluster) to what
// the fMP4 and MPEG-TS writers take: the H.264 track and its blocks on a millisecond timeline that
// starts at the fragment's producer timestamp.

import type { MkvBlock, MkvCluster, MkvHeader, MkvTrack } from './mkv/model.js';
import { MkvStreamReader } from './mkv/stream-reader.js';
import { AVC_CODEC_ID } from './mp4/avc-track.js';
import { UnsupportedStreamMediaTypeError } from './mp4/errors.js';
import type { RemuxFragment } from './mp4/fmp4.js';

/** The bytes of a stored fragment remuxing needs (a StoredFragment fits). */
export interface RemuxSource {
  header: Uint8Array;
  cluster: Uint8Array;
  producerTimestampMs: number;
  durationMs: number;
}

const VIDEO_TRACK_TYPE = 1;

/** Parses a stored fragment and picks its video track; block timecodes become ms from the producer timestamp. */
export function remuxFragmentOf(source: RemuxSource): { track: MkvTrack; fragment: RemuxFragment } {
  const reader = new MkvStreamReader();
  let header: MkvHeader | undefined;
  let cluster: MkvCluster | undefined;
  for (const event of [...reader.push(source.header), ...reader.push(source.cluster), ...reader.end()]) {
    if (event.type === 'header') header = event.header;
    else if (event.type === 'cluster') cluster ??= event.cluster;
  }
  if (!header || !cluster) throw new UnsupportedStreamMediaTypeError('the fragment holds no Matroska header and Cluster');
  // Prefer H.264 when a stream carries several video tracks; avcConfigOf refuses anything else later.
  const videoTracks = header.tracks.filter((track) => track.type === VIDEO_TRACK_TYPE);
  const track = videoTracks.find((candidate) => candidate.codecId === AVC_CODEC_ID) ?? videoTracks[0];
  if (!track) throw new UnsupportedStreamMediaTypeError('the stream has no video track');
  const scaleNs = header.timecodeScaleNs;
  const blocks: MkvBlock[] = [];
  for (const block of cluster.blocks) {
    if (block.track !== track.number) continue;
    blocks.push(scaleNs === 1e6 ? block : { ...block, timecode: (block.timecode * scaleNs) / 1e6 });
  }
  return { track, fragment: { startMs: source.producerTimestampMs, durationMs: source.durationMs, blocks } };
}
