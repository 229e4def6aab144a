// The serial plumbing on real pseudo-terminals from socat: the pty pair itself, the transport's
// reopen loop (device missing at start, unplug and replug with the pair recreated at the same
// path, a by-id style symlink re-resolved to a new pts), the no-data watchdog, and in-place baud
// changes. A line sensor simulator supplies the traffic where a reader is involved.

import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readlink, rename, rm, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineReader } from '../../hardware/line/reader.js';
import { LineSimulator } from '../../hardware/line/simulator.js';
import type { DeviceReading, TransportStateEvent } from '../../hardware/serial/byte-transport.js';
import { openPtyPair, replugPtyPair, type PtyPair } from '../../hardware/serial/pty.js';
import { SerialTransport } from '../../hardware/serial/transport.js';

const FAST_BACKOFF = { initial: 40, max: 250 };
const PRESENCE_CHECK_MS = 200;

interface Rig {
  dir: string;
  devicePath: string;
  simulatorPath: string;
  pair: PtyPair;
  /** Runs at the end of the test, last registered first. */
  cleanup(step: () => Promise<unknown> | void): void;
}

/** A pty pair in a fresh directory; everything registered with cleanup is undone after the test. */
async function rig(t: ExecutionContext): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-serial-'));
  const devicePath = join(dir, 'device');
  const simulatorPath = join(dir, 'sim');
  const steps: Array<() => Promise<unknown> | void> = [];
  const r: Rig = { dir, devicePath, simulatorPath, pair: undefined as unknown as PtyPair, cleanup: (step) => steps.push(step) };
  t.teardown(async () => {
    for (const step of steps.reverse()) await step();
    await r.pair.close();
    await rm(dir, { recursive: true, force: true });
  });
  r.pair = await openPtyPair({ devicePath, simulatorPath });
  return r;
}

async function until(condition: () => boolean, timeoutMs: number, what: string, detail: () => unknown = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${JSON.stringify(detail())}`);
    await sleep(10);
  }
}

test('openPtyPair links both ends to fresh pts nodes and close removes them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-pty-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A dangling link left by a SIGKILLed socat must not be mistaken for the new end.
  await symlink('/dev/pts/9999', join(dir, 'a'));
  const pair = await openPtyPair({ devicePath: join(dir, 'a'), simulatorPath: join(dir, 'b') });
  t.regex(pair.devicePts, /^\/dev\/pts\/\d+$/);
  t.not(pair.devicePts, pair.simulatorPts);
  t.is(await readlink(join(dir, 'a')), pair.devicePts);
  t.is(await readlink(join(dir, 'b')), pair.simulatorPts);
  await pair.close();
  await pair.close(); // idempotent
  t.false(existsSync(join(dir, 'a')));
  t.false(existsSync(join(dir, 'b')));
});

test('bytes flow both ways between two transports on a pty pair', async (t) => {
  const r = await rig(t);
  const device = new SerialTransport({ path: r.devicePath, baudRate: 9600 });
  const simulator = new SerialTransport({ path: r.simulatorPath, baudRate: 9600 });
  r.cleanup(() => device.stop());
  r.cleanup(() => simulator.stop());
  await device.start();
  await simulator.start();
  t.true(device.isOpen && simulator.isOpen);
  const atDevice: Buffer[] = [];
  const atSimulator: Buffer[] = [];
  device.onData((chunk) => atDevice.push(Buffer.from(chunk)));
  simulator.onData((chunk) => atSimulator.push(Buffer.from(chunk)));
  await simulator.write(Buffer.from('hello device\r\n'));
  await device.write(Buffer.from('hello simulator\r\n'));
  await until(() => Buffer.concat(atDevice).length === 14 && Buffer.concat(atSimulator).length === 17, 2000, 'both messages');
  t.is(Buffer.concat(atDevice).toString(), 'hello device\r\n');
  t.is(Buffer.concat(atSimulator).toString(), 'hello simulator\r\n');
  t.is(device.stats.bytesIn, 14);
  t.is(device.stats.bytesOut, 17);
  // Baud changes happen in place: the port stays open and data keeps flowing.
  await device.setBaudRate(300);
  t.is(device.baudRate, 300);
  await simulator.write(Buffer.from('x'));
  await until(() => device.stats.bytesIn === 15, 2000, 'a byte after the baud change');
  t.is(device.stats.opens, 1);
});

test('a transport started before its device exists keeps retrying and opens when it appears', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-late-'));
  const events: TransportStateEvent[] = [];
  const transport = new SerialTransport({ path: join(dir, 'device'), baudRate: 9600, reopenBackoffMs: FAST_BACKOFF, presenceCheckMs: PRESENCE_CHECK_MS });
  transport.onState((event) => events.push(event));
  let pair: PtyPair | undefined;
  t.teardown(async () => {
    await transport.stop();
    await pair?.close();
    await rm(dir, { recursive: true, force: true });
  });
  await transport.start();
  t.false(transport.isOpen);
  t.is(events[0]?.state, 'error');
  t.regex(events[0]?.reason ?? '', /ENOENT/);
  t.true((events[0]?.retryInMs ?? -1) >= 0);
  await sleep(300);
  pair = await openPtyPair({ devicePath: join(dir, 'device'), simulatorPath: join(dir, 'sim') });
  await until(() => transport.isOpen, 2000, 'the port to open');
  t.true(transport.stats.openFailures >= 2);
  t.is(transport.stats.reopens, 0);
  t.is(events.at(-1)?.state, 'open');
  t.is(events.at(-1)?.path, pair.devicePts);
});

test('replug: the pair is killed and recreated at the same path; the reader keeps reading without a restart', async (t) => {
  const r = await rig(t);
  // A by-id style link in front of the device link: it must be resolved again on every open,
  // since the replugged device comes back on another pts.
  await mkdir(join(r.dir, 'by-id'));
  const byId = join(r.dir, 'by-id', 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0');
  await symlink(r.devicePath, byId);
  const transport = new SerialTransport({ path: byId, baudRate: 115200, reopenBackoffMs: FAST_BACKOFF, presenceCheckMs: PRESENCE_CHECK_MS });
  const opened: string[] = [];
  const events: unknown[] = [];
  transport.onState((event) => {
    events.push({ ...event, at: Date.now() % 100_000 });
    if (event.state === 'open') opened.push(event.path!);
  });
  const reader = new LineReader({ transport, format: { kind: 'json' } });
  const simulator = new LineSimulator({ path: r.simulatorPath, rateHz: 50 });
  const readings: DeviceReading[] = [];
  reader.onReading((reading) => readings.push(reading));
  r.cleanup(() => reader.stop());
  r.cleanup(() => simulator.stop());
  await reader.start();
  await simulator.start();
  await until(() => readings.length >= 5, 2000, 'readings before the replug');

  const before = readings.length;
  r.pair = await replugPtyPair(r.pair, 1000);
  const replugged = readings.length;
  t.true(replugged - before <= 1, 'nothing arrives while unplugged');
  await until(() => readings.length >= replugged + 5, 3000, 'readings after the replug', () => ({
    events, at: Date.now() % 100_000, stats: transport.stats, pts: r.pair.devicePts, sim: simulator.link.connected, readings: readings.length,
  }));

  t.true(reader.running);
  t.true(transport.stats.reopens >= 1);
  t.true(events.some((event) => (event as { state: string }).state !== 'open'), 'the loss was reported');
  t.true(transport.stats.openFailures >= 1, 'the missing device was retried');
  t.is(opened.at(-1), r.pair.devicePts);
  t.true(opened.length >= 2);
  // The sequence numbers keep rising across the gap: the same simulator, the same reader.
  const seqs = readings.map((reading) => reading.values.seq as number);
  t.true(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!));
});

test('the presence check follows a by-id link that now leads to another device, on a quiet line', async (t) => {
  const r = await rig(t);
  const other = await openPtyPair({ devicePath: join(r.dir, 'device2'), simulatorPath: join(r.dir, 'sim2') });
  r.cleanup(() => other.close());
  const byId = join(r.dir, 'usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0');
  await symlink(r.devicePath, byId);
  // No watchdog: a request/response device is quiet between polls, so only the presence check can tell.
  const transport = new SerialTransport({ path: byId, baudRate: 9600, reopenBackoffMs: FAST_BACKOFF, presenceCheckMs: PRESENCE_CHECK_MS });
  const received: Buffer[] = [];
  transport.onData((chunk) => received.push(Buffer.from(chunk)));
  r.cleanup(() => transport.stop());
  await transport.start();
  t.true(transport.isOpen);
  // The adapter comes back under another number and udev moves the link (atomically, by rename).
  await symlink(other.devicePath, `${byId}.new`);
  await rename(`${byId}.new`, byId);
  await until(() => transport.stats.reopens === 1, 2000, 'the reopen', () => transport.stats);
  t.is(transport.stats.vanished, 1);
  t.is(transport.stats.watchdogTrips, 0);
  const simulator = new SerialTransport({ path: other.simulatorPath, baudRate: 9600 });
  r.cleanup(() => simulator.stop());
  await simulator.start();
  await simulator.write(Buffer.from('from the new device'));
  await until(() => Buffer.concat(received).toString() === 'from the new device', 2000, 'data from the new device');
  t.pass();
});

test('the no-data watchdog closes and reopens a port that went silent', async (t) => {
  const r = await rig(t);
  const transport = new SerialTransport({ path: r.devicePath, baudRate: 115200, noDataTimeoutMs: 250, reopenBackoffMs: FAST_BACKOFF, presenceCheckMs: PRESENCE_CHECK_MS });
  const events: TransportStateEvent[] = [];
  transport.onState((event) => events.push(event));
  const reader = new LineReader({ transport, format: { kind: 'keyValue' } });
  // Silent for the last 700 ms of every 1200 ms: long enough for the watchdog to trip.
  const simulator = new LineSimulator({ path: r.simulatorPath, rateHz: 50, format: 'keyValue', faults: { silenceMs: { every: 1200, for: 700 } } });
  const readings: DeviceReading[] = [];
  reader.onReading((reading) => readings.push(reading));
  r.cleanup(() => reader.stop());
  r.cleanup(() => simulator.stop());
  await reader.start();
  await simulator.start();
  await until(() => transport.stats.watchdogTrips >= 1, 3000, 'the watchdog');
  const tripped = readings.length;
  await until(() => readings.length > tripped + 5, 3000, 'readings after the silence');
  t.true(transport.stats.reopens >= 1);
  t.true(events.some((event) => event.state === 'closed' && /no data for \d+ ms/.test(event.reason ?? '')));
  t.is(events.at(-1)?.state, 'open');
  t.is(reader.counters.rejected, 0);
});

test('the watchdog leaves a busy port alone, and stop() ends the reopen loop', async (t) => {
  const r = await rig(t);
  const transport = new SerialTransport({ path: r.devicePath, baudRate: 115200, noDataTimeoutMs: 500, reopenBackoffMs: FAST_BACKOFF, presenceCheckMs: PRESENCE_CHECK_MS });
  const reader = new LineReader({ transport, format: { kind: 'json' } });
  const simulator = new LineSimulator({ path: r.simulatorPath, rateHz: 50 });
  r.cleanup(() => reader.stop());
  r.cleanup(() => simulator.stop());
  await reader.start();
  await simulator.start();
  await sleep(800);
  t.is(transport.stats.watchdogTrips, 0);
  t.true(reader.counters.frames >= 10);
  // Unplugged for good: the transport retries, until stopped.
  await r.pair.close();
  await sleep(300);
  t.false(transport.isOpen);
  await reader.stop();
  const failures = transport.stats.openFailures;
  await sleep(400);
  t.is(transport.stats.openFailures, failures);
  t.false(reader.running);
});

test('transport options are checked with messages naming the field', (t) => {
  t.throws(() => new SerialTransport({ path: '', baudRate: 9600 }), { message: /options\.path/ });
  t.throws(() => new SerialTransport({ path: '/dev/null', baudRate: 0 }), { message: /options\.baudRate/ });
  t.throws(() => new SerialTransport({ path: '/dev/null', baudRate: 9600, reopenBackoffMs: { initial: 100, max: 10 } }), { message: /reopenBackoffMs/ });
  t.throws(() => new SerialTransport({ path: '/dev/null', baudRate: 9600, parity: 'weird' as 'none' }), { message: /options\.parity/ });
});
