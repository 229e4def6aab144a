// Rivulet's video core: EBML, Matroska streaming read and write, H.264 framing, the fragmenter,
// and remuxing fragments to fragmented MP4 and MPEG-TS for playback.
// Pure code over bytes; capture and transport live elsewhere (video/gstreamer/, agent/video/).

export { MkvId, EbmlError } from './ebml/index.js';
export type { MkvBlock, MkvCluster, MkvEvent, MkvHeader, MkvTrack, SimpleTag } from './mkv/model.js';
export { MkvParseError } from './mkv/errors.js';
export { MkvStreamReader, MAX_ELEMENT_BYTES } from './mkv/stream-reader.js';
export { writeCluster, writeMkvHeader, writeTags, type MkvHeaderOptions } from './mkv/writer.js';
export {
  NalType,
  annexBToAvcc,
  buildAvcDecoderConfig,
  isIdrAccessUnit,
  joinAvcc,
  nalType,
  parseAvcDecoderConfig,
  splitAnnexB,
  splitAvcc,
  type AvcDecoderConfig,
} from './h264/avcc.js';
export { H264FormatError } from './h264/errors.js';
export { Fragmenter, type Fragment, type FragmenterFrame, type FragmenterOptions } from './fragmenter.js';
export { remuxFragmentOf, type RemuxSource } from './remux.js';
export { writeFmp4Init, writeFmp4Segment, writeMp4File, type RemuxFragment } from './mp4/fmp4.js';
export { avcCodecString } from './mp4/codec-string.js';
export { InvalidCodecPrivateDataError, MissingCodecPrivateDataError, UnsupportedStreamMediaTypeError } from './mp4/errors.js';
export { TsMuxer } from './mpegts/ts.js';
