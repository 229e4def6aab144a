// Why a stream's media cannot be remuxed for playback. Named after the Kinesis Video archived-media
// errors they become on the wire (UnsupportedStreamMediaTypeException, ...), so the API layer maps
// them one to one.

/** The stream has no H.264 video track (the only codec HLS, DASH and GetClip output here). */
export class UnsupportedStreamMediaTypeError extends Error {
  override readonly name = 'UnsupportedStreamMediaTypeError';
}

/** The H.264 track has no CodecPrivate (AVCDecoderConfigurationRecord). */
export class MissingCodecPrivateDataError extends Error {
  override readonly name = 'MissingCodecPrivateDataError';
}

/** The H.264 track's CodecPrivate is not a valid AVCDecoderConfigurationRecord. */
export class InvalidCodecPrivateDataError extends Error {
  override readonly name = 'InvalidCodecPrivateDataError';
}
