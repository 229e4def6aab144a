// Line-oriented sensor driver: line framing and JSON / CSV / key=value parsing (parse.ts).

export {
  LineFramer,
  checkLineFormat,
  parseCsvLine,
  parseJsonLine,
  parseKeyValueLine,
  parseLine,
  type LineFormat,
  type LineFramerOptions,
  type LineFramerStats,
  type LineParseResult,
  type LineRejectReason,
  type LineValue,
  type LineValues,
} from './parse.js';
export { LineReader, type LineReaderCounters, type LineReaderOptions } from './reader.js';
export { LINE_SIMULATOR_COLUMNS, LineSimulator, type LineSimulatorOptions } from './simulator.js';
