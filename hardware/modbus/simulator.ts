// An Eastron SDM630 or SDM120 energy meter on a Modbus RTU line, for demos and tests: a slave that
// answers read requests (functions 3 and 4) from a register image built with encodeReadings, so
// the bytes it serves are the ones a real meter's map describes. Readings drift over time and the
// energy register integrates the power. Unmapped registers get ILLEGAL_DATA_ADDRESS, requests for
// other slaves and frames with a bad CRC get silence — what a real slave on a shared bus does.

import { setTimeout as sleep } from 'node:timers/promises';
import { SimulatorLink, type SimulatorLinkOptions } from '../faults.js';
import { encodeExceptionResponse, encodeReadResponse } from './encode.js';
import { interFrameSilenceMs, parseReadRequest } from './parse.js';
import { SDM120_MAP, SDM630_MAP, encodeReadings, type RegisterImage, type RegisterMap } from './register-map.js';

/** Options of {@link ModbusSimulator}. */
export interface ModbusSimulatorOptions extends SimulatorLinkOptions {
  /** `sdm630` (three-phase) unless given, or `sdm120` (single-phase). */
  meter?: 'sdm630' | 'sdm120';
  /** Slave address 1–247; 1 unless given. */
  address?: number;
  /** How often the readings change; 1000 ms unless given. */
  updateIntervalMs?: number;
  /** Time from request to reply; 5 ms unless given (Eastron meters take up to ~100 ms). */
  responseDelayMs?: number;
  /** The simulator side's line speed; 2400 for the SDM120, 9600 for the SDM630 unless given. */
  baudRate?: number;
}

const REQUEST_LENGTH = 8;

/** Simulated Modbus RTU energy meter answering on a serial path. */
export class ModbusSimulator {
  readonly link: SimulatorLink;
  readonly #map: RegisterMap;
  readonly #meter: 'sdm630' | 'sdm120';
  readonly #address: number;
  readonly #updateIntervalMs: number;
  readonly #responseDelayMs: number;
  readonly #gapMs: number;
  #buffer = new Uint8Array(0);
  #gapTimer: NodeJS.Timeout | undefined;
  #values: Record<string, number> = {};
  #image: RegisterImage = { holding: new Map(), input: new Map() };
  #updatedAt: number | undefined;
  #importKwh = 1520.25;
  #requests = 0;
  #exceptions = 0;
  #unsubscribe: (() => void) | undefined;

  /** Validates the options; nothing is opened until start(). */
  constructor(options: ModbusSimulatorOptions) {
    this.#meter = options.meter ?? 'sdm630';
    if (this.#meter !== 'sdm630' && this.#meter !== 'sdm120') throw new RangeError("options.meter, when provided, must be 'sdm630' or 'sdm120'.");
    this.#map = this.#meter === 'sdm630' ? SDM630_MAP : SDM120_MAP;
    this.#address = options.address ?? 1;
    if (!Number.isInteger(this.#address) || this.#address < 1 || this.#address > 247) throw new RangeError('options.address, when provided, must be an integer 1–247.');
    this.#updateIntervalMs = options.updateIntervalMs ?? 1000;
    if (!(this.#updateIntervalMs > 0)) throw new RangeError('options.updateIntervalMs, when provided, must be positive.');
    this.#responseDelayMs = options.responseDelayMs ?? 5;
    if (!(this.#responseDelayMs >= 0)) throw new RangeError('options.responseDelayMs, when provided, must be 0 or more.');
    const baudRate = options.baudRate ?? (this.#meter === 'sdm120' ? 2400 : 9600);
    this.#gapMs = Math.max(2, interFrameSilenceMs(baudRate));
    this.link = new SimulatorLink(options, { baudRate });
    this.#update(Date.now());
  }

  /** The readings the register image holds now, as float32 carries them. */
  get values(): Record<string, number> {
    return { ...this.#values };
  }

  /** Requests answered (normally or with an exception) and exceptions among them. */
  get counters(): { requests: number; exceptions: number } {
    return { requests: this.#requests, exceptions: this.#exceptions };
  }

  /** Opens the simulator's end and starts answering. */
  async start(): Promise<void> {
    this.#unsubscribe = this.link.onData((chunk) => this.#received(chunk));
    await this.link.start();
  }

  /** Stops answering and closes the simulator's end. */
  async stop(): Promise<void> {
    clearTimeout(this.#gapTimer);
    this.#unsubscribe?.();
    await this.link.stop();
  }

  // RTU frames end with 3.5 character times of silence. A read request is always eight bytes, so
  // one that parses is answered at once; anything else is judged when the line goes quiet.
  #received(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    this.#buffer = joined;
    clearTimeout(this.#gapTimer);
    if (this.#buffer.length === REQUEST_LENGTH && parseReadRequest(this.#buffer).ok) {
      this.#frameEnded();
      return;
    }
    this.#gapTimer = setTimeout(() => this.#frameEnded(), this.#gapMs);
  }

  #frameEnded(): void {
    const frame = this.#buffer;
    this.#buffer = new Uint8Array(0);
    const response = this.#respond(frame);
    if (response) {
      void sleep(this.#responseDelayMs).then(() => this.link.send(response));
    }
  }

  #respond(frame: Uint8Array): Uint8Array | undefined {
    const parsed = parseReadRequest(frame);
    if (!parsed.ok) {
      // A garbled frame gets no answer; an intact one we can't serve gets an exception.
      if (!('exception' in parsed) || parsed.address !== this.#address) return undefined;
      this.#requests++;
      this.#exceptions++;
      return encodeExceptionResponse({ address: parsed.address, function: parsed.function, exception: parsed.exception });
    }
    const request = parsed.request;
    if (request.address !== this.#address) return undefined;
    this.#requests++;
    this.#update(Date.now());
    const bank = request.function === 3 ? this.#image.holding : this.#image.input;
    const registers: number[] = [];
    for (let register = request.start; register < request.start + request.count; register++) {
      const value = bank.get(register);
      if (value === undefined) {
        this.#exceptions++;
        return encodeExceptionResponse({ address: request.address, function: request.function, exception: 'ILLEGAL_DATA_ADDRESS' });
      }
      registers.push(value);
    }
    return encodeReadResponse(
      { address: request.address, function: request.function, registers },
      { corruptCrc: this.link.faults.corruptChecksum() },
    );
  }

  #update(now: number): void {
    if (this.#updatedAt !== undefined && now - this.#updatedAt < this.#updateIntervalMs) return;
    const hours = this.#updatedAt === undefined ? 0 : (now - this.#updatedAt) / 3_600_000;
    this.#updatedAt = now;
    const t = now / 1000;
    const volts = [0, 1, 2].map((k) => 230 + 2 * Math.sin(t / 7 + 2 * k));
    const amps = [0, 1, 2].map((k) => 5 + 3 * Math.sin(t / 20 + 2 * k));
    const watts = volts.map((v, k) => v * amps[k]! * 0.95);
    const phases = this.#meter === 'sdm630' ? 3 : 1;
    const total = watts.slice(0, phases).reduce((a, b) => a + b, 0);
    this.#importKwh += (total * hours) / 1000;
    const exportKwh = 12.5;
    const shared = {
      frequency: 50 + 0.05 * Math.sin(t / 11),
      importEnergy: this.#importKwh,
      exportEnergy: exportKwh,
      totalActiveEnergy: this.#importKwh + exportKwh,
    };
    const values: Record<string, number> = this.#meter === 'sdm630'
      ? {
          voltageL1: volts[0]!, voltageL2: volts[1]!, voltageL3: volts[2]!,
          currentL1: amps[0]!, currentL2: amps[1]!, currentL3: amps[2]!,
          activePowerL1: watts[0]!, activePowerL2: watts[1]!, activePowerL3: watts[2]!,
          totalSystemPower: total,
          ...shared,
        }
      : { voltage: volts[0]!, current: amps[0]!, activePower: watts[0]!, ...shared };
    this.#image = encodeReadings(this.#map, values);
    this.#values = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, Math.fround(value)]));
  }
}
