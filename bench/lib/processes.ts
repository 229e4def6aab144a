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
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
