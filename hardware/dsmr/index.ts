// DSMR P1 smart meter driver: telegram framing and parsing (parse.ts), telegram building (encode.ts).

export {
  DsmrFramer,
  parseTelegram,
  type DsmrFrame,
  type DsmrFramerOptions,
  type DsmrFramerStats,
  type DsmrParseOptions,
  type DsmrParseResult,
  type DsmrReading,
  type DsmrValues,
} from './parse.js';
export { encodeTelegram, type DsmrEncodeOptions, type DsmrTelegramInput } from './encode.js';
export { DsmrReader, type DsmrReaderCounters, type DsmrReaderOptions } from './reader.js';
export { DsmrSimulator, type DsmrSimulatorOptions } from './simulator.js';
