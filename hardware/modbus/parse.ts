// Modbus RTU frame parsing for both ends of the bus. Nothing here throws on wire input: a serial
// line delivers noise, truncated replies and other slaves' answers as a matter of course, and the
// caller's retry policy depends on which of those it was, so every outcome is a typed value.

import { crc16Modbus } from '../crc16.js';
import {
  MAX_READ_REGISTERS,
  MODBUS_EXCEPTIONS,
  type ModbusExceptionName,
  type ReadFunction,
  type ReadRequest,
} from './encode.js';

/** Why a frame was rejected. */
export type FrameFailureReason = 'crc' | 'short' | 'address' | 'function' | 'length';

/** A frame that could not be accepted; `message` is for logs. */
export interface FrameFailure {
  ok: false;
  reason: FrameFailureReason;
  message: string;
}

/** A well-formed normal reply. */
export interface RegistersReply {
  ok: true;
  kind: 'registers';
  address: number;
  function: ReadFunction;
  registers: number[];
}

/**
 * A well-formed exception reply. It is `ok` because the frame is intact: the slave understood and
 * refused, which calls for a different reaction (fix the map, don't retry) than a garbled frame.
 */
export interface ExceptionReply {
  ok: true;
  kind: 'exception';
  address: number;
  function: ReadFunction;
  code: number;
  exception: ModbusExceptionName | 'UNKNOWN';
}

/** Outcome of parsing a reply to a known request. */
export type ReplyParseResult = RegistersReply | ExceptionReply | FrameFailure;

/** A request that arrived intact but that a slave must refuse, with the exception to answer. */
export interface RequestRejection {
  ok: false;
  reason: 'function' | 'length';
  message: string;
  address: number;
  function: number;
  exception: 'ILLEGAL_FUNCTION' | 'ILLEGAL_DATA_VALUE';
}

/** Outcome of parsing a request on the slave side. */
export type RequestParseResult = { ok: true; request: ReadRequest } | RequestRejection | FrameFailure;

/** Length of every exception reply: address, function | 0x80, code, CRC. */
export const EXCEPTION_RESPONSE_LENGTH = 5;

const REQUEST_LENGTH = 8;

/** Length in bytes of a normal reply to `request`, for sizing reads and response timeouts. */
export function expectedResponseLength(request: ReadRequest): number {
  return 5 + 2 * request.count;
}

/**
 * The minimum silence that delimits RTU frames, in milliseconds: 3.5 character times (11 bits
 * per character) up to 19200 baud, and a fixed 1.75 ms above, as the serial-line spec allows
 * because per-character timers become impractically short.
 */
export function interFrameSilenceMs(baudRate: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}

/** Parses a slave's reply to `request`: checks CRC, address, function and byte count. */
export function parseReadResponse(request: ReadRequest, frame: Uint8Array): ReplyParseResult {
  if (frame.length < EXCEPTION_RESPONSE_LENGTH) {
    return fail('short', `frame has ${frame.length} bytes, the shortest reply has ${EXCEPTION_RESPONSE_LENGTH}`);
  }
  const isException = frame[1] === (request.function | 0x80);
  const expected = isException ? EXCEPTION_RESPONSE_LENGTH : expectedResponseLength(request);
  if (!crcMatches(frame)) {
    // A bad CRC on a truncated frame is the truncation's fault; say so, it points at timeouts.
    if (frame.length < expected) return fail('short', `frame has ${frame.length} bytes, expected ${expected}`);
    // Bytes run on after an intact frame (no silence between them) still make one bad frame, but
    // naming it `length` tells a noisy line apart from a corrupted reply.
    if (frame.length > expected && crcMatches(frame.subarray(0, expected))) {
      return fail('length', `${frame.length - expected} bytes follow a complete ${expected}-byte reply`);
    }
    return fail('crc', 'CRC mismatch');
  }
  if (frame[0] !== request.address) {
    return fail('address', `reply from slave ${frame[0]}, asked slave ${request.address}`);
  }
  if (isException) {
    if (frame.length !== EXCEPTION_RESPONSE_LENGTH) {
      return fail('length', `exception reply has ${frame.length} bytes, expected ${EXCEPTION_RESPONSE_LENGTH}`);
    }
    const code = frame[2]!;
    return {
      ok: true,
      kind: 'exception',
      address: request.address,
      function: request.function,
      code,
      exception: exceptionName(code),
    };
  }
  if (frame[1] !== request.function) {
    return fail('function', `reply has function ${frame[1]}, asked ${request.function}`);
  }
  const byteCount = frame[2]!;
  if (byteCount !== request.count * 2 || frame.length !== expected) {
    return fail('length', `reply carries ${byteCount} data bytes in ${frame.length} bytes, expected ${request.count * 2} in ${expected}`);
  }
  return {
    ok: true,
    kind: 'registers',
    address: request.address,
    function: request.function,
    registers: readWords(frame, 3, request.count),
  };
}

/** Parses a master's read request on the slave side (for the simulator). */
export function parseReadRequest(frame: Uint8Array): RequestParseResult {
  if (frame.length < REQUEST_LENGTH) {
    return fail('short', `frame has ${frame.length} bytes, a read request has ${REQUEST_LENGTH}`);
  }
  if (!crcMatches(frame)) return fail('crc', 'CRC mismatch');
  const address = frame[0]!;
  const fn = frame[1]!;
  if (fn !== 3 && fn !== 4) {
    return { ok: false, reason: 'function', message: `function ${fn} is not supported`, address, function: fn, exception: 'ILLEGAL_FUNCTION' };
  }
  if (frame.length !== REQUEST_LENGTH) {
    return fail('length', `read request has ${frame.length} bytes, expected ${REQUEST_LENGTH}`);
  }
  const [start, count] = readWords(frame, 2, 2) as [number, number];
  if (count < 1 || count > MAX_READ_REGISTERS) {
    return {
      ok: false,
      reason: 'length',
      message: `register count ${count} is outside 1–${MAX_READ_REGISTERS}`,
      address,
      function: fn,
      exception: 'ILLEGAL_DATA_VALUE',
    };
  }
  return { ok: true, request: { address, function: fn, start, count } };
}

/** Where a reply being collected stands. */
export type AssemblyStatus =
  | { status: 'incomplete'; received: number; expected: number }
  | { status: 'complete'; frame: Uint8Array; reply: RegistersReply | ExceptionReply }
  | { status: 'garbled'; frame: Uint8Array; reason: FrameFailureReason; message: string }
  | { status: 'no-response' };

/**
 * Collects the master's reply to one request across serial chunks. RTU frames carry no length
 * of their own that survives corruption, so the length comes from the request (or 5 once the
 * function byte shows an exception). The I/O layer owns the clock: it pushes chunks, may stop at
 * `complete` (and then must flush the port before the next request), and calls `finish()` when
 * the line has been silent for `interFrameSilenceMs` or the response timeout expires.
 */
export class ResponseAssembler {
  readonly #request: ReadRequest;
  #bytes: number[] = [];

  /** Starts collecting the reply to `request`. */
  constructor(request: ReadRequest) {
    this.#request = request;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#bytes.length;
  }

  /** Adds a chunk and reports the state; bytes past the expected length make the frame garbled. */
  push(chunk: Uint8Array): AssemblyStatus {
    for (const byte of chunk) this.#bytes.push(byte);
    return this.#status(false);
  }

  /** Reports the final state once the line fell silent or the response timed out. */
  finish(): AssemblyStatus {
    return this.#status(true);
  }

  /** Forgets received bytes, e.g. before retrying the same request. */
  reset(): void {
    this.#bytes = [];
  }

  #status(final: boolean): AssemblyStatus {
    const received = this.#bytes.length;
    if (received === 0) return final ? { status: 'no-response' } : { status: 'incomplete', received, expected: this.#expected() };
    const expected = this.#expected();
    if (received < expected && !final) return { status: 'incomplete', received, expected };
    const frame = Uint8Array.from(this.#bytes);
    const result = parseReadResponse(this.#request, frame);
    if (result.ok) return { status: 'complete', frame, reply: result };
    return { status: 'garbled', frame, reason: result.reason, message: result.message };
  }

  #expected(): number {
    return this.#bytes.length >= 2 && this.#bytes[1] === (this.#request.function | 0x80)
      ? EXCEPTION_RESPONSE_LENGTH
      : expectedResponseLength(this.#request);
  }
}

function crcMatches(frame: Uint8Array): boolean {
  const n = frame.length;
  return crc16Modbus(frame.subarray(0, n - 2)) === (frame[n - 2]! | (frame[n - 1]! << 8));
}

function readWords(frame: Uint8Array, offset: number, count: number): number[] {
  const words: number[] = [];
  for (let i = 0; i < count; i++) words.push((frame[offset + 2 * i]! << 8) | frame[offset + 2 * i + 1]!);
  return words;
}

function exceptionName(code: number): ModbusExceptionName | 'UNKNOWN' {
  return (MODBUS_EXCEPTIONS as Record<number, ModbusExceptionName>)[code] ?? 'UNKNOWN';
}

function fail(reason: FrameFailureReason, message: string): FrameFailure {
  return { ok: false, reason, message };
}
