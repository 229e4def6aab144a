// The demo's device: the real agent, in-process, reading the simulated serial devices into the
// `telemetry` stream (meter readings carry the GPS fix) and a GStreamer test camera into
// `demo-cam` (640x360 at 15 fps, 1 s fragments). A camera that cannot run here (no GStreamer,
// no videotestsrc, no H.264 encoder) is reported and left out; the serial side runs regardless.

import { join } from 'node:path';
import type { Agent } from '../agent/agent.js';
import { parseAgentConfig } from '../agent/config.js';
import type { Logger } from '../lib/log.js';
import { availableEncoders, hasElement } from '../video/gstreamer/encoders.js';
import type { DemoDevice } from './demo-devices.js';
import { DEMO_DATA_STREAM, DEMO_VIDEO_STREAM, type DemoKeys } from './demo-streams.js';

/** The demo agent's device id, as the console lists it. */
export const DEMO_DEVICE_ID = 'demo-rig';

/** What startDemoAgent needs. */
export interface DemoAgentOptions {
  serverUrl: string;
  dataDir: string;
  ports: Partial<Record<DemoDevice, string>>;
  keys?: DemoKeys;
  log: Logger;
}

/** The running agent and one line per part of it that could not start. */
export interface DemoAgent {
  agent: Agent;
  problems: string[];
}

/** Why the test camera cannot run here, or undefined when it can. */
async function cameraProblem(): Promise<string | undefined> {
  if (!(await hasElement('videotestsrc'))) return 'GStreamer or its videotestsrc element is not installed (gstreamer1.0-tools gstreamer1.0-plugins-base)';
  if ((await availableEncoders()).length === 0) return 'no H.264 encoder (x264enc: gstreamer1.0-plugins-ugly)';
  return undefined;
}

function configFor(options: DemoAgentOptions, withCamera: boolean): unknown {
  const { gps, dsmr, modbus } = options.ports;
  const attachGps = gps !== undefined;
  const sources: object[] = [];
  if (gps) sources.push({ type: 'gps', port: gps, stream: DEMO_DATA_STREAM });
  if (dsmr) sources.push({ type: 'dsmr', port: dsmr, stream: DEMO_DATA_STREAM, attachGps });
  if (modbus) sources.push({ type: 'modbus', port: modbus, stream: DEMO_DATA_STREAM, meter: 'sdm630', intervalMs: 2000, attachGps });
  const cameras = withCamera
    ? [{ name: 'test', source: { type: 'test', pattern: 'ball' }, stream: DEMO_VIDEO_STREAM, width: 640, height: 360, fps: 15, fragmentSeconds: 1 }]
    : [];
  const server = { url: options.serverUrl, ...(options.keys ? { region: options.keys.region, accessKeyId: options.keys.accessKeyId, secretAccessKey: options.keys.secretAccessKey } : {}) };
  // Status on a free port: a demo must not fail because a real agent already holds 4500.
  return { deviceId: DEMO_DEVICE_ID, server, dataDir: join(options.dataDir, 'agent'), status: { port: 0 }, heartbeat: { intervalMs: 5000 }, sources, cameras };
}

/**
 * Starts the agent with every simulated device and the test camera. When the camera is what
 * fails, the agent is started again without it. Undefined agent: nothing to run (no source and no camera).
 */
export async function startDemoAgent(options: DemoAgentOptions): Promise<DemoAgent | undefined> {
  const { Agent } = await import('../agent/agent.js');
  const problems: string[] = [];
  const configFile = join(options.dataDir, 'demo-agent.json');
  const log = options.log.child({ component: 'agent', deviceId: DEMO_DEVICE_ID });
  let withCamera = true;
  const unusable = await cameraProblem();
  if (unusable !== undefined) {
    problems.push(`test camera: not started, ${unusable}`);
    withCamera = false;
  }
  if (!withCamera && Object.keys(options.ports).length === 0) return undefined;
  let agent = new Agent({ config: parseAgentConfig(configFor(options, withCamera), configFile), log });
  try {
    await agent.start();
  } catch (error) {
    if (!withCamera || Object.keys(options.ports).length === 0) throw error;
    problems.push(`test camera: not started, ${(error as Error).message}`);
    agent = new Agent({ config: parseAgentConfig(configFor(options, false), configFile), log });
    await agent.start();
  }
  return { agent, problems };
}
