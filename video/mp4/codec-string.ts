// The RFC 6381 codecs parameter players need before they fetch media (HLS CODECS=, DASH codecs=,
// MediaSource.isTypeSupported): avc1 followed by profile, constraint flags and level in hex.

import type { MkvTrack } from '../mkv/model.js';
import { avcConfigOf } from './avc-track.js';

const hex2 = (value: number): string => value.toString(16).padStart(2, '0');

/** The codecs string of an H.264 track, e.g. "avc1.64001f". */
export function avcCodecString(track: MkvTrack): string {
  const { config } = avcConfigOf(track);
  return `avc1.${hex2(config.profile)}${hex2(config.compatibility)}${hex2(config.level)}`;
}
