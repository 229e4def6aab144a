// `rivulet sim <device> --pty PATH`: a simulated serial device on a pseudo-terminal pair. socat
// creates the pair with PATH as the device end (what a reader or `rivulet agent` opens) and the
// simulator speaks the protocol on the other end, injecting faults on request. A scheduled
// disconnect tears the pair down and recreates it at the same paths, as an unplugged and
// replugged USB adapter would look to the reader.

import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { Logger, isLogLevel, type LogLevel } from '../lib/log.js';
import type { FaultOptions, SimulatorLinkOptions } from '../hardware/faults.js';
import { openPtyPair, replugPtyPair, type PtyPair } from '../hardware/serial/pty.js';
import { stopOnSignals } from './signals.js';

const DEVICES = ['gps', 'dsmr', 'modbus', 'iec62056', 'line'] as const;
type Device = (typeof DEVICES)[number];

interface SimCommandOptions {
  pty: string;
  simPty?: string;
  rate?: number;
  garble?: number;
  badChecksum?: number;
  partial?: number;
  silenceEvery?: number;
  silenceFor?: number;
  disconnectEvery?: number;
  disconnectFor?: number;
  meter: 'sdm630' | 'sdm120';
  format: 'json' | 'csv' | 'kv';
  dsmrVersion: '5' | '2.2';
  speed?: number;
  address?: number;
  logLevel: LogLevel;
}

function device(value: string): Device {
  if (!(DEVICES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${DEVICES.join(', ')}.`);
  return value as Device;
}

function probability(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('must be a probability from 0 to 1.');
  return parsed;
}

function positive(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !(parsed > 0) || !Number.isFinite(parsed)) throw new InvalidArgumentError('must be a number above 0.');
  return parsed;
}

function slaveAddress(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 247) throw new InvalidArgumentError('must be a whole number from 1 to 247.');
  return parsed;
}

function logLevel(value: string): LogLevel {
  if (!isLogLevel(value)) throw new InvalidArgumentError('must be one of debug, info, warn, error.');
  return value;
}

/** Fault options from the command line; the paired options must come together. */
function faultsFrom(options: SimCommandOptions, fail: (message: string) => never): FaultOptions {
  const faults: FaultOptions = {};
  if (options.garble !== undefined) faults.garble = options.garble;
  if (options.badChecksum !== undefined) faults.badChecksum = options.badChecksum;
  if (options.partial !== undefined) faults.partial = options.partial;
  if ((options.silenceEvery === undefined) !== (options.silenceFor === undefined)) fail('--silence-every and --silence-for go together.');
  if (options.silenceEvery !== undefined && options.silenceFor !== undefined) {
    if (options.silenceFor >= options.silenceEvery) fail('--silence-for must be shorter than --silence-every.');
    faults.silenceMs = { every: options.silenceEvery * 1000, for: options.silenceFor * 1000 };
  }
  if ((options.disconnectEvery === undefined) !== (options.disconnectFor === undefined)) fail('--disconnect-every and --disconnect-for go together.');
  if (options.disconnectEvery !== undefined && options.disconnectFor !== undefined) {
    faults.disconnect = { everyMs: options.disconnectEvery * 1000, forMs: options.disconnectFor * 1000 };
  }
  return faults;
}

/** A running simulator, whatever the device. */
interface Simulator {
  start(): Promise<void>;
  stop(): Promise<void>;
}

// Each simulator is loaded only when asked for, so one `rivulet sim` process carries one device.
async function createSimulator(kind: Device, options: SimCommandOptions, link: SimulatorLinkOptions): Promise<Simulator> {
  switch (kind) {
    case 'gps': {
      const { NmeaSimulator } = await import('../hardware/nmea/simulator.js');
      return new NmeaSimulator({ ...link, rateHz: options.rate ?? 1, ...(options.speed === undefined ? {} : { speedKmh: options.speed }) });
    }
    case 'dsmr': {
      const { DsmrSimulator } = await import('../hardware/dsmr/simulator.js');
      return new DsmrSimulator({ ...link, version: options.dsmrVersion, ...(options.rate === undefined ? {} : { intervalMs: 1000 / options.rate }) });
    }
    case 'modbus': {
      const { ModbusSimulator } = await import('../hardware/modbus/simulator.js');
      return new ModbusSimulator({ ...link, meter: options.meter, address: options.address ?? 1 });
    }
    case 'iec62056': {
      const { Iec62056Simulator } = await import('../hardware/iec62056/simulator.js');
      return new Iec62056Simulator(link);
    }
    case 'line': {
      const { LineSimulator } = await import('../hardware/line/simulator.js');
      return new LineSimulator({ ...link, rateHz: options.rate ?? 1, format: options.format === 'kv' ? 'keyValue' : options.format });
    }
  }
}

/** The `rivulet sim` command. */
export function simCommand(): Command {
  return new Command('sim')
    .description('simulate a serial device (GPS, DSMR P1 meter, Modbus RTU meter, IEC 62056-21 meter, line sensor) on a pseudo-terminal pair')
    .argument('<device>', `one of ${DEVICES.join(', ')}`, device)
    .requiredOption('--pty <path>', 'where the device end appears; a reader opens this path like a serial adapter')
    .option('--sim-pty <path>', "where the simulator's end appears (default: <pty>.sim)")
    .option('--rate <per-second>', 'frames per second: GPS epochs, DSMR telegrams, sensor lines (default: 1)', positive)
    .option('--garble <probability>', 'per frame: replace a few bytes with noise', probability)
    .option('--bad-checksum <probability>', 'per frame: send a wrong checksum/CRC/BCC', probability)
    .option('--partial <probability>', 'per frame: cut the frame off part-way', probability)
    .option('--silence-every <seconds>', 'go silent periodically (with --silence-for)', positive)
    .option('--silence-for <seconds>', 'length of each silence', positive)
    .option('--disconnect-every <seconds>', 'unplug the device periodically: the pty pair is removed and recreated (with --disconnect-for)', positive)
    .option('--disconnect-for <seconds>', 'how long the device stays unplugged', positive)
    .addOption(new Option('--meter <model>', 'modbus: the meter simulated').choices(['sdm630', 'sdm120']).default('sdm630'))
    .option('--address <number>', 'modbus: the slave address (default: 1)', slaveAddress)
    .addOption(new Option('--format <format>', 'line: how the sensor writes its lines').choices(['json', 'csv', 'kv']).default('json'))
    .addOption(new Option('--dsmr-version <version>', 'dsmr: meter generation').choices(['5', '2.2']).default('5'))
    .option('--speed <km/h>', 'gps: speed along the track (default: 36)', positive)
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error').default('info').argParser(logLevel))
    .action(async (kind: Device, options: SimCommandOptions, command: Command) => {
      const fail = (message: string): never => command.error(`error: ${message}`);
      const faults = faultsFrom(options, fail);
      const log = new Logger(options.logLevel, { component: 'sim', device: kind });
      const devicePath = resolve(options.pty);
      const simulatorPath = resolve(options.simPty ?? `${options.pty}.sim`);
      if (devicePath === simulatorPath) fail('--pty and --sim-pty must differ.');

      let pair: PtyPair = await openPtyPair({ devicePath, simulatorPath });
      const simulator = await createSimulator(kind, options, {
        path: simulatorPath,
        faults,
        log,
        // The simulator has closed its end: unplug (remove the pair), wait, plug back in.
        onDisconnect: async (forMs, signal) => {
          log.info('unplugging the device', { forMs });
          pair = await replugPtyPair(pair, forMs, signal);
          if (shutdown.stopping) await pair.close();
          else log.info('device plugged back in', { path: devicePath });
        },
      });

      const shutdown = stopOnSignals(async () => {
        await simulator.stop();
        await pair.close();
      }, log);

      await simulator.start();
      process.stdout.write(
        `Simulated ${kind} device at ${devicePath} (simulator end: ${simulatorPath}). Open it like a serial port, e.g. \`cat ${devicePath}\`. Ctrl+C to stop.\n`,
      );
    });
}
