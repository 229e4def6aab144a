// `rivulet devices add|list|revoke|push-config`: the server's admin API (ingest-server/devices/
// admin-api.ts) from the command line, signed with an admin key from the server's credentials
// file (its first key) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; unsigned when neither is given,
// for a server without credentials.

import { Command, InvalidArgumentError, Option } from 'commander';
import { open, readFile, unlink } from 'node:fs/promises';

const DEFAULT_SERVER = 'http://127.0.0.1:4567';
const TIMEOUT_MS = 15_000;

interface ConnectionOptions {
  server: string;
  credentials?: string;
}

/** A device as the admin API lists it. */
interface ListedDevice {
  name: string;
  accessKeyId: string;
  streams: string[];
  videoStreams: string[];
  channels: string[];
  createdAt: number;
  revokedAt?: number;
  lastHeartbeat?: { receivedAt: number };
  config?: { desiredVersion: number; reportedVersion: number | null; state: string; error?: string };
}

/** The --config file cannot be read as JSON: the user's to fix (exit code 2). */
class ConfigFileError extends Error {
  override get name(): string {
    return 'ConfigFileError';
  }
}

/** The server refused a request; `name` is its wire error. */
class AdminRequestError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

function serverUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
  } catch {
    // Reported below.
  }
  throw new InvalidArgumentError('must be an http:// or https:// URL, e.g. http://127.0.0.1:4567.');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds --server and --credentials to a subcommand. */
function withConnection(command: Command): Command {
  return command
    .addOption(new Option('--server <url>', 'the Rivulet server').default(DEFAULT_SERVER).argParser(serverUrl))
    .addOption(new Option('--credentials <file>', "the server's credentials file: requests are signed with its first (admin) key; else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
}

export function devicesCommand(): Command {
  const command = new Command('devices').description('add, list and revoke device identities, and push configs to devices, on a running server (see README "Devices")');
  command.addCommand(
    withConnection(new Command('add'))
      .description("create a device's access key, scoped to its streams, video streams and signaling channels; prints the agent's server.credentialsFile")
      .argument('<name>', "the device's name: the agent's deviceId")
      .addOption(new Option('--stream <name>', 'a data stream it may put records to (repeat for more)').argParser(collect).default([]))
      .addOption(new Option('--video-stream <name>', 'a video stream it may PutMedia to (repeat for more)').argParser(collect).default([]))
      .addOption(new Option('--channel <name>', 'a signaling channel it may be master of (repeat for more)').argParser(collect).default([]))
      .addOption(new Option('--out <file>', 'write the credentials to this new file (mode 600) instead of printing them'))
      .action((name: string, options: ConnectionOptions & { stream: string[]; videoStream: string[]; channel: string[]; out?: string }, sub: Command) =>
        reportFailures(sub, () => addDevice(name, options)),
      ),
  );
  command.addCommand(
    withConnection(new Command('list'))
      .description('list devices: their grants, last heartbeat, config state, and whether they are revoked')
      .addOption(new Option('--json', "print the server's answer as JSON"))
      .action((options: ConnectionOptions & { json?: boolean }, sub: Command) => reportFailures(sub, () => listDevices(options))),
  );
  command.addCommand(
    withConnection(new Command('revoke'))
      .description("revoke a device's key: refused at once on HTTP and MQTT, its live connections closed")
      .argument('<name>', "the device's name")
      .action((name: string, options: ConnectionOptions, sub: Command) => reportFailures(sub, () => revokeDevice(name, options))),
  );
  command.addCommand(
    withConnection(new Command('push-config'))
      .description('make a config file the next version of the config a device should run (the device validates it and rolls back if it does not come up healthy)')
      .argument('<name>', "the device's name")
      .requiredOption('--config <file>', 'the agent config (JSON)')
      .action((name: string, options: ConnectionOptions & { config: string }, sub: Command) => reportFailures(sub, () => pushConfig(name, options))),
  );
  return command;
}

async function addDevice(name: string, options: ConnectionOptions & { stream: string[]; videoStream: string[]; channel: string[]; out?: string }): Promise<void> {
  // Created first (never over an existing file, which may hold keys in use): a secret the server
  // has issued must not be lost to a file that cannot be written.
  const file = options.out === undefined ? undefined : await open(options.out, 'wx', 0o600);
  try {
    await file?.chmod(0o600);
    const created = (await adminRequest(options, 'POST', '', { name, streams: options.stream, videoStreams: options.videoStream, channels: options.channel })) as ListedDevice & { secretAccessKey: string };
    // Exactly the fields agent/config.ts reads from server.credentialsFile.
    const credentials = JSON.stringify({ accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey }, null, 2) + '\n';
    if (!file) {
      process.stdout.write(credentials);
      return;
    }
    await file.writeFile(credentials);
    await file.sync();
    process.stdout.write(`device ${created.name} added: access key ${created.accessKeyId} (${grants(created)}); credentials written to ${options.out} (mode 600)\n`);
  } catch (error) {
    if (file) await unlink(options.out!).catch(() => {});
    throw error;
  } finally {
    await file?.close();
  }
}

async function listDevices(options: ConnectionOptions & { json?: boolean }): Promise<void> {
  const answer = (await adminRequest(options, 'GET', '')) as { devices: ListedDevice[] };
  if (options.json) {
    process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
    return;
  }
  if (answer.devices.length === 0) {
    process.stdout.write('no devices\n');
    return;
  }
  const rows = answer.devices.map((device) => [
    device.name,
    device.revokedAt !== undefined ? `revoked ${new Date(device.revokedAt).toISOString()}` : 'active',
    device.accessKeyId,
    grants(device),
    device.lastHeartbeat ? new Date(device.lastHeartbeat.receivedAt).toISOString() : 'never',
    device.config ? `v${device.config.desiredVersion} ${device.config.state}${device.config.error ? ` (${device.config.error})` : ''}` : '-',
  ]);
  process.stdout.write(columns([['NAME', 'STATE', 'ACCESS KEY', 'GRANTS', 'LAST HEARTBEAT', 'CONFIG'], ...rows]));
}

async function revokeDevice(name: string, options: ConnectionOptions): Promise<void> {
  const { revokedAt } = (await adminRequest(options, 'DELETE', `/${encodeURIComponent(name)}`)) as { revokedAt: number };
  process.stdout.write(`device ${name} revoked at ${new Date(revokedAt).toISOString()}\n`);
}

async function pushConfig(name: string, options: ConnectionOptions & { config: string }): Promise<void> {
  let document: unknown;
  try {
    document = JSON.parse(await readFile(options.config, 'utf8'));
  } catch (error) {
    throw new ConfigFileError(`--config ${options.config}: ${(error as Error).message}`);
  }
  const { version } = (await adminRequest(options, 'PUT', `/${encodeURIComponent(name)}/config`, document)) as { version: number };
  process.stdout.write(`device ${name}: config version ${version} pushed\n`);
}

/** One admin API call under /admin/v1/devices; the parsed answer, or AdminRequestError with the server's wire error. */
async function adminRequest(options: ConnectionOptions, method: string, subPath: string, body?: unknown): Promise<unknown> {
  const { signedPost } = await import('../agent/signed-post.js');
  const { ADMIN_SERVICE, DEVICES_PATH } = await import('../ingest-server/devices/admin-api.js');
  const path = DEVICES_PATH + subPath;
  const credentials = await adminKey(options.credentials);
  const answer = await signedPost({
    method,
    url: new URL(path, options.server),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body), 'utf8'),
    ...(credentials ? { credentials } : {}),
    // The server does not check the region.
    region: process.env['AWS_REGION'] ?? 'us-east-1',
    service: ADMIN_SERVICE,
    timeoutMs: TIMEOUT_MS,
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    throw new AdminRequestError(`HTTP${answer.status}`, `${options.server} answered ${method} ${path} with ${answer.status} and no JSON: ${answer.body.slice(0, 200)}`);
  }
  if (answer.status >= 300) {
    const { __type, message } = parsed as { __type?: string; message?: string };
    throw new AdminRequestError(__type ?? `HTTP${answer.status}`, message ?? answer.body);
  }
  return parsed;
}

/** The admin key to sign with: the credentials file's first key, else the AWS environment variables, else none. */
async function adminKey(credentialsFile: string | undefined): Promise<{ accessKeyId: string; secretAccessKey: string } | undefined> {
  if (credentialsFile !== undefined) {
    const { loadCredentialsFile } = await import('../ingest-server/auth/credentials.js');
    const [first] = await loadCredentialsFile(credentialsFile);
    return { accessKeyId: first![0], secretAccessKey: first![1] };
  }
  const accessKeyId = process.env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = process.env['AWS_SECRET_ACCESS_KEY'];
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
}

/** Runs an action; a refusal or an unreachable server is one line on stderr and exit code 1, a bad --config file exit code 2. */
async function reportFailures(command: Command, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    const { CredentialsFileError } = await import('../ingest-server/auth/credentials.js');
    if (error instanceof CredentialsFileError) throw error;
    const name = error instanceof AdminRequestError ? `${error.name}: ` : '';
    process.stderr.write(`rivulet devices ${command.name()}: ${name}${(error as Error).message}\n`);
    process.exit(error instanceof ConfigFileError ? 2 : 1);
  }
}

function grants(device: Pick<ListedDevice, 'streams' | 'videoStreams' | 'channels'>): string {
  const parts = [
    device.streams.length ? `streams ${device.streams.join(', ')}` : '',
    device.videoStreams.length ? `video streams ${device.videoStreams.join(', ')}` : '',
    device.channels.length ? `channels ${device.channels.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ') || 'no grants';
}

/** Rows as left-aligned columns. */
function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n';
}
