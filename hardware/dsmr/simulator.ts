// A Dutch smart meter's P1 port for demos and tests: a telegram every interval (1 s for DSMR 5,
// 10 s for DSMR 2.2) with energy registers that only ever grow, power that varies (negative net
// power, as with solar panels, shows up as returned power), and a gas reading that the meter
// receives from its M-Bus gas meter every five minutes. Telegrams come from encodeTelegram and
// pass through the shared fault injection.

import { SimulatorLink, type SimulatorLinkOptions } from '../faults.js';
import { encodeTelegram, type DsmrTelegramInput } from './encode.js';

/** Options of {@link DsmrSimulator}. */
export interface DsmrSimulatorOptions extends SimulatorLinkOptions {
  /** `5` (CRC, 115200 8N1, one telegram a second) unless given, or `2.2` (no CRC, 9600 7E1, every 10 s). */
  version?: '5' | '2.2';
  /** Time between telegrams; 1000 ms (DSMR 5) or 10000 ms (DSMR 2.2) unless given. */
  intervalMs?: number;
  /** How often the gas reading changes; 300000 ms (five minutes) unless given. */
  gasIntervalMs?: number;
  /** Starting value of each energy register pair (tariff 1 and 2 delivered); 1234.567 kWh unless given. */
  startEnergyKwh?: number;
  /** The simulator side's line speed; from the version unless given. */
  baudRate?: number;
}

const AMSTERDAM = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Amsterdam',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'shortOffset',
});

/** Simulated DSMR P1 meter writing telegrams to a serial path. */
export class DsmrSimulator {
  readonly link: SimulatorLink;
  readonly #version: '5' | '2.2';
  readonly #intervalMs: number;
  readonly #gasIntervalMs: number;
  #lastTick: number | undefined;
  #delivered: [number, number];
  #returned: [number, number] = [12.345, 23.456];
  #gas = 4321.123;
  #gasSlot = -1;
  #gasTimestamp = '';
  #telegrams = 0;
  #last: DsmrTelegramInput | undefined;

  /** Validates the options; nothing is opened until start(). */
  constructor(options: DsmrSimulatorOptions) {
    this.#version = options.version ?? '5';
    if (this.#version !== '5' && this.#version !== '2.2') throw new RangeError("options.version, when provided, must be '5' or '2.2'.");
    this.#intervalMs = options.intervalMs ?? (this.#version === '5' ? 1000 : 10_000);
    if (!(this.#intervalMs >= 10)) throw new RangeError('options.intervalMs, when provided, must be at least 10.');
    this.#gasIntervalMs = options.gasIntervalMs ?? 300_000;
    if (!(this.#gasIntervalMs >= 10)) throw new RangeError('options.gasIntervalMs, when provided, must be at least 10.');
    const start = options.startEnergyKwh ?? 1234.567;
    if (!(start >= 0 && start < 999_999)) throw new RangeError('options.startEnergyKwh, when provided, must be from 0 to 999999.');
    this.#delivered = [start, start];
    const serial = this.#version === '5'
      ? { baudRate: options.baudRate ?? 115_200 }
      : { baudRate: options.baudRate ?? 9600, dataBits: 7 as const, parity: 'even' as const };
    this.link = new SimulatorLink(options, serial);
  }

  /** The values of the latest telegram built (sent, or dropped by a fault). */
  get lastTelegram(): DsmrTelegramInput | undefined {
    return this.#last && { ...this.#last };
  }

  /** Telegrams built so far. */
  get telegrams(): number {
    return this.#telegrams;
  }

  /** Opens the simulator's end and starts sending telegrams. */
  async start(): Promise<void> {
    await this.link.start();
    this.link.repeat(this.#intervalMs, () => this.#tick());
  }

  /** Stops sending and closes the simulator's end. */
  async stop(): Promise<void> {
    await this.link.stop();
  }

  async #tick(): Promise<void> {
    const input = this.#next(Date.now());
    this.#last = input;
    this.#telegrams++;
    const corruptCrc = this.#version === '5' && this.link.faults.corruptChecksum();
    await this.link.send(encodeTelegram(input, { format: this.#version === '5' ? 'dsmr5' : 'dsmr22', corruptCrc }));
  }

  #next(now: number): DsmrTelegramInput {
    const seconds = this.#lastTick === undefined ? this.#intervalMs / 1000 : (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    const local = amsterdam(new Date(now));
    // Dutch meters: tariff 1 (low) at night, 2 (normal) by day.
    const tariff = local.hour >= 23 || local.hour < 7 ? 1 : 2;
    // Net power swings between -0.2 kW (sunny, exporting) and 1.0 kW over a minute, with jitter.
    const net = 0.4 + 0.6 * Math.sin((2 * Math.PI * now) / 60_000) + (Math.random() - 0.5) * 0.1;
    const delivered = Number(Math.max(net, 0).toFixed(3));
    const returned = Number(Math.max(-net, 0).toFixed(3));
    this.#delivered[tariff - 1]! += (delivered * seconds) / 3600;
    this.#returned[tariff - 1]! += (returned * seconds) / 3600;

    const slot = Math.floor(now / this.#gasIntervalMs);
    if (slot !== this.#gasSlot) {
      if (this.#gasSlot >= 0) this.#gas += 0.01 + Math.random() * 0.05;
      this.#gasSlot = slot;
      this.#gasTimestamp = amsterdam(new Date(slot * this.#gasIntervalMs)).iso;
    }

    const energy = {
      energyDeliveredTariff1Kwh: Number(this.#delivered[0].toFixed(3)),
      energyDeliveredTariff2Kwh: Number(this.#delivered[1].toFixed(3)),
      energyReturnedTariff1Kwh: Number(this.#returned[0].toFixed(3)),
      energyReturnedTariff2Kwh: Number(this.#returned[1].toFixed(3)),
      tariff,
      powerDeliveredKw: delivered,
      powerReturnedKw: returned,
    };
    const gas = {
      gasDeviceType: 3,
      gasEquipmentId: 'G0058004418711',
      gasTimestamp: this.#gasTimestamp,
      gasDeliveredM3: Number(this.#gas.toFixed(3)),
    };
    if (this.#version === '2.2') {
      return { manufacturer: 'KMP', baudRateId: '5', ident: 'KA6U001585575011', equipmentId: 'ZBEV005093167', ...energy, ...gas };
    }
    const phase = (kw: number): number => Number((kw / 3).toFixed(3));
    const volts = (offset: number): number => Number((230 + 2 * Math.sin(now / 7000 + offset)).toFixed(1));
    return {
      manufacturer: 'ISk',
      baudRateId: '5',
      ident: '\\2MT382-1000',
      version: '50',
      timestamp: local.iso,
      equipmentId: 'E0045003881531',
      ...energy,
      powerFailures: 4,
      longPowerFailures: 2,
      voltageSagsL1: 2,
      voltageSagsL2: 1,
      voltageSagsL3: 0,
      voltageSwellsL1: 0,
      voltageSwellsL2: 0,
      voltageSwellsL3: 0,
      voltageL1V: volts(0),
      voltageL2V: volts(2),
      voltageL3V: volts(4),
      currentL1A: Math.round((delivered * 1000) / 3 / 230),
      currentL2A: Math.round((delivered * 1000) / 3 / 230),
      currentL3A: Math.round((delivered * 1000) / 3 / 230),
      powerDeliveredL1Kw: phase(delivered),
      powerDeliveredL2Kw: phase(delivered),
      powerDeliveredL3Kw: phase(delivered),
      powerReturnedL1Kw: phase(returned),
      powerReturnedL2Kw: phase(returned),
      powerReturnedL3Kw: phase(returned),
      ...gas,
    };
  }
}

/** Dutch local time as the meter shows it: `YYYY-MM-DDThh:mm:ss+01:00` (or +02:00 in summer). */
function amsterdam(date: Date): { iso: string; hour: number } {
  const parts = Object.fromEntries(AMSTERDAM.formatToParts(date).map((part) => [part.type, part.value]));
  const offset = parts.timeZoneName === 'GMT+2' ? '+02:00' : '+01:00';
  return { iso: `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`, hour: Number(parts.hour) };
}
