// `rivulet agent install` / `uninstall`: the files that make the agent a systemd service (system
// user, udev rule, config, unit) written under a root directory, and — on the device itself, as
// root — the systemctl/udevadm calls that bring it up. Each step prints one line.
//
// With --root DIR nothing outside DIR changes (an image being prepared, or a test): the files are
// written and the unit is enabled the offline way (`systemctl --root`), but nothing is started.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAgentConfig, parseAgentConfig } from '../config.js';
import { parseNodeShebang } from './shebang.js';
import { sysusersFile } from './sysusers.js';
import { parseUdevProperties, STABLE_NAME_DIR, udevRules, type SerialAdapter } from './udev-rules.js';
import { UNIT_NAME, unitFile } from './unit-file.js';

/** Where the installed files go, relative to the root. */
export const INSTALLED_PATHS = {
  config: '/etc/rivulet/agent.json',
  unit: `/etc/systemd/system/${UNIT_NAME}`,
  udevRules: '/etc/udev/rules.d/70-rivulet-agent.rules',
  sysusers: '/usr/lib/sysusers.d/rivulet-agent.conf',
} as const;

export const DEFAULT_USER = 'rivulet-agent';
export const DEFAULT_WATCHDOG_SEC = 30;
const RESTART_SEC = 5;

/** An install or uninstall that cannot go ahead; the message says why and what to do. */
export class InstallError extends Error {
  override readonly name = 'InstallError';
}

/** Options of {@link installAgent}. */
export interface InstallOptions {
  configFile: string;
  /** Write under this directory and run nothing on the host; the real system when undefined. */
  root?: string;
  user?: string;
  /** Replaces the config's dataDir. */
  dataDir?: string;
  /** Enable and start the service (or, with root, enable it); default true. */
  start?: boolean;
  /** Each step's line. */
  say: (line: string) => void;
}

/** Installs the agent as a service; throws InstallError or AgentConfigError (from the config loader) before writing anything when it cannot. */
export async function installAgent(options: InstallOptions): Promise<void> {
  const root = targetRoot(options.root);
  const user = options.user ?? DEFAULT_USER;
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(user)) throw new InstallError(`--user ${JSON.stringify(user)}: a system user name is lower-case letters, digits, _ and - (at most 31)`);
  if (options.dataDir !== undefined && !isAbsolute(options.dataDir)) throw new InstallError(`--data-dir ${options.dataDir}: must be an absolute path on the device`);
  const say = options.say;

  // The agent's own loader, so anything the agent would refuse is refused now, naming the field.
  const config = await loadAgentConfig(options.configFile);
  const document = JSON.parse(await readFile(resolve(options.configFile), 'utf8')) as Record<string, unknown>;
  const dataDir = options.dataDir ?? config.dataDir;
  const agentScript = join(packageRoot(), 'dist', 'cli', 'rivulet-agent.js');
  if (!existsSync(agentScript)) throw new InstallError(`${agentScript} does not exist: build the package first (npx tsc -p tsconfig.build.json)`);
  const launch = parseNodeShebang((await readFile(agentScript, 'utf8')).split('\n', 1)[0]!);
  say(`config ${resolve(options.configFile)}: valid (device ${config.deviceId}, ${config.sources.length} source(s), ${config.cameras.length} camera(s))`);

  await writeInstalled(root, INSTALLED_PATHS.sysusers, sysusersFile(user), 0o644);
  say(`wrote ${INSTALLED_PATHS.sysusers} (user ${user}, groups dialout video)`);
  // systemd-sysusers --root writes <root>/etc/passwd and needs the folder.
  await mkdir(join(root, 'etc'), { recursive: true });
  const sysusers = await run('systemd-sysusers', [...(options.root ? [`--root=${root}`] : []), join(root, INSTALLED_PATHS.sysusers)]);
  say(sysusers.ok ? `created system user ${user} (systemd-sysusers)` : `could not create user ${user}: ${sysusers.why}`);
  const ids = await userIds(root, user);

  await mkdir(join(root, dataDir), { recursive: true, mode: 0o750 });
  if (ids) await chown(join(root, dataDir), ids.uid, ids.gid);
  say(`data directory ${dataDir}${ids ? ` (owner ${user})` : ''}`);

  const adapters: SerialAdapter[] = [];
  for (const source of config.sources) {
    if (source.port.startsWith(`/dev/${STABLE_NAME_DIR}/`)) continue;
    const info = await run('udevadm', ['info', '--query=property', `--name=${source.port}`]);
    if (info.ok) adapters.push({ source: source.name, port: source.port, properties: parseUdevProperties(info.stdout) });
    else say(`source ${source.name}: ${source.port} is not a device udev knows (${info.why}): no stable name, left as is`);
  }
  const rules = udevRules(adapters);
  for (const skipped of rules.skipped) say(`source ${skipped.source}: ${skipped.port}: ${skipped.reason}: no stable name, left as is`);
  await writeInstalled(root, INSTALLED_PATHS.udevRules, rules.text, 0o644);
  say(`wrote ${INSTALLED_PATHS.udevRules} (${rules.named.length} stable name(s))`);

  const links = new Map(rules.named.map((entry) => [entry.source, entry.link]));
  const installed = installedDocument(document, dataDir, config.server.credentialsFile, config.sources.map((source) => links.get(source.name)));
  // Checked again as the agent will read it there (the paths are now absolute, the ports renamed).
  parseAgentConfig(installed, INSTALLED_PATHS.config);
  await mkdir(join(root, dirname(INSTALLED_PATHS.config)), { recursive: true, mode: 0o755 });
  await writeInstalled(root, INSTALLED_PATHS.config, JSON.stringify(installed, null, 2) + '\n', 0o640);
  if (ids) await chown(join(root, INSTALLED_PATHS.config), 0, ids.gid);
  for (const entry of rules.named) say(`source ${entry.source}: ${entry.port} → ${entry.link}`);
  say(`wrote ${INSTALLED_PATHS.config} (mode 0640, root:${ids ? user : 'root'})`);

  // While a pushed config is tried no agent may be healthy (agent/fleet/): the watchdog outlasts a trial.
  const watchdogSec = Math.ceil(config.fleet.applyTimeoutMs / 1000) + DEFAULT_WATCHDOG_SEC;
  const unit = unitFile({
    nodePath: process.execPath,
    launch,
    agentScript,
    configPath: INSTALLED_PATHS.config,
    user,
    dataDir,
    ...(config.server.credentialsFile ? { credentialsFile: config.server.credentialsFile } : {}),
    watchdogSec,
    restartSec: RESTART_SEC,
  });
  await writeInstalled(root, INSTALLED_PATHS.unit, unit, 0o644);
  say(`wrote ${INSTALLED_PATHS.unit} (Type=notify, WatchdogSec=${watchdogSec}, runs ${agentScript})`);

  const start = options.start ?? true;
  if (options.root) {
    if (start) await step(say, 'systemctl', [`--root=${root}`, 'enable', UNIT_NAME], `enabled ${UNIT_NAME} in ${root}`);
    return;
  }
  await step(say, 'systemctl', ['daemon-reload'], 'systemd reloaded');
  await step(say, 'udevadm', ['control', '--reload'], 'udev rules reloaded');
  await step(say, 'udevadm', ['trigger', '--subsystem-match=tty', '--action=add'], 'serial devices re-announced (stable names now present)');
  if (start) await step(say, 'systemctl', ['enable', '--now', UNIT_NAME], `${UNIT_NAME} enabled and started: journalctl -u rivulet-agent -f`);
  else say(`not started (--no-start): systemctl enable --now ${UNIT_NAME}`);
}

/** Options of {@link uninstallAgent}. */
export interface UninstallOptions {
  root?: string;
  /** Also remove the config and the data directory (the buffered records). */
  purge?: boolean;
  say: (line: string) => void;
}

/** Stops and removes the service; the config and data stay unless purge. The system user stays (files it owned may remain). */
export async function uninstallAgent(options: UninstallOptions): Promise<void> {
  const root = targetRoot(options.root);
  const say = options.say;
  await step(say, 'systemctl', [...(options.root ? [`--root=${root}`] : []), 'disable', ...(options.root ? [] : ['--now']), UNIT_NAME], `${UNIT_NAME} ${options.root ? 'disabled' : 'stopped and disabled'}`);
  for (const path of [INSTALLED_PATHS.unit, INSTALLED_PATHS.udevRules, INSTALLED_PATHS.sysusers]) {
    await rm(join(root, path), { force: true });
    say(`removed ${path}`);
  }
  if (options.purge) {
    const dataDir = await installedDataDir(root);
    if (dataDir) {
      await rm(join(root, dataDir), { recursive: true, force: true });
      say(`removed data directory ${dataDir}`);
    }
    await rm(join(root, INSTALLED_PATHS.config), { force: true });
    await rmdir(join(root, dirname(INSTALLED_PATHS.config))).catch(() => {});
    say(`removed ${INSTALLED_PATHS.config}`);
  } else {
    say(`kept ${INSTALLED_PATHS.config} and the data directory (--purge removes them)`);
  }
  if (!options.root) {
    await step(say, 'systemctl', ['daemon-reload'], 'systemd reloaded');
    await step(say, 'udevadm', ['control', '--reload'], 'udev rules reloaded');
  }
}

/** The root directory the files go under; the real system needs root. */
function targetRoot(root: string | undefined): string {
  if (root !== undefined) return resolve(root);
  if (process.getuid?.() !== 0) throw new InstallError('installing a system service needs root: run it with sudo, or give --root DIR to write the files into a directory (an image)');
  return '/';
}

/**
 * The config as installed: absolute dataDir and credentialsFile (it moves to /etc/rivulet), ports
 * renamed to their stable names (`links`: the new port of each source, by index; undefined keeps it).
 */
function installedDocument(document: Record<string, unknown>, dataDir: string, credentialsFile: string | undefined, links: (string | undefined)[]): Record<string, unknown> {
  const installed: Record<string, unknown> = { ...document, dataDir };
  if (credentialsFile) installed['server'] = { ...(document['server'] as Record<string, unknown>), credentialsFile };
  if (Array.isArray(document['sources'])) {
    installed['sources'] = (document['sources'] as Record<string, unknown>[]).map((source, index) => (links[index] ? { ...source, port: links[index] } : source));
  }
  return installed;
}

async function installedDataDir(root: string): Promise<string | undefined> {
  try {
    const dataDir = (JSON.parse(await readFile(join(root, INSTALLED_PATHS.config), 'utf8')) as { dataDir?: unknown }).dataDir;
    return typeof dataDir === 'string' && isAbsolute(dataDir) && dataDir !== '/' ? dataDir : undefined;
  } catch {
    return undefined;
  }
}

async function writeInstalled(root: string, path: string, text: string, mode: number): Promise<void> {
  const target = join(root, path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text, { mode });
  // writeFile's mode applies only to a new file (and through the umask).
  await chmod(target, mode);
}

/** The user's uid and primary gid from <root>/etc/passwd, once systemd-sysusers made it. */
async function userIds(root: string, user: string): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile(join(root, 'etc', 'passwd'), 'utf8').catch(() => '');
  const fields = passwd.split('\n').map((line) => line.split(':')).find((entry) => entry[0] === user);
  return fields ? { uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

/** The installed package's root: the nearest folder above this file with a package.json (dist/ or the sources). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new InstallError(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

interface RunResult {
  ok: boolean;
  stdout: string;
  /** Why it failed: the command missing, or its exit and stderr. */
  why: string;
}

function run(command: string, args: string[]): Promise<RunResult> {
  return new Promise((done) => {
    execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (!error) return done({ ok: true, stdout, why: '' });
      const code = (error as NodeJS.ErrnoException).code;
      done({ ok: false, stdout, why: code === 'ENOENT' ? `${command} is not installed` : `${command} ${args.join(' ')}: ${stderr.trim() || error.message}` });
    });
  });
}

/** Runs a command and prints `done` or why it failed; a failed step does not stop the others. */
async function step(say: (line: string) => void, command: string, args: string[], done: string): Promise<void> {
  const result = await run(command, args);
  say(result.ok ? done : `failed: ${result.why}`);
}

