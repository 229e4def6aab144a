import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server process started for a benchmark, with the data dir it owns. */
export interface BenchServer {
  name: string;
  url: string;
  process: ChildProcess;
  dataDir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * `count` distinct free ports. Every port is held until all are found: a port closed at once can
 * be handed out again by the next request (a NATS node once got the same port for clients and routes).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  try {
    await Promise.all(servers.map((server) => new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))));
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`server did not listen on ${port} within ${timeoutMs} ms`);
}

/** Spawns `node args…` with a fresh data dir substituted for {dir} and a free port for {port}. */
export async function startBenchServer(name: string, args: string[]): Promise<BenchServer> {
  const dataDir = await mkdtemp(join(tmpdir(), `rivulet-bench-${name}-`));
  const port = await freePort();
  const child = spawn(process.execPath, args.map((arg) => arg.replace('{dir}', dataDir).replace('{port}', String(port))), {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // A benchmark that dies must not leave its servers running.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  await waitForPort(port, child, 15_000);
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    process: child,
    dataDir,
    async stop() {
      process.off('exit', killChild);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A child process started for a benchmark in its own process group (so its own children go with it). */
export interface BenchProcess {
  name: string;
  process: ChildProcess;
  pid: number;
  /** The last few KiB of its stdout and stderr, for error messages. */
  output(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves with the exit code (null if killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Spawns `node args…` (or `executable args…`: a script run as its #! line says) in its own process
 * group and resolves once its stdout matches `ready`. The group is SIGKILLed when the benchmark
 * exits, whatever the reason.
 */
export async function startBenchProcess(name: string, args: string[], options: { ready: RegExp; timeoutMs?: number; executable?: string }): Promise<BenchProcess> {
  const child = spawn(options.executable ?? process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not be started`);
  let tail = '';
  let stdout = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within ${options.timeoutMs ?? 15_000} ms: ${tail.trim()}`)), options.timeoutMs ?? 15_000);
    const onText = (text: string, isStdout: boolean) => {
      tail = (tail + text).slice(-4096);
      if (!isStdout) return;
      stdout = (stdout + text).slice(-4096);
      if (options.ready.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.setEncoding('utf8').on('data', (text: string) => onText(text, true));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => onText(text, false));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? child.signalCode}) before it was ready: ${tail.trim()}`));
    });
  });
  try {
    await ready;
  } catch (error) {
    killGroup();
    process.off('exit', killGroup);
    throw error;
  }
  let stopping: Promise<number | null> | undefined;
  return {
    name,
    process: child,
    pid,
    output: () => tail,
    stop: (graceMs = 5000) =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-pid, 'SIGTERM');
          } catch {
            // already gone
          }
        }
        const timer = setTimeout(killGroup, graceMs);
        const code = await exited;
        clearTimeout(timer);
        // Whatever it started (socat) goes too.
        killGroup();
        process.off('exit', killGroup);
        return code;
      })()),
  };
}
