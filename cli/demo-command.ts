// `rivulet demo` (what `npm start` runs): the server, three simulated serial devices on socat
// ptys (GPS, DSMR P1 meter, Modbus energy meter), and the real agent reading them into the
// `telemetry` stream and a GStreamer test camera into `demo-cam`, so a newcomer sees records and
// video arrive in the console within a minute of a fresh clone. A part that cannot start here is
// named in one line and the rest runs. Ctrl+C stops the agent, the simulators and the server.

import { Command } from 'commander';
import { Logger } from '../lib/log.js';
import type { Agent } from '../agent/agent.js';
import { DEMO_DEVICE_ID, startDemoAgent } from './demo-agent.js';
import { startSimulatedDevices, type SimulatedDevices } from './demo-devices.js';
import { DEMO_DATA_STREAM, DEMO_VIDEO_STREAM, ensureDemoStreams, type DemoKeys } from './demo-streams.js';
import { serverOptionsFrom, withServerOptions, type ServerCommandOptions } from './server-command.js';
import { stopOnSignals } from './signals.js';

/** The demo's own data dir: never the server's default, so a demo never mixes with real data. */
const DEMO_DATA_DIR = './.rivulet/demo';

export function demoCommand(): Command {
  const command = withServerOptions(new Command('demo').description('run the server with simulated GPS, DSMR and Modbus devices and a test camera feeding it through the agent (what `npm start` runs)'));
  command.options.find((option) => option.long === '--data-dir')!.default(DEMO_DATA_DIR);
  return command.action(async (options: ServerCommandOptions) => {
    const log = new Logger(options.logLevel, { component: 'demo' });
    const { startServer } = await import('../ingest-server/server.js');
    const serverOptions = serverOptionsFrom(options, log);
    const server = await startServer(serverOptions);
    let devices: SimulatedDevices | undefined;
    let agent: Agent | undefined;
    const shutdown = stopOnSignals(async () => {
      await agent?.stop();
      await devices?.stop();
      await server.close();
    }, log);

    const keys = options.credentials ? await firstKey(options.credentials, options.region) : undefined;
    await ensureDemoStreams(server.url, keys);
    if (shutdown.stopping) return;
    devices = await startSimulatedDevices();
    if (shutdown.stopping) return;
    const started = await startDemoAgent({ serverUrl: server.url, dataDir: serverOptions.dataDir, ports: devices.ports, ...(keys ? { keys } : {}), log });
    agent = started?.agent;
    const problems = [...devices.problems, ...(started?.problems ?? [])];
    if (!started) problems.push('agent: not started, it has neither a serial device nor a camera to read');
    const sources = Object.keys(devices.ports).join(', ') || 'none';
    const camera = started && !started.problems.some((problem) => problem.startsWith('test camera'));
    process.stdout.write(
      [
        `Rivulet listening on ${server.url}`,
        '',
        `  Console       ${server.url}/`,
        `  Data stream   ${DEMO_DATA_STREAM} (2 shards): readings of ${sources} from device ${DEMO_DEVICE_ID}`,
        `  Video stream  ${DEMO_VIDEO_STREAM}: ${camera ? 'test camera, 640x360 at 15 fps, 1 s fragments' : 'no camera (see below)'}`,
        `  Agent status  ${agent?.statusUrl ? `${agent.statusUrl}/status  (or: rivulet agent status --url ${agent.statusUrl})` : 'not running'}`,
        `  Data dir      ${serverOptions.dataDir}`,
        ...problems.map((problem) => `  Not running:  ${problem}`),
        '',
        'Press Ctrl+C to stop.',
        '',
      ].join('\n'),
    );
  });
}

/** The first key of the server's credentials file, for the demo's own requests and agent. */
async function firstKey(file: string, region: string): Promise<DemoKeys> {
  const { loadCredentialsFile } = await import('../ingest-server/auth/credentials.js');
  const [accessKeyId, secretAccessKey] = [...(await loadCredentialsFile(file))][0]!;
  return { accessKeyId, secretAccessKey, region };
}
