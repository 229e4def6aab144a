// A line-printing sensor (a microcontroller board with a temperature/humidity/pressure sensor) for
// demos and tests: one reading per line at a set rate, as JSON, CSV (with the header line boards
// print at boot) or key=value. Lines have no checksum, so `badChecksum` faults do not apply here.

import { SimulatorLink, type SimulatorLinkOptions } from '../faults.js';
import type { LineValues } from './parse.js';

/** The columns of the simulator's CSV lines, in order: what a reader's CSV format needs. */
export const LINE_SIMULATOR_COLUMNS: readonly string[] = Object.freeze(['seq', 'temperature', 'humidity', 'pressure', 'status']);

/** Options of {@link LineSimulator}. */
export interface LineSimulatorOptions extends SimulatorLinkOptions {
  /** `json` unless given. */
  format?: 'json' | 'csv' | 'keyValue';
  /** Lines per second; 1 unless given. */
  rateHz?: number;
  /** The simulator side's line speed; 115200 unless given. */
  baudRate?: number;
}

/** Simulated line-oriented sensor writing to a serial path. */
export class LineSimulator {
  readonly link: SimulatorLink;
  readonly #format: 'json' | 'csv' | 'keyValue';
  readonly #rateHz: number;
  #seq = 0;
  #last: LineValues | undefined;

  /** Validates the options; nothing is opened until start(). */
  constructor(options: LineSimulatorOptions) {
    this.#format = options.format ?? 'json';
    if (!['json', 'csv', 'keyValue'].includes(this.#format)) throw new RangeError("options.format, when provided, must be 'json', 'csv' or 'keyValue'.");
    this.#rateHz = options.rateHz ?? 1;
    if (!(this.#rateHz > 0 && this.#rateHz <= 1000)) throw new RangeError('options.rateHz, when provided, must be above 0 and at most 1000.');
    this.link = new SimulatorLink(options, { baudRate: options.baudRate ?? 115_200 });
  }

  /** The values of the latest line built (sent, or dropped by a fault). */
  get lastValues(): LineValues | undefined {
    return this.#last && { ...this.#last };
  }

  /** Opens the simulator's end and starts printing lines (CSV begins with its header). */
  async start(): Promise<void> {
    await this.link.start();
    if (this.#format === 'csv') await this.link.send(LINE_SIMULATOR_COLUMNS.join(',') + '\r\n');
    this.link.repeat(1000 / this.#rateHz, () => this.#tick());
  }

  /** Stops printing and closes the simulator's end. */
  async stop(): Promise<void> {
    await this.link.stop();
  }

  async #tick(): Promise<void> {
    const t = Date.now() / 1000;
    const values: LineValues = {
      seq: ++this.#seq,
      temperature: Math.round((21 + 2 * Math.sin(t / 30)) * 100) / 100,
      humidity: Math.round((45 + 5 * Math.cos(t / 45)) * 10) / 10,
      pressure: Math.round((1013.25 + 3 * Math.sin(t / 600)) * 10) / 10,
      status: 'ok',
    };
    this.#last = values;
    await this.link.send(formatLine(values, this.#format) + '\r\n');
  }
}

function formatLine(values: LineValues, format: 'json' | 'csv' | 'keyValue'): string {
  switch (format) {
    case 'json':
      return JSON.stringify(values);
    case 'csv':
      return LINE_SIMULATOR_COLUMNS.map((column) => String(values[column])).join(',');
    case 'keyValue':
      return Object.entries(values).map(([key, value]) => `${key}=${String(value)}`).join(' ');
  }
}
