// Every device simulator against its reader, end to end over a real pty pair from socat: the
// readings that come out are checked against what the simulator put in. Faults are forced onto
// single frames (FaultInjector.once) so that each counter can be checked exactly: bad checksums
// are counted and skipped, cut-off frames resynchronised, line noise ignored. The Modbus poller
// and the IEC 62056-21 handshake get their own request/response cases.

import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { FaultInjector, checkFaultOptions } from '../../hardware/faults.js';
import { DsmrReader } from '../../hardware/dsmr/reader.js';
import { DsmrSimulator } from '../../hardware/dsmr/simulator.js';
import { Iec62056Reader } from '../../hardware/iec62056/reader.js';
import { Iec62056Simulator } from '../../hardware/iec62056/simulator.js';
import { LineReader } from '../../hardware/line/reader.js';
import { LINE_SIMULATOR_COLUMNS, LineSimulator } from '../../hardware/line/simulator.js';
import { SDM630_MAP, type RegisterMapEntry } from '../../hardware/modbus/index.js';
import { ModbusReader, type ModbusPollError } from '../../hardware/modbus/reader.js';
import { ModbusSimulator } from '../../hardware/modbus/simulator.js';
import { NmeaReader } from '../../hardware/nmea/reader.js';
import { NmeaSimulator } from '../../hardware/nmea/simulator.js';
import type { DeviceReading } from '../../hardware/serial/byte-transport.js';
import { openPtyPair, replugPtyPair } from '../../hardware/serial/pty.js';
import { SerialTransport, type SerialTransportOptions } from '../../hardware/serial/transport.js';
import { prng } from '../helpers/chunks.js';

interface Started {
  start(): Promise<void>;
  stop(): Promise<void>;
  onReading?(listener: (reading: DeviceReading) => void): () => void;
}

/**
 * A pty pair with a reader on the device end and a simulator on the other; both are stopped and
 * the pair closed after the test. Returns the readings as they arrive.
 */
async function connect<R extends Started, S extends Started>(
  t: ExecutionContext,
  makeReader: (transport: SerialTransport) => R,
  makeSimulator: (path: string) => S,
  serial: Omit<SerialTransportOptions, 'path'>,
  order: 'readerFirst' | 'simulatorFirst' = 'readerFirst',
): Promise<{ reader: R; simulator: S; transport: SerialTransport; readings: DeviceReading[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-sim-'));
  const pair = await openPtyPair({ devicePath: join(dir, 'device'), simulatorPath: join(dir, 'sim') });
  const transport = new SerialTransport({ path: pair.devicePath, reopenBackoffMs: { initial: 40, max: 250 }, presenceCheckMs: 200, ...serial });
  const reader = makeReader(transport);
  const simulator = makeSimulator(pair.simulatorPath);
  const readings: DeviceReading[] = [];
  reader.onReading?.((reading) => readings.push(reading));
  t.teardown(async () => {
    await reader.stop();
    await simulator.stop();
    await pair.close();
    await rm(dir, { recursive: true, force: true });
  });
  // Bytes written to a pty whose other end is not open yet are lost, as with a real cable: stream
  // tests open the reader first to see the first frame; request/response tests open the meter
  // first so that the first request is answered.
  const [first, second] = order === 'readerFirst' ? [reader, simulator] : [simulator, reader];
  await first.start();
  await second.start();
  return { reader, simulator, transport, readings };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The values as float32 holds them: the poller prints floats in their shortest exact form. */
const asFloat32 = (values: DeviceReading['values']): Record<string, number> =>
  Object.fromEntries(Object.entries(values).map(([name, value]) => [name, Math.fround(value as number)]));

const number = (reading: DeviceReading, name: string): number => {
  const value = reading.values[name];
  if (typeof value !== 'number') throw new Error(`${name} is ${String(value)}, not a number`);
  return value;
};

// ---- NMEA -----------------------------------------------------------------------------------------

test('gps: the simulated receiver drives its track and the reader reports one fix per epoch', async (t) => {
  const startTime = new Date('2024-05-01T10:00:00.000Z');
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new NmeaReader({ transport }),
    (path) => new NmeaSimulator({ path, rateHz: 20, speedKmh: 54, startTime }),
    { baudRate: 9600 },
  );
  await until(() => readings.length >= 10, 3000, 'ten fixes');
  const lats = [52.357, 52.36];
  const lons = [4.868, 4.876];
  for (const reading of readings) {
    t.is(reading.source, 'nmea');
    t.true(reading.values.valid);
    t.true(number(reading, 'lat') >= lats[0]! && number(reading, 'lat') <= lats[1]!);
    t.true(number(reading, 'lon') >= lons[0]! && number(reading, 'lon') <= lons[1]!);
    t.is(number(reading, 'speedKmh'), 54);
    t.is(reading.values.satellites, 10);
    t.is(reading.values.fixQuality, 1);
    t.is(reading.values.altitudeM, 12.5);
  }
  // Simulated time advances 50 ms per epoch, and the position moves with it.
  const times = readings.map((reading) => Date.parse(reading.deviceTime!));
  t.is(times[0], startTime.getTime());
  t.true(times.every((time, i) => i === 0 || time - times[i - 1]! === 50));
  t.not(readings[0]!.values.lat, readings[9]!.values.lat);
  // GSV of the previous epoch fills in the satellites in view.
  t.is(readings.at(-1)!.values.satellitesInView, 10);
  t.true(readings.every((r) => number(r, 'courseDeg') >= 0 && number(r, 'courseDeg') < 360));
  t.true(simulator.epochs >= readings.length);
  t.is(reader.counters.checksumErrors, 0);
  t.is(reader.counters.resyncs, 0);
});

test('gps: bad checksums are counted and skipped, cut-off sentences resynchronised, noise ignored', async (t) => {
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new NmeaReader({ transport }),
    (path) => new NmeaSimulator({ path, rateHz: 20 }),
    { baudRate: 9600 },
  );
  await until(() => readings.length >= 2, 3000, 'first fixes');
  simulator.link.faults.once('badChecksum');
  await until(() => reader.counters.checksumErrors === 1, 2000, 'the bad checksum');
  simulator.link.faults.once('partial');
  await until(() => reader.counters.resyncs >= 1, 2000, 'the resync');
  await simulator.link.sendRaw(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x2a, 0x0d, 0x0a, 0x81]));
  const seen = readings.length;
  await until(() => readings.length >= seen + 5, 2000, 'fixes after the faults');
  t.is(reader.counters.checksumErrors, 1);
  t.true(readings.every((reading) => reading.values.valid === true));
  t.true(reader.counters.droppedBytes > 0);
});

// ---- DSMR -----------------------------------------------------------------------------------------

test('dsmr 5: telegrams every interval with growing energy, varying power and the gas reading', async (t) => {
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new DsmrReader({ transport, requireCrc: true }),
    (path) => new DsmrSimulator({ path, intervalMs: 50, gasIntervalMs: 200 }),
    { baudRate: 115200 },
  );
  await until(() => readings.length >= 10, 3000, 'ten telegrams');
  const first = readings[0]!;
  t.is(first.source, 'dsmr');
  t.is(first.values.equipmentId, 'E0045003881531');
  t.is(first.values.version, '50');
  t.is(first.values.gasDeviceType, 3);
  t.regex(first.deviceTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$/);
  const total = (r: DeviceReading): number =>
    number(r, 'energyDeliveredTariff1Kwh') + number(r, 'energyDeliveredTariff2Kwh');
  t.true(readings.every((r, i) => i === 0 || total(r) >= total(readings[i - 1]!)));
  t.true(readings.every((r) => typeof r.values.powerDeliveredKw === 'number' && typeof r.values.voltageL1V === 'number'));
  // Gas changes on its own slower schedule (200 ms here) and carries its own timestamp.
  t.true(new Set(readings.map((r) => r.values.gasDeliveredM3)).size >= 2);
  t.regex(String(first.values.gasTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$/);
  const last = simulator.lastTelegram!;
  t.true(readings.some((r) => r.values.energyDeliveredTariff2Kwh === last.energyDeliveredTariff2Kwh || r.values.energyDeliveredTariff1Kwh === last.energyDeliveredTariff1Kwh));
  t.is(reader.counters.checksumErrors, 0);
});

test('dsmr 5: a bad CRC is counted and skipped, a cut-off telegram resynchronised, noise ignored', async (t) => {
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new DsmrReader({ transport, requireCrc: true }),
    // Seeded: where the garble lands is the same every run.
    (path) => new DsmrSimulator({ path, intervalMs: 50, random: prng(3) }),
    { baudRate: 115200 },
  );
  await until(() => readings.length >= 2, 3000, 'first telegrams');
  simulator.link.faults.once('badChecksum');
  await until(() => reader.counters.checksumErrors === 1, 2000, 'the CRC error');
  simulator.link.faults.once('partial');
  await until(() => reader.counters.resyncs === 1, 2000, 'the resync');
  // Noise between telegrams, with a stray `!` and CR LF in it.
  await simulator.link.sendRaw(Buffer.from('\x00\xff!1234\r\nxx\x7f'));
  simulator.link.faults.once('garble');
  const sent = simulator.telegrams;
  await until(() => simulator.telegrams >= sent + 5, 2000, 'more telegrams');
  await simulator.stop();
  // Every telegram either arrived or was one of the three faulty ones.
  await until(() => reader.counters.frames >= simulator.telegrams - 3, 2000, 'the telegrams in flight');
  const counters = reader.counters;
  t.is(counters.frames, simulator.telegrams - 3);
  t.is(counters.checksumErrors + counters.resyncs, 3, 'the garbled telegram failed its CRC or was abandoned');
  t.true(counters.droppedBytes >= 10);
  t.true(readings.every((r) => r.values.equipmentId === 'E0045003881531'));
});

test('dsmr 2.2: no CRC, 9600 7E1, the two-line gas reading', async (t) => {
  const { reader, readings } = await connect(
    t,
    (transport) => new DsmrReader({ transport }),
    (path) => new DsmrSimulator({ path, version: '2.2', intervalMs: 50 }),
    { baudRate: 9600, dataBits: 7, parity: 'even' },
  );
  await until(() => readings.length >= 3, 3000, 'three telegrams');
  const reading = readings[0]!;
  t.is(reading.values.equipmentId, 'ZBEV005093167');
  t.is(typeof reading.values.gasDeliveredM3, 'number');
  t.is(reading.values.gasChannel, 1);
  t.is(reading.deviceTime, undefined);
  t.is(reader.counters.withProblems, 0);
});

// ---- line sensors ---------------------------------------------------------------------------------

for (const format of ['json', 'csv', 'keyValue'] as const) {
  test(`line (${format}): every line arrives as the values the simulator printed`, async (t) => {
    const lineFormat = format === 'csv' ? { kind: 'csv' as const, columns: LINE_SIMULATOR_COLUMNS } : { kind: format };
    const { reader, simulator, readings } = await connect(
      t,
      (transport) => new LineReader({ transport, format: lineFormat }),
      (path) => new LineSimulator({ path, rateHz: 50, format }),
      { baudRate: 115200 },
    );
    await until(() => readings.length >= 10, 3000, 'ten lines');
    const sequence = readings.map((r) => r.values.seq as number);
    t.deepEqual(sequence, sequence.map((_, i) => sequence[0]! + i));
    t.deepEqual(Object.keys(readings[0]!.values).sort(), [...LINE_SIMULATOR_COLUMNS].sort());
    t.is(readings[0]!.values.status, 'ok');
    await until(() => readings.some((r) => r.values.seq === simulator.lastValues!.seq), 1000, 'the latest line');
    const latest = readings.find((r) => r.values.seq === simulator.lastValues!.seq)!;
    t.deepEqual(latest.values, simulator.lastValues);
    // The CSV header the board prints at start-up is recognised, not taken for a reading.
    t.is(reader.counters.rejected, format === 'csv' ? 1 : 0);
  });
}

test('line: garbled and cut-off lines are rejected and the next line reads fine', async (t) => {
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new LineReader({ transport, format: { kind: 'json' } }),
    (path) => new LineSimulator({ path, rateHz: 50, random: prng(7) }),
    { baudRate: 115200 },
  );
  await until(() => readings.length >= 2, 2000, 'first lines');
  simulator.link.faults.once('partial');
  await until(() => reader.counters.rejected >= 1, 2000, 'the glued line');
  simulator.link.faults.once('garble');
  const seen = readings.length;
  await until(() => readings.length >= seen + 5, 2000, 'lines after the faults');
  const counters = reader.counters;
  t.true(counters.rejected + counters.resyncs >= 1);
  t.true(readings.every((r) => r.values.status === 'ok'));
});

// ---- Modbus ---------------------------------------------------------------------------------------

test('modbus: the poller reads the SDM630 map and gets the values the meter holds', async (t) => {
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new ModbusReader({ transport, address: 7, meter: 'sdm630', intervalMs: 100, responseTimeoutMs: 1000 }),
    (path) => new ModbusSimulator({ path, address: 7, updateIntervalMs: 60_000 }),
    { baudRate: 9600 },
    'simulatorFirst',
  );
  await until(() => readings.length >= 2, 3000, 'two polls');
  const expected = simulator.values;
  t.deepEqual(Object.keys(readings[0]!.values).sort(), SDM630_MAP.map((e) => e.name).sort());
  t.deepEqual(asFloat32(readings[0]!.values), expected);
  // 231.6464, not 231.64639282226562: the same float32, printed as briefly as it can be.
  t.true(Object.values(readings[0]!.values).every((value) => String(value).replace(/^-|\./g, '').length <= 9));
  t.is(readings[0]!.units?.totalActiveEnergy, 'kWh');
  t.true(number(readings[0]!, 'voltageL1') > 225 && number(readings[0]!, 'voltageL1') < 235);
  t.true(number(readings[0]!, 'totalActiveEnergy') > number(readings[0]!, 'importEnergy'));
  const counters = reader.counters;
  t.is(counters.timeouts + counters.checksumErrors + counters.exceptions + counters.retries, 0);
  // Four requests per poll (0x00–0x11, 0x34–0x35, 0x46–0x4B, 0x156–0x157): no gaps bridged. The
  // meter may be answering one more right now.
  t.true(simulator.counters.requests - counters.frames <= 1);
  t.true(reader.counters.frames >= 4 * readings.length);
});

test('modbus: the SDM120 map over a 2400 baud line', async (t) => {
  const { simulator, readings } = await connect(
    t,
    (transport) => new ModbusReader({ transport, address: 1, meter: 'sdm120', intervalMs: 100, baudRate: 2400 }),
    (path) => new ModbusSimulator({ path, meter: 'sdm120', updateIntervalMs: 60_000 }),
    { baudRate: 2400 },
    'simulatorFirst',
  );
  await until(() => readings.length >= 1, 3000, 'a poll');
  t.deepEqual(asFloat32(readings[0]!.values), simulator.values);
  t.deepEqual(Object.keys(readings[0]!.values).sort(), ['activePower', 'current', 'exportEnergy', 'frequency', 'importEnergy', 'totalActiveEnergy', 'voltage']);
});

test('modbus: a corrupted or cut-off reply is retried after a pause, a missing one times out', async (t) => {
  const errors: ModbusPollError[] = [];
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => {
      const r = new ModbusReader({ transport, address: 1, meter: 'sdm120', intervalMs: 150, responseTimeoutMs: 400, retryPauseMs: 20 });
      r.onError((error) => errors.push(error));
      return r;
    },
    (path) => new ModbusSimulator({ path, meter: 'sdm120', updateIntervalMs: 60_000 }),
    { baudRate: 9600 },
    'simulatorFirst',
  );
  await until(() => readings.length >= 1, 3000, 'the first poll');
  // One fault at a time, each forced onto the meter's next reply; counters are compared with
  // what they were before, since a loaded machine may add a timeout of its own.
  const cases = [
    { fault: 'badChecksum', counter: 'checksumErrors', detail: /^crc:/ },
    { fault: 'partial', counter: 'resyncs', detail: /^short:/ },
    { fault: 'silence', counter: 'timeouts', detail: /^no reply within 400 ms$/ },
  ] as const;
  for (const { fault, counter, detail } of cases) {
    const before = reader.counters;
    const seen = readings.length;
    simulator.link.faults.once(fault);
    await until(() => reader.counters[counter] > before[counter] && readings.length > seen + 1, 3000, `the ${fault} and its retry`);
    t.true(reader.counters.retries > before.retries, `${fault} was retried`);
    t.true(errors.some((e) => e.kind !== 'exception' && e.kind !== 'poll' && detail.test(e.detail)), `${fault} was reported`);
  }
  t.is(reader.counters.failedRequests, 0);
  t.is(reader.counters.exceptions, 0);
  // Every poll, retried or not, came back with the meter's values.
  t.true(readings.every((r) => isDeepStrictEqual(asFloat32(r.values), simulator.values)));
});

test('modbus: an unmapped register is refused with an exception, reported and not retried', async (t) => {
  const errors: ModbusPollError[] = [];
  const map: RegisterMapEntry[] = [
    ...SDM630_MAP.slice(0, 3),
    { name: 'neutralCurrent', register: 0x00e0, type: 'float32', order: 'ABCD', unit: 'A', function: 4 },
    { name: 'setting', register: 0x0012, type: 'float32', order: 'ABCD', unit: '', function: 3 },
  ];
  const { reader, readings } = await connect(
    t,
    (transport) => {
      const r = new ModbusReader({ transport, address: 1, map, intervalMs: 100 });
      r.onError((error) => errors.push(error));
      return r;
    },
    (path) => new ModbusSimulator({ path, updateIntervalMs: 60_000 }),
    { baudRate: 9600 },
    'simulatorFirst',
  );
  await until(() => readings.length >= 2, 3000, 'two polls');
  t.deepEqual(Object.keys(readings[0]!.values).sort(), ['voltageL1', 'voltageL2', 'voltageL3']);
  const exceptions = errors.filter((e) => e.kind === 'exception');
  t.true(exceptions.length >= 4);
  t.deepEqual(
    [...new Set(exceptions.map((e) => (e.kind === 'exception' ? `${e.request.function}:${e.request.start}:${e.exception}:${e.entries.join()}` : '')))].sort(),
    ['3:18:ILLEGAL_DATA_ADDRESS:setting', '4:224:ILLEGAL_DATA_ADDRESS:neutralCurrent'],
  );
  t.is(reader.counters.retries, 0);
  t.is(reader.counters.exceptions, exceptions.length);
});

// ---- IEC 62056-21 -----------------------------------------------------------------------------------

test('iec62056-21: sign-on at 300 baud, identification, ACK, baud switch and the data block', async (t) => {
  const { reader, simulator, transport, readings } = await connect(
    t,
    (transport) => new Iec62056Reader({ transport, intervalMs: 300, maxBaudRate: 9600, blockTimeoutMs: 500 }),
    (path) => new Iec62056Simulator({ path, baudRate: 19200, reactionMs: 20, switchDelayMs: 50 }),
    { baudRate: 300, dataBits: 7, parity: 'even' },
    'simulatorFirst',
  );
  await until(() => readings.length >= 2, 3000, 'two readouts');
  // The meter offered 19200; the reader capped it at 9600 and both sides switched to it.
  t.deepEqual(simulator.baudSwitches.slice(0, 2), [9600, 9600]);
  t.true(reader.counters.baudSwitches >= 2);
  await until(() => transport.baudRate === 300, 1000, 'the return to 300 baud');
  const reading = readings.at(-1)!;
  const expected = simulator.lastReadout!;
  t.is(reading.source, 'iec62056');
  for (const [field, value] of Object.entries(expected)) t.is(reading.values[field], value, field);
  t.is(reading.units?.energyImportTotal, 'kWh');
  t.is(reading.units?.powerImport, 'kW');
  t.is(reading.values['0.0.0'], 12345678);
  t.is(reading.values.meter, 'ISkMT174');
  t.is(reader.counters.checksumErrors, 0);
});

test('iec62056-21: a wrong BCC is counted and skipped, a silent meter fails the sign-on, the next cycle reads', async (t) => {
  const { reader, simulator, readings } = await connect(
    t,
    (transport) => new Iec62056Reader({ transport, intervalMs: 250, identificationTimeoutMs: 200, blockTimeoutMs: 400 }),
    (path) => new Iec62056Simulator({ path, reactionMs: 10, switchDelayMs: 50 }),
    { baudRate: 300, dataBits: 7, parity: 'even' },
    'simulatorFirst',
  );
  await until(() => readings.length >= 1, 3000, 'a readout');
  simulator.link.faults.once('badChecksum');
  await until(() => reader.counters.checksumErrors === 1, 2000, 'the BCC error');
  const failures = reader.counters.identificationFailures;
  simulator.link.faults.once('silence');
  await until(() => reader.counters.identificationFailures > failures, 2000, 'the failed sign-on');
  const seen = readings.length;
  await until(() => readings.length > seen, 2000, 'a readout after the faults');
  t.is(reader.counters.checksumErrors, 1);
  t.is(reader.counters.frames, readings.length);
});

// ---- fault injection ------------------------------------------------------------------------------

test('fault injection: per-frame probabilities, forced faults, silence windows and option checks', (t) => {
  let now = 0;
  const faults = new FaultInjector({ garble: 0.5, partial: 0.5, badChecksum: 0.25, silenceMs: { every: 1000, for: 200 } }, prng(42), () => now);
  const frame = Uint8Array.from({ length: 50 }, (_, i) => 0x41 + (i % 26));
  let changed = 0;
  for (let i = 0; i < 200; i++) {
    const out = faults.mangle(frame);
    if (Buffer.compare(Buffer.from(out), Buffer.from(frame)) !== 0) changed++;
    faults.corruptChecksum();
  }
  const counters = faults.counters;
  t.true(counters.garbled > 60 && counters.garbled < 140, `garbled ${counters.garbled}`);
  t.true(counters.partials > 60 && counters.partials < 140, `partials ${counters.partials}`);
  t.true(counters.badChecksums > 25 && counters.badChecksums < 80, `badChecksums ${counters.badChecksums}`);
  t.true(changed >= Math.max(counters.garbled, counters.partials));
  // Silent for the last 200 ms of every second.
  t.false(faults.silent());
  now = 850;
  t.true(faults.silent());
  now = 1100;
  t.false(faults.silent());
  // No faults configured: nothing happens unless forced, and a forced fault hits exactly once.
  const clean = new FaultInjector();
  t.is(clean.mangle(frame), frame);
  t.false(clean.corruptChecksum());
  clean.once('badChecksum');
  t.true(clean.corruptChecksum());
  t.false(clean.corruptChecksum());
  t.throws(() => checkFaultOptions({ garble: 2 }), { message: /faults\.garble/ });
  t.throws(() => checkFaultOptions({ silenceMs: { every: 100, for: 200 } }), { message: /faults\.silenceMs/ });
  t.throws(() => checkFaultOptions({ disconnect: { everyMs: 0, forMs: 1 } }), { message: /faults\.disconnect/ });
});

test('disconnect fault: the simulator closes its side and calls the hook, then carries on', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-disc-'));
  let pair = await openPtyPair({ devicePath: join(dir, 'device'), simulatorPath: join(dir, 'sim') });
  const hookCalls: number[] = [];
  const simulator = new LineSimulator({
    path: pair.simulatorPath,
    rateHz: 50,
    faults: { disconnect: { everyMs: 900, forMs: 300 } },
    onDisconnect: async (forMs) => {
      hookCalls.push(forMs);
      pair = await replugPtyPair(pair, forMs);
    },
  });
  const transport = new SerialTransport({ path: join(dir, 'device'), baudRate: 115200, reopenBackoffMs: { initial: 40, max: 200 }, presenceCheckMs: 100 });
  const reader = new LineReader({ transport, format: { kind: 'json' } });
  const readings: DeviceReading[] = [];
  reader.onReading((r) => readings.push(r));
  t.teardown(async () => {
    await reader.stop();
    await simulator.stop();
    await pair.close();
    await rm(dir, { recursive: true, force: true });
  });
  await simulator.start();
  await reader.start();
  await until(() => hookCalls.length >= 1 && simulator.link.connected, 3000, 'a disconnect and the reconnect');
  const seen = readings.length;
  await until(() => readings.length >= seen + 5, 3000, 'readings after the disconnect');
  t.deepEqual(hookCalls.slice(0, 1), [300]);
  t.true(simulator.link.faults.counters.disconnects >= 1);
  t.true(transport.stats.reopens >= 1);
});
