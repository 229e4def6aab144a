// The agent's store-and-forward buffer: durable, bounded by bytes and age, drained by priority.

export { BufferClosedError, BufferLockedError, UnknownSourceError } from './errors.js';
export {
  DEFAULT_PEEK_BYTES,
  DEFAULT_PEEK_RECORDS,
  MAX_PARTITION_KEY_CHARS,
  MAX_RECORD_BYTES,
  RecordBuffer,
  type AppendResult,
  type BufferedRecord,
  type BufferInput,
  type BufferSourceOptions,
  type BufferSourceStats,
  type BufferStats,
  type OnFull,
  type RecordBufferOptions,
  type SynchronousMode,
} from './buffer.js';
