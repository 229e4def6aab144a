// What the buffer throws; kept apart from the buffer itself so that callers can test for these
// without loading SQLite.

/** Appending to a source the buffer was not opened with. */
export class UnknownSourceError extends Error {
  override readonly name = 'UnknownSourceError';
  constructor(readonly source: string) {
    super(`no source named ${JSON.stringify(source)} is configured in this buffer`);
  }
}

/** Another process (or another RecordBuffer) holds the database. */
export class BufferLockedError extends Error {
  override readonly name = 'BufferLockedError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`the buffer ${path} is in use by another process`, options);
  }
}

/** Using a closed buffer. */
export class BufferClosedError extends Error {
  override readonly name = 'BufferClosedError';
  constructor() {
    super('the buffer is closed');
  }
}
