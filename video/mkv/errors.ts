// The one error the Matroska reader throws: the stream is not Matroska as Rivulet accepts it.

/** Malformed or unsupported Matroska input; `offset` is the stream offset of the offending element. */
export class MkvParseError extends Error {
  override readonly name = 'MkvParseError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (stream offset ${offset})`);
  }
}
