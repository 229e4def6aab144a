export {
  Listeners,
  TransportReader,
  type ByteTransport,
  type DeviceReading,
  type ReaderCounters,
  type ReadingSource,
  type ReadingValue,
  type TransportState,
  type TransportStateEvent,
} from './byte-transport.js';
export { openPtyPair, replugPtyPair, type PtyPair, type PtyPairOptions } from './pty.js';
export { PortNotOpenError, SerialTransport, type SerialSettings, type SerialTransportOptions, type SerialTransportStats } from './transport.js';
