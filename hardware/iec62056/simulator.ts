// An electricity meter's optical port in IEC 62056-21 mode C, for demos and tests. At 300 baud 7E1
// it waits for a sign-on `/?<address>!`, answers with its identification (offering a faster
// rate), waits for the reader's ACK option select, switches to the selected rate, sends the data
// block, and falls back to 300 baud. Messages come from the protocol encoders and pass through the
// shared fault injection (a bad checksum here is a wrong BCC).

import { setTimeout as sleep } from 'node:timers/promises';
import { SimulatorLink, type SimulatorLinkOptions } from '../faults.js';
import { ACK, encodeDataBlock, encodeDataLine, encodeIdentification } from './encode.js';
import { parseOptionSelect } from './parse.js';

/** Options of {@link Iec62056Simulator}. */
export interface Iec62056SimulatorOptions extends SimulatorLinkOptions {
  /** Three-letter manufacturer; `ISk` unless given (lowercase third letter: 20 ms reaction time). */
  manufacturer?: string;
  ident?: string;
  /** The rate offered in the identification; 9600 unless given. */
  baudRate?: number;
  /** Device address it answers to besides the empty one; any address unless given. */
  address?: string;
  /** Meter serial number in the data block; `12345678` unless given. */
  serialNumber?: string;
  /** Delay before answering the sign-on; 200 ms unless given (the standard's tr). */
  reactionMs?: number;
  /** Delay between the ACK and the data block at the new rate; 200 ms unless given. */
  switchDelayMs?: number;
  /** Give up waiting for the ACK after this; 1500 ms unless given. */
  ackTimeoutMs?: number;
}

/** What the simulated meter reported in its latest data block. */
export interface Iec62056SimulatorReadout {
  energyImportTariff1: number;
  energyImportTariff2: number;
  energyImportTotal: number;
  energyExportTotal: number;
  powerImport: number;
  voltageL1: number;
  currentL1: number;
  frequency: number;
}

const HANDSHAKE_BAUD = 300;
const SIGN_ON = /\/\?([0-9A-Za-z ]{0,32})!\r\n/;

/** Simulated IEC 62056-21 mode C meter behind an optical head. */
export class Iec62056Simulator {
  readonly link: SimulatorLink;
  readonly #manufacturer: string;
  readonly #ident: string;
  readonly #offered: number;
  readonly #address: string | undefined;
  readonly #serial: string;
  readonly #reactionMs: number;
  readonly #switchDelayMs: number;
  readonly #ackTimeoutMs: number;
  #state: 'idle' | 'identifying' | 'ack' | 'sending' = 'idle';
  #text = '';
  #ackBytes: number[] = [];
  #ackTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #energy = [8000.123, 4234.444];
  #lastAt = Date.now();
  #readouts = 0;
  #baudSwitches: number[] = [];
  #last: Iec62056SimulatorReadout | undefined;

  /** Validates the options; nothing is opened until start(). */
  constructor(options: Iec62056SimulatorOptions) {
    this.#manufacturer = options.manufacturer ?? 'ISk';
    this.#ident = options.ident ?? 'MT174';
    this.#offered = options.baudRate ?? 9600;
    // Encoding once validates manufacturer, ident and rate with the encoder's own messages.
    encodeIdentification({ manufacturer: this.#manufacturer, baudRate: this.#offered, ident: this.#ident });
    this.#address = options.address;
    this.#serial = options.serialNumber ?? '12345678';
    this.#reactionMs = options.reactionMs ?? 200;
    this.#switchDelayMs = options.switchDelayMs ?? 200;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 1500;
    this.link = new SimulatorLink(options, { baudRate: HANDSHAKE_BAUD, dataBits: 7, parity: 'even' });
  }

  /** Data blocks sent (or dropped by a fault). */
  get readouts(): number {
    return this.#readouts;
  }

  /** Every rate the meter switched to for a readout, in order. */
  get baudSwitches(): number[] {
    return [...this.#baudSwitches];
  }

  /** The values of the latest data block. */
  get lastReadout(): Iec62056SimulatorReadout | undefined {
    return this.#last && { ...this.#last };
  }

  /** Opens the optical port and waits for sign-ons. */
  async start(): Promise<void> {
    this.#unsubscribe = this.link.onData((chunk) => this.#received(chunk));
    await this.link.start();
  }

  /** Closes the optical port. */
  async stop(): Promise<void> {
    clearTimeout(this.#ackTimer);
    this.#unsubscribe?.();
    await this.link.stop();
  }

  #received(chunk: Uint8Array): void {
    if (this.#state === 'ack') {
      this.#ackBytes.push(...chunk);
      const start = this.#ackBytes.indexOf(ACK);
      if (start >= 0 && this.#ackBytes.length - start >= 6) {
        clearTimeout(this.#ackTimer);
        const select = parseOptionSelect(Uint8Array.from(this.#ackBytes.slice(start, start + 6)));
        this.#ackBytes = [];
        if (select.ok && select.mode === 'readout' && select.baudRate <= this.#offered) {
          this.#state = 'sending';
          void this.#readout(select.baudRate);
        } else {
          this.#state = 'idle';
        }
        return;
      }
    }
    if (this.#state !== 'idle' && this.#state !== 'ack') return;
    // A fresh sign-on restarts the handshake, also while an ACK is awaited.
    this.#text = (this.#text + Buffer.from(chunk).toString('latin1')).slice(-128);
    const signOn = SIGN_ON.exec(this.#text);
    if (!signOn) return;
    this.#text = '';
    const address = signOn[1]!;
    if (address !== '' && this.#address !== undefined && address !== this.#address) return;
    clearTimeout(this.#ackTimer);
    this.#state = 'identifying';
    void this.#identify();
  }

  async #identify(): Promise<void> {
    await sleep(this.#reactionMs);
    const sent = await this.link.send(encodeIdentification({ manufacturer: this.#manufacturer, baudRate: this.#offered, ident: this.#ident }));
    if (!sent) {
      this.#state = 'idle';
      return;
    }
    this.#state = 'ack';
    this.#ackBytes = [];
    this.#ackTimer = setTimeout(() => {
      if (this.#state === 'ack') this.#state = 'idle';
    }, this.#ackTimeoutMs);
  }

  async #readout(baudRate: number): Promise<void> {
    try {
      await this.link.setBaudRate(baudRate);
      this.#baudSwitches.push(baudRate);
      await sleep(this.#switchDelayMs);
      this.#readouts++;
      const lines = this.#dataLines();
      await this.link.send(encodeDataBlock(lines, { corruptBcc: this.link.faults.corruptChecksum() }));
      // A speed change flushes what the other end has not read yet; real meters also stay at the
      // new rate for a while before falling back.
      await sleep(this.#switchDelayMs);
    } finally {
      await this.link.setBaudRate(HANDSHAKE_BAUD).catch(() => {});
      this.#state = 'idle';
    }
  }

  #dataLines(): string[] {
    const now = Date.now();
    const t = now / 1000;
    const powerKw = 0.5 + 0.3 * Math.sin(t / 13);
    // Tariff 2 by day; integrate the power since the last readout into it.
    const tariff = new Date(now).getUTCHours() >= 6 && new Date(now).getUTCHours() < 22 ? 1 : 0;
    this.#energy[tariff]! += (powerKw * (now - this.#lastAt)) / 3_600_000;
    this.#lastAt = now;
    const fixed = (value: number, width: number, decimals: number): string => value.toFixed(decimals).padStart(width, '0');
    const t1 = Number(this.#energy[0]!.toFixed(3));
    const t2 = Number(this.#energy[1]!.toFixed(3));
    const readout: Iec62056SimulatorReadout = {
      energyImportTariff1: t1,
      energyImportTariff2: t2,
      energyImportTotal: Number((t1 + t2).toFixed(3)),
      energyExportTotal: 12.345,
      powerImport: Number(powerKw.toFixed(3)),
      voltageL1: Number((230 + 2 * Math.sin(t / 5)).toFixed(1)),
      currentL1: Number(((powerKw * 1000) / 230).toFixed(2)),
      frequency: Number((50 + 0.05 * Math.sin(t / 9)).toFixed(2)),
    };
    this.#last = readout;
    return [
      encodeDataLine({ code: '0.0.0', values: [{ value: this.#serial }] }),
      encodeDataLine({ code: '1.8.0', values: [{ value: fixed(readout.energyImportTotal, 10, 3), unit: 'kWh' }] }),
      encodeDataLine({ code: '1.8.1', values: [{ value: fixed(readout.energyImportTariff1, 10, 3), unit: 'kWh' }] }),
      encodeDataLine({ code: '1.8.2', values: [{ value: fixed(readout.energyImportTariff2, 10, 3), unit: 'kWh' }] }),
      encodeDataLine({ code: '2.8.0', values: [{ value: fixed(readout.energyExportTotal, 10, 3), unit: 'kWh' }] }),
      encodeDataLine({ code: '1.7.0', values: [{ value: fixed(readout.powerImport, 6, 3), unit: 'kW' }] }),
      encodeDataLine({ code: '32.7.0', values: [{ value: fixed(readout.voltageL1, 5, 1), unit: 'V' }] }),
      encodeDataLine({ code: '31.7.0', values: [{ value: fixed(readout.currentL1, 6, 2), unit: 'A' }] }),
      encodeDataLine({ code: '14.7.0', values: [{ value: fixed(readout.frequency, 5, 2), unit: 'Hz' }] }),
      encodeDataLine({ code: 'F.F', values: [{ value: '00000000' }] }),
    ];
  }
}
