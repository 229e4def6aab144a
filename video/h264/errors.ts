// H.264 framing errors (Annex-B, AVCC, AVCDecoderConfigurationRecord).

/** Bytes that are not the H.264 structure they were given as. */
export class H264FormatError extends Error {
  override readonly name = 'H264FormatError';
}
