// The one check every remux output starts with: the track is H.264 in AVCC framing with a usable
// AVCDecoderConfigurationRecord. MP4 copies the record as is; MPEG-TS needs its SPS/PPS.

import { parseAvcDecoderConfig, type AvcDecoderConfig } from '../h264/avcc.js';
import { H264FormatError } from '../h264/errors.js';
import type { MkvTrack } from '../mkv/model.js';
import { InvalidCodecPrivateDataError, MissingCodecPrivateDataError, UnsupportedStreamMediaTypeError } from './errors.js';

/** Matroska's codec id for H.264 with an AVCC CodecPrivate. */
export const AVC_CODEC_ID = 'V_MPEG4/ISO/AVC';

/** A track's AVCDecoderConfigurationRecord, raw and decoded; throws the typed remux errors otherwise. */
export function avcConfigOf(track: MkvTrack): { record: Uint8Array; config: AvcDecoderConfig } {
  if (track.codecId !== AVC_CODEC_ID) throw new UnsupportedStreamMediaTypeError(`track ${track.number} has codec ${track.codecId}; only ${AVC_CODEC_ID} can be remuxed`);
  const record = track.codecPrivate;
  if (!record || record.length === 0) throw new MissingCodecPrivateDataError(`track ${track.number} has no CodecPrivate`);
  try {
    return { record, config: parseAvcDecoderConfig(record) };
  } catch (error) {
    if (error instanceof H264FormatError) throw new InvalidCodecPrivateDataError(`track ${track.number}: ${error.message}`);
    throw error;
  }
}
