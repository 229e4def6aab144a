// Modbus RTU frames for the two read functions energy meters answer (03 holding, 04 input), built
// for both ends of the bus: the master's requests and, for the simulator, the slave's responses.
// A frame is `address function payload… crcLo crcHi`; the CRC is CRC-16/MODBUS over everything
// before it, sent low byte first (the one little-endian field in an otherwise big-endian protocol).

import { crc16Modbus } from '../crc16.js';

/** The read functions we speak: 3 = read holding registers, 4 = read input registers. */
export type ReadFunction = 3 | 4;

/** A read request: which slave, which function, which registers. */
export interface ReadRequest {
  /** Slave address 1–247 (0 is broadcast, which a read can't use). */
  address: number;
  function: ReadFunction;
  /** First register, 0-based as on the wire (not the 30001/40001 catalogue numbering). */
  start: number;
  /** Number of 16-bit registers, 1–125 (the spec's limit so the reply fits 256 bytes). */
  count: number;
}

/** A normal reply to a read request. */
export interface ReadResponse {
  address: number;
  function: ReadFunction;
  /** Register values, each 0–65535. */
  registers: readonly number[];
}

/** The exception codes a slave may answer with, by their names in the Modbus specification. */
export const MODBUS_EXCEPTIONS = {
  1: 'ILLEGAL_FUNCTION',
  2: 'ILLEGAL_DATA_ADDRESS',
  3: 'ILLEGAL_DATA_VALUE',
  4: 'SLAVE_DEVICE_FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SLAVE_DEVICE_BUSY',
  8: 'MEMORY_PARITY_ERROR',
  10: 'GATEWAY_PATH_UNAVAILABLE',
  11: 'GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND',
} as const;

/** The name of a standard Modbus exception code. */
export type ModbusExceptionName = (typeof MODBUS_EXCEPTIONS)[keyof typeof MODBUS_EXCEPTIONS];

/** An exception reply: the request's function with bit 7 set, then one exception code. */
export interface ExceptionResponse {
  address: number;
  /** The function being refused, 1–127; not limited to 3/4 so ILLEGAL_FUNCTION can answer any. */
  function: number;
  exception: ModbusExceptionName | number;
}

/** Options shared by every frame encoder. */
export interface FrameOptions {
  /** Send a wrong CRC, to exercise the receiver's rejection path. */
  corruptCrc?: boolean;
}

/** Largest register count one read may ask for (spec limit for functions 03 and 04). */
export const MAX_READ_REGISTERS = 125;

/** Builds a read-holding/read-input request frame, CRC included. */
export function encodeReadRequest(request: ReadRequest, options: FrameOptions = {}): Uint8Array {
  checkAddress('request.address', request.address);
  checkReadFunction('request.function', request.function);
  checkInteger('request.start', request.start, 0, 0xffff);
  checkInteger('request.count', request.count, 1, MAX_READ_REGISTERS);
  if (request.start + request.count > 0x10000) {
    throw new RangeError(`request.start + request.count must not pass register 65535 (got ${request.start}+${request.count})`);
  }
  return withCrc(
    [request.address, request.function, request.start >> 8, request.start & 0xff, request.count >> 8, request.count & 0xff],
    options,
  );
}

/** Builds a slave's normal reply carrying register values (for the simulator). */
export function encodeReadResponse(response: ReadResponse, options: FrameOptions = {}): Uint8Array {
  checkAddress('response.address', response.address);
  checkReadFunction('response.function', response.function);
  const { registers } = response;
  if (!Array.isArray(registers) || registers.length < 1 || registers.length > MAX_READ_REGISTERS) {
    throw new RangeError(`response.registers must hold 1–${MAX_READ_REGISTERS} values`);
  }
  const body = [response.address, response.function, registers.length * 2];
  registers.forEach((value, i) => {
    checkInteger(`response.registers[${i}]`, value, 0, 0xffff);
    body.push(value >> 8, value & 0xff);
  });
  return withCrc(body, options);
}

/** Builds a slave's exception reply (function | 0x80, exception code), for the simulator. */
export function encodeExceptionResponse(response: ExceptionResponse, options: FrameOptions = {}): Uint8Array {
  checkAddress('response.address', response.address);
  checkInteger('response.function', response.function, 1, 0x7f);
  const code = typeof response.exception === 'number' ? response.exception : exceptionCode(response.exception);
  checkInteger('response.exception', code, 1, 0xff);
  return withCrc([response.address, response.function | 0x80, code], options);
}

/** Appends the CRC-16/MODBUS (low byte first) to a frame body, e.g. to hand-build odd frames. */
export function withCrc(body: ArrayLike<number>, options: FrameOptions = {}): Uint8Array {
  const frame = new Uint8Array(body.length + 2);
  frame.set(Array.from(body));
  let crc = crc16Modbus(frame.subarray(0, body.length));
  // Flipping every bit guarantees a mismatch whatever the true CRC is.
  if (options.corruptCrc) crc ^= 0xffff;
  frame[body.length] = crc & 0xff;
  frame[body.length + 1] = crc >> 8;
  return frame;
}

function exceptionCode(name: string): number {
  for (const [code, known] of Object.entries(MODBUS_EXCEPTIONS)) if (known === name) return Number(code);
  throw new RangeError(`response.exception must be a code 1–255 or one of ${Object.values(MODBUS_EXCEPTIONS).join(', ')}`);
}

function checkAddress(field: string, value: number): void {
  checkInteger(field, value, 1, 247);
}

function checkReadFunction(field: string, value: number): void {
  if (value !== 3 && value !== 4) throw new RangeError(`${field} must be 3 (holding) or 4 (input), got ${String(value)}`);
}

function checkInteger(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${field} must be an integer ${min}–${max}, got ${String(value)}`);
  }
}
