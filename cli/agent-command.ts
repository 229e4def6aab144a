// `rivulet agent --config FILE` runs the edge agent; `rivulet agent status` asks a running agent's
// local status endpoint what it is doing and prints it for people (or as JSON with --json).

import { Command, InvalidArgumentError, Option } from 'commander';
import http from 'node:http';
import { join } from 'node:path';
import type { AgentSupervisor } from '../agent/fleet/supervisor.js';
import { BufferLockedError } from '../agent/buffer/errors.js';
import { AgentConfigError, DEFAULTS, loadAgentConfig } from '../agent/config.js';
import type { AgentStatus } from '../agent/status.js';
import { Logger, isLogLevel, type LogLevel } from '../lib/log.js';
import { installCommands } from './agent-install-command.js';
import { stopOnSignals } from './signals.js';

function logLevel(value: string): LogLevel {
  if (!isLogLevel(value)) throw new InvalidArgumentError('must be one of debug, info, warn, error.');
  return value;
}

function statusUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:') return url.origin;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError('must be an http:// URL, e.g. http://127.0.0.1:4500.');
}

/** `rivulet` or `rivulet-agent`: the name errors are reported under. */
function programName(command: Command): string {
  return command.parent ? programName(command.parent) : command.name();
}

interface AgentCommandOptions {
  config?: string;
  logLevel?: LogLevel;
}

export function agentCommand(): Command {
  const command = new Command('agent')
    .description('run the edge agent: serial sources → durable buffer → Data Streams (see README "Agent")')
    .addOption(new Option('-c, --config <file>', 'the agent config (JSON)'))
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error (overrides the config)').argParser(logLevel))
    // A subcommand's own --config (install, doctor) must not be taken for this one's.
    .enablePositionalOptions()
    .action(async (options: AgentCommandOptions) => {
      if (!options.config) command.error('error: --config <file> is required (or use `rivulet agent status`)', { exitCode: 2 });
      await runAgent(options.config!, options.logLevel, programName(command));
    });
  command.addCommand(
    new Command('status')
      .description("print a running agent's backlog, uploads and errors from its status endpoint")
      .addOption(new Option('--url <url>', 'the agent status endpoint').default(`http://${DEFAULTS.statusHost}:${DEFAULTS.statusPort}`).argParser(statusUrl))
      .addOption(new Option('--json', 'print the status document as JSON'))
      .action(async (options: { url: string; json?: boolean }, status: Command) => {
        let shown: AgentStatus;
        try {
          shown = JSON.parse(await get(`${options.url}/status`)) as AgentStatus;
        } catch (error) {
          process.stderr.write(`${programName(status)}: no agent status at ${options.url}: ${(error as Error).message}\n`);
          process.exit(3);
        }
        process.stdout.write(options.json ? JSON.stringify(shown, null, 2) + '\n' : formatStatus(shown, Date.now()));
      }),
  );
  command.addCommand(
    new Command('doctor')
      .description('print what video capture can use here: GStreamer, H.264 encoders, cameras and their formats')
      .addOption(new Option('-c, --config <file>', 'also check the cameras of this agent config'))
      .action(async (options: { config?: string }) => {
        // Loaded here: only this command needs them.
        const { doctorReport } = await import('./agent-doctor.js');
        process.stdout.write(await doctorReport(options.config));
      }),
  );
  for (const subcommand of installCommands()) command.addCommand(subcommand);
  return command;
}

async function runAgent(configFile: string, level: LogLevel | undefined, name: string): Promise<void> {
  let supervisor: AgentSupervisor;
  let log: Logger;
  try {
    const local = await loadAgentConfig(configFile);
    log = new Logger(level ?? local.logLevel, { component: 'agent', deviceId: local.deviceId });
    // Loaded here, not at the top: the rest of the CLI (and `rivulet agent status`) need not carry it.
    const { AgentSupervisor } = await import('../agent/fleet/supervisor.js');
    const { ServiceNotifier } = await import('../agent/service/notify.js');
    const notifier = ServiceNotifier.fromEnvironment({ log: log.child({ component: 'systemd' }) });
    // The supervisor runs the local config, or the config the server pushed, and swaps them in-process.
    supervisor = new AgentSupervisor({
      local,
      log,
      onFatal: (error) => {
        log.error('the previous config could not be started again after a failed trial; exiting', { error });
        process.exit(1);
      },
      ...(notifier?.watchdogMs !== undefined ? { watchdogMs: notifier.watchdogMs } : {}),
    });
    stopOnSignals(() => {
      notifier?.stopping();
      return supervisor.stop();
    }, log);
    await supervisor.start();
    const config = supervisor.config;
    const version = supervisor.report().version;
    process.stdout.write(`Rivulet agent ${config.deviceId} running: ${config.sources.length} source(s) → ${config.server.transport === 'mqtt' ? config.server.mqttUrl : config.server.url}, ${version === null ? 'local config' : `pushed config v${version}`}, status on ${supervisor.statusUrl}\n`);
    if (notifier) {
      const { BUFFER_FILE } = await import('../agent/agent.js');
      const { checkServiceHealth } = await import('../agent/service/health.js');
      const watched = { health: () => supervisor.health(), status: () => get(`${supervisor.statusUrl}/status`) };
      notifier.ready(`running: ${config.sources.length} source(s), ${config.cameras.length} camera(s)`, (timeoutMs) =>
        checkServiceHealth(watched, supervisor.config.sources.length > 0 ? join(supervisor.config.dataDir, BUFFER_FILE) : undefined, timeoutMs),
      );
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof AgentConfigError || error instanceof BufferLockedError || code === 'EADDRINUSE' || code === 'EACCES') {
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: 5000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${response.statusCode}: ${body.trim()}`))));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 5 s')));
    request.on('error', reject);
  });
}

/** The status for people: a header, the upload state, then one row per source. */
export function formatStatus(status: AgentStatus, now: number): string {
  const out: string[] = [];
  out.push(`agent ${status.deviceId} (producer ${status.producerId ?? '-'}) → ${status.server}, up ${duration(status.uptimeMs)}, version ${status.agentVersion}; config ${configLine(status.config, now)}`);
  const { memory, disk, loadAverage } = status.host;
  out.push(`host: agent RSS ${bytes(memory.rssBytes)}, memory free ${bytes(memory.freeBytes)} of ${bytes(memory.totalBytes)}, ${disk ? `disk free ${bytes(disk.freeBytes)} of ${bytes(disk.totalBytes)} (${disk.path})` : 'disk unknown'}, load ${loadAverage.join(' ')}${status.gps ? `; gps ${status.gps.lat.toFixed(5)}, ${status.gps.lon.toFixed(5)} (quality ${status.gps.fixQuality ?? '-'}, ${duration(now - status.gps.at)} ago)` : ''}`);
  const upload = status.upload;
  if (upload) {
    const success = upload.lastSuccessAt === null ? 'never' : `${duration(now - upload.lastSuccessAt)} ago`;
    const error = upload.lastError === null ? 'none' : `${duration(now - upload.lastError.at)} ago: ${upload.lastError.message}`;
    out.push(`upload: last success ${success}; ${upload.uploadedRecords} records uploaded, ${status.rates?.uploadedPerS ?? 0}/s; ${upload.consecutiveFailures} failures in a row${upload.failingStreams.length ? ` (failing: ${upload.failingStreams.join(', ')})` : ''}${upload.heldKeys ? `, ${upload.heldKeys} keys held` : ''}`);
    out.push(`last error: ${error}`);
  }
  if (status.buffer) {
    const { backlogRecords, backlogBytes, maxBytes, fileBytes } = status.buffer;
    out.push(`buffer: ${backlogRecords} records, ${bytes(backlogBytes)} of ${bytes(maxBytes)} (file ${bytes(fileBytes)}); readings ${status.rates?.readingsPerS ?? 0}/s`);
  }
  const header = ['SOURCE', 'TYPE', 'PORT', 'STREAM', 'BACKLOG', 'BYTES', 'OLDEST', 'IN/S', 'OUT/S', 'DROPPED', 'REJECTED', 'ERRORS'];
  const rows = status.sources.map((source) => [
    source.name,
    source.type,
    `${source.port} (${source.transport})`,
    source.stream,
    String(source.backlogRecords),
    bytes(source.backlogBytes),
    source.oldestAgeMs === null ? '-' : duration(source.oldestAgeMs),
    String(source.rates?.readingsPerS ?? 0),
    String(source.rates?.uploadedPerS ?? 0),
    String(source.dropped + source.expired),
    String(source.rejected),
    String(source.reader.checksumErrors + source.reader.rejected + source.appendErrors),
  ]);
  out.push(...table(header, rows));
  if (status.cameras.length > 0) out.push('', ...table(
    ['CAMERA', 'SOURCE', 'CAPTURE', 'STREAM', 'FRAGMENTS', 'PERSISTED', 'BACKLOG', 'BYTES', 'OLDEST', 'DROPPED', 'RESTARTS', 'LAST ERROR'],
    status.cameras.map((camera) => [
      camera.name,
      camera.source,
      `${camera.capture}${camera.encoder ? ` (${camera.encoder})` : ''}`,
      camera.stream,
      String(camera.fragments),
      String(camera.persisted),
      String(camera.backlogFragments),
      bytes(camera.backlogBytes),
      camera.oldestAgeMs === null ? '-' : duration(camera.oldestAgeMs),
      String(camera.dropped + camera.rejected + camera.expired + camera.quarantined),
      String(camera.restarts),
      camera.lastError ?? '-',
    ]),
  ));
  return out.join('\n') + '\n';
}

/** The config in force and the latest refusal: "v3 (applied 5m ago); v4 rejected 1m ago: …". */
function configLine(config: AgentStatus['config'], now: number): string {
  const running = config.version === null ? 'local file' : `v${config.version}${config.appliedAt === null ? '' : ` (applied ${duration(now - config.appliedAt)} ago)`}`;
  const rejected = config.rejected ? `; v${config.rejected.version} rejected ${duration(now - config.rejected.at)} ago: ${config.rejected.error}` : '';
  return running + rejected;
}

/** Rows under a header, columns padded to their widest cell. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
}

function duration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  if (value < 1024 ** 3) return `${(value / 1024 ** 2).toFixed(1)} MiB`;
  return `${(value / 1024 ** 3).toFixed(1)} GiB`;
}
