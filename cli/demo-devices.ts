// The demo's serial devices: `rivulet sim gps|dsmr|modbus` as child processes of the demo, each on
// its own socat pty pair in a temp folder, so the agent reads them exactly as it reads USB
// adapters on a device. A device that cannot start is reported and left out; the rest run.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The simulated devices the demo runs, by `rivulet sim` device name. */
export const DEMO_DEVICES = ['gps', 'dsmr', 'modbus'] as const;
export type DemoDevice = (typeof DEMO_DEVICES)[number];

/** The running simulators: where each device appears, what could not start, and stop(). */
export interface SimulatedDevices {
  /** Device → the pty path a reader opens. */
  readonly ports: Partial<Record<DemoDevice, string>>;
  /** One line per device that could not start. */
  readonly problems: string[];
  /** SIGTERMs every simulator (each removes its pty pair), waits for them, removes the folder. */
  stop(): Promise<void>;
}

const READY_MS = 10_000;
const STOP_MS = 3000;

/** Starts one simulator per demo device; never throws for a device that cannot start. */
export async function startSimulatedDevices(): Promise<SimulatedDevices> {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-demo-ptys-'));
  const children: ChildProcess[] = [];
  // Whatever ends the demo, no simulator (nor its socat) outlives it: each leads its own process
  // group, which also keeps a terminal's Ctrl+C for the demo, which stops them in order.
  const killAll = () => children.forEach((child) => killGroup(child));
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(children.map(stopChild));
    await rm(dir, { recursive: true, force: true });
  };
  if (!(await socatWorks())) {
    await stop();
    return { ports: {}, problems: ['serial devices: not started, socat is not installed (apt-get install socat)'], stop: async () => {} };
  }
  const cli = fileURLToPath(new URL('./rivulet.js', import.meta.url));
  const started = await Promise.all(
    DEMO_DEVICES.map(async (device) => {
      const pty = join(dir, device);
      const child = spawn(process.execPath, [cli, 'sim', device, '--pty', pty, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      children.push(child);
      const problem = await ready(child);
      return { device, pty, problem };
    }),
  );
  const ports: Partial<Record<DemoDevice, string>> = {};
  const problems: string[] = [];
  for (const { device, pty, problem } of started) {
    if (problem === undefined) ports[device] = pty;
    else problems.push(`${device} simulator: not started, ${problem}`);
  }
  return { ports, problems, stop };
}

/** Resolves with undefined once the simulator printed its ready line, else with why not. */
function ready(child: ChildProcess): Promise<string | undefined> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => resolve(`no ready line within ${READY_MS / 1000} s`), READY_MS);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('Simulated ')) {
        clearTimeout(timer);
        resolve(undefined);
      }
    });
    // Kept for the reason of a failed start; once running, the simulator's warnings go nowhere.
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-2000)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(`it exited (${code ?? signal}): ${lastLine(err)}`);
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

function socatWorks(): Promise<boolean> {
  return new Promise((resolve) => execFile('socat', ['-V'], { timeout: 5000 }, (error) => resolve(error === null)));
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => killGroup(child), STOP_MS);
  await exited;
  clearTimeout(timer);
}
