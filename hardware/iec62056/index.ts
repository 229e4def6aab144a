// Public surface of the IEC 62056-21 mode C protocol code: messages for both ends and data block parsing.

export {
  ACK,
  BAUD_RATES,
  ETX,
  STX,
  encodeAck,
  encodeDataBlock,
  encodeDataLine,
  encodeIdentification,
  encodeSignOn,
  type DataBlockOptions,
  type EncodableItem,
  type EncodableValue,
  type Identification,
  type OptionSelect,
} from './encode.js';
export {
  DataBlockAssembler,
  mapMeterFields,
  meterFieldUnit,
  parseDataLines,
  parseIdentification,
  parseOptionSelect,
  type DataBlock,
  type DataBlockAssemblerOptions,
  type DataBlockCounters,
  type DataItem,
  type DataLines,
  type DataValue,
  type MappedReadout,
  type MessageFailure,
  type MessageFailureReason,
  type MeterField,
  type MeterFieldUnit,
  type MeterFields,
  type ParsedIdentification,
  type ParsedOptionSelect,
  type TariffNumber,
} from './parse.js';
export { Iec62056Reader, type Iec62056ReaderCounters, type Iec62056ReaderOptions } from './reader.js';
export { Iec62056Simulator, type Iec62056SimulatorOptions, type Iec62056SimulatorReadout } from './simulator.js';
