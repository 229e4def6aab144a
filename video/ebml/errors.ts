// EBML coding errors carry the offset of the offending byte, relative to the bytes the caller
// handed in, so a container parser can translate it into a stream offset.

/** Bytes that are not valid EBML (bad variable-length integer, element overrunning its parent, ...). */
export class EbmlError extends Error {
  override readonly name = 'EbmlError';
  constructor(
    /** What is wrong, without the offset. */
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`${reason} at offset ${offset}`);
  }
}
