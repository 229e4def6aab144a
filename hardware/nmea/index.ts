// NMEA 0183 GPS driver: framing, parsing and fix accumulation (parse.ts), sentence building (encode.ts).

export {
  GpsFix,
  NmeaFramer,
  nmeaChecksum,
  parseSentence,
  type GpsFixState,
  type GpsFixStats,
  type NmeaFramerOptions,
  type NmeaFramerStats,
  type NmeaGga,
  type NmeaGsa,
  type NmeaGsv,
  type NmeaMessage,
  type NmeaParseResult,
  type NmeaRejectReason,
  type NmeaRmc,
  type NmeaSatellite,
  type NmeaTalker,
  type NmeaVtg,
} from './parse.js';
export { buildSentence, encodeNmea, type NmeaEncodeOptions } from './encode.js';
export { NmeaReader, type NmeaReaderCounters, type NmeaReaderOptions } from './reader.js';
export { NmeaSimulator, type NmeaSimulatorOptions, type SimulatedPosition, type TrackPoint } from './simulator.js';
