// The systemd unit that runs the agent unattended: started once the network is up, restarted
// forever (after a crash, or when it stops petting the watchdog because it is not healthy), logs
// to the journal, and sandboxed so that the only place it can write is its data directory. Pure.

import { DEVICE_KEYS_CREDENTIAL } from '../config.js';
import type { NodeLaunch } from './shebang.js';
import { DEVICE_GROUPS } from './sysusers.js';

/** The unit's name. */
export const UNIT_NAME = 'rivulet-agent.service';

/** What the unit runs and as whom. */
export interface UnitOptions {
  /** The node binary (process.execPath of the installer). */
  nodePath: string;
  launch: NodeLaunch;
  /** dist/cli/rivulet-agent.js of the installed package. */
  agentScript: string;
  /** The installed config, /etc/rivulet/agent.json. */
  configPath: string;
  user: string;
  /** The config's dataDir: the one path the agent writes to. */
  dataDir: string;
  /** server.credentialsFile: handed to the agent as a systemd credential, so the file may stay root-only. */
  credentialsFile?: string;
  watchdogSec: number;
  restartSec: number;
}

/** The systemd unit text. */
export function unitFile(options: UnitOptions): string {
  const stateDirectory = stateDirectoryOf(options.dataDir);
  const environment = Object.entries(options.launch.environment).map(([name, value]) => `Environment=${execArgument(`${name}=${value}`)}`);
  return [
    '# Written by `rivulet agent install`; removed by `rivulet agent uninstall`.',
    '[Unit]',
    'Description=Rivulet edge agent (serial sources and cameras → Rivulet server)',
    'Wants=network-online.target',
    'After=network-online.target',
    // A device nobody visits must keep trying: never give up restarting.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=notify',
    // node cannot send datagrams on a Unix socket, so the agent notifies through systemd-notify, a child process.
    'NotifyAccess=all',
    `WatchdogSec=${options.watchdogSec}`,
    'Restart=always',
    `RestartSec=${options.restartSec}`,
    `User=${options.user}`,
    `Group=${options.user}`,
    `SupplementaryGroups=${DEVICE_GROUPS.join(' ')}`,
    ...environment,
    `ExecStart=${[options.nodePath, ...options.launch.nodeFlags, options.agentScript, '--config', options.configPath].map(execArgument).join(' ')}`,
    ...(options.credentialsFile ? [`LoadCredential=${DEVICE_KEYS_CREDENTIAL}:${unitValue(options.credentialsFile)}`] : []),
    'StandardOutput=journal',
    'StandardError=journal',
    'SyslogIdentifier=rivulet-agent',
    // The agent's stop commits what its readers delivered and checkpoints the buffer.
    'TimeoutStopSec=30',
    'ProtectSystem=strict',
    ...(stateDirectory ? [`StateDirectory=${unitValue(stateDirectory)}`, 'StateDirectoryMode=0750'] : [`ReadWritePaths=${unitValue(options.dataDir)}`]),
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    // No DeviceAllow= (nor ProtectClock=, PrivateDevices=, which imply one): serial adapters and
    // cameras come and go under changing /dev names that an allow-list would have to name; the
    // dialout and video groups follow them instead.
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The StateDirectory= name for a data directory under /var/lib (systemd creates and owns it), else undefined. */
export function stateDirectoryOf(dataDir: string): string | undefined {
  const match = /^\/var\/lib\/(.+?)\/*$/.exec(dataDir);
  return match && !match[1]!.split('/').includes('..') ? match[1] : undefined;
}

/** A value in a unit file: `%` starts a specifier, so it is doubled. */
function unitValue(value: string): string {
  return value.replace(/%/g, '%%');
}

/** One word of ExecStart= or Environment=: quoted when it holds spaces or quotes; `$` would expand. */
function execArgument(word: string): string {
  const escaped = unitValue(word).replace(/\$/g, '$$$$');
  return /[\s"'\\;]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}
