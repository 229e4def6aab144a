// `rivulet agent install` / `uninstall` into a scratch root (--root: nothing on this machine
// changes): the files, their modes and owners, the unit checked by `systemd-analyze verify`, a
// config refused before anything is written, and what uninstall keeps.

import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { agentConfigFrom, loadAgentConfig } from '../../agent/config.js';
import { parseNodeShebang } from '../../agent/service/shebang.js';
import { parseUdevProperties, udevRules } from '../../agent/service/udev-rules.js';
import { openPtyPair } from '../../hardware/serial/pty.js';
import { AGENT_BIN_PATH, CLI_PATH, runCli } from '../helpers/server-process.js';
import { tempDir } from './helpers.js';

const run = promisify(execFile);

interface Installed {
  dir: string;
  root: string;
  configFile: string;
  keysFile: string;
  gps: string;
  result: Awaited<ReturnType<typeof runCli>>;
}

/** A config with two sources on socat ptys and a root-only keys file, installed into <dir>/root. */
async function install(t: import('ava').ExecutionContext, extraArgs: string[] = []): Promise<Installed> {
  const dir = await tempDir(t);
  const root = join(dir, 'root');
  const gps = await openPtyPair({ devicePath: join(dir, 'gps'), simulatorPath: join(dir, 'gps.sim') });
  const meter = await openPtyPair({ devicePath: join(dir, 'meter'), simulatorPath: join(dir, 'meter.sim') });
  t.teardown(() => Promise.all([gps.close(), meter.close()]).then(() => {}));
  const keysFile = join(dir, 'device-keys.json');
  await writeFile(keysFile, JSON.stringify({ accessKeyId: 'AKIDPI7', secretAccessKey: 'secret-of-pi-7' }), { mode: 0o600 });
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify({
    deviceId: 'pi-7',
    server: { url: 'http://10.0.0.2:4567', credentialsFile: 'device-keys.json' },
    dataDir: 'data',
    sources: [
      { type: 'gps', port: gps.devicePath, stream: 'gps' },
      { type: 'dsmr', name: 'meter', port: meter.devicePath, stream: 'meters' },
    ],
  }));
  const result = await runCli(['agent', 'install', '--config', configFile, '--root', root, ...extraArgs], 60_000);
  return { dir, root, configFile, keysFile, gps: gps.devicePath, result };
}

function mode(stats: { mode: number }): string {
  return (stats.mode & 0o777).toString(8);
}

async function groupId(root: string, name: string): Promise<number | undefined> {
  const line = (await readFile(join(root, 'etc', 'group'), 'utf8')).split('\n').find((entry) => entry.startsWith(`${name}:`));
  return line ? Number(line.split(':')[2]) : undefined;
}

test('install --root writes the user, udev rule, config and a unit systemd-analyze accepts', async (t) => {
  const { root, dir, keysFile, gps, result } = await install(t, ['--data-dir', '/data/rivulet']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^config .*agent\.json: valid \(device pi-7, 2 source\(s\), 0 camera\(s\)\)$/m);
  t.regex(result.stdout, new RegExp(`^source gps: ${gps} is not a device udev knows .*: no stable name, left as is$`, 'm'), 'a pty is reported and skipped');
  t.regex(result.stdout, /^created system user rivulet-agent \(systemd-sysusers\)$/m);

  t.is(await readFile(join(root, 'usr/lib/sysusers.d/rivulet-agent.conf'), 'utf8'), [
    '# Written by `rivulet agent install`; removed by `rivulet agent uninstall`.',
    'u rivulet-agent - "Rivulet edge agent" - /usr/sbin/nologin',
    'm rivulet-agent dialout',
    'm rivulet-agent video',
    '',
  ].join('\n'));
  const group = await readFile(join(root, 'etc', 'group'), 'utf8');
  t.regex(group, /^dialout:x:\d+:rivulet-agent$/m);
  t.regex(group, /^video:x:\d+:rivulet-agent$/m);
  const agentGid = (await groupId(root, 'rivulet-agent'))!;
  t.true(Number.isInteger(agentGid), 'the agent has its own group');

  const configPath = join(root, 'etc/rivulet/agent.json');
  const configStats = await stat(configPath);
  t.is(mode(configStats), '640');
  t.is(configStats.uid, 0);
  t.is(configStats.gid, agentGid);
  const installed = await loadAgentConfig(configPath);
  t.is(installed.dataDir, '/data/rivulet', '--data-dir replaces dataDir');
  t.is(installed.server.credentialsFile, keysFile, 'the keys file path is absolute once the config moved');
  t.deepEqual(installed.sources.map((source) => source.port), [gps, join(dir, 'meter')], 'ports udev does not know are left as they were');
  const dataStats = await stat(join(root, 'data/rivulet'));
  t.is(mode(dataStats), '750');
  t.is(dataStats.gid, agentGid);

  t.is(mode(await stat(join(root, 'etc/udev/rules.d/70-rivulet-agent.rules'))), '644');

  const unitPath = join(root, 'etc/systemd/system/rivulet-agent.service');
  const unit = await readFile(unitPath, 'utf8');
  const launch = parseNodeShebang((await readFile(AGENT_BIN_PATH, 'utf8')).split('\n', 1)[0]!);
  const agentScript = join(CLI_PATH, '..', 'rivulet-agent.js');
  for (const line of [
    'Type=notify',
    'NotifyAccess=all',
    'WatchdogSec=60',
    'Restart=always',
    'RestartSec=5',
    'User=rivulet-agent',
    'SupplementaryGroups=dialout video',
    ...Object.entries(launch.environment).map(([name, value]) => `Environment=${name}=${value}`),
    `ExecStart=${[process.execPath, ...launch.nodeFlags, agentScript, '--config', '/etc/rivulet/agent.json'].join(' ')}`,
    `LoadCredential=rivulet-device-keys:${keysFile}`,
    'StandardOutput=journal',
    'ProtectSystem=strict',
    'ReadWritePaths=/data/rivulet',
    'ProtectHome=yes',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    'ProtectControlGroups=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'WantedBy=multi-user.target',
  ]) t.true(unit.split('\n').includes(line), `unit has ${line}`);
  t.true(launch.nodeFlags.includes('--lite-mode'), 'the flags come from the #! line');
  t.false(unit.includes('StateDirectory='), '/data is not under /var/lib');
  t.true((await lstat(join(root, 'etc/systemd/system/multi-user.target.wants/rivulet-agent.service'))).isSymbolicLink(), 'enabled');

  // verify prints a warning (and still exits 0) for a key it does not know or a value it cannot parse.
  const verify = await run('systemd-analyze', ['verify', unitPath], { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } });
  t.is(verify.stderr.split('\n').filter((line) => line.includes(unitPath)).join('\n'), '');
  const broken = join(dir, 'broken.service');
  await writeFile(broken, unit.replace('WatchdogSec=60', 'WatchdogSec=sixty'));
  const verifyBroken = await run('systemd-analyze', ['verify', broken]);
  t.regex(verifyBroken.stderr, /broken\.service:\d+: Failed to parse sec value/, 'the check notices a bad unit');
});

test('a data directory under /var/lib is the unit\'s StateDirectory', async (t) => {
  const { root, result } = await install(t, ['--data-dir', '/var/lib/rivulet-agent', '--no-start']);
  t.is(result.code, 0, result.stderr);
  const unit = await readFile(join(root, 'etc/systemd/system/rivulet-agent.service'), 'utf8');
  t.true(unit.includes('\nStateDirectory=rivulet-agent\n'));
  t.false(unit.includes('ReadWritePaths='));
  await t.throwsAsync(lstat(join(root, 'etc/systemd/system/multi-user.target.wants/rivulet-agent.service')), { code: 'ENOENT' }, '--no-start: not enabled');
});

test('a config the agent would refuse is refused, naming the field, before anything is written', async (t) => {
  const dir = await tempDir(t);
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify({ deviceId: 'pi-7', server: { url: 'http://10.0.0.2:4567' }, dataDir: '/data', sources: [{ type: 'gps', stream: 'gps' }] }));
  const result = await runCli(['agent', 'install', '--config', configFile, '--root', join(dir, 'root')]);
  t.is(result.code, 2);
  t.regex(result.stderr, /^rivulet agent install: agent config .*agent\.json: sources\[0\]\.port is required/);
  await t.throwsAsync(stat(join(dir, 'root')), { code: 'ENOENT' });
});

test('without --root, a user other than root is told to use sudo', async (t) => {
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const result = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI_PATH, 'agent', 'install', '--config', join(dir, 'agent.json')]).then(
    (done) => ({ code: 0, stderr: done.stderr }),
    (error: { code: number; stderr: string }) => error,
  );
  t.is(result.code, 2);
  t.regex(result.stderr, /^rivulet agent install: installing a system service needs root: run it with sudo, or give --root DIR/);
});

test('uninstall removes the unit, udev rule and sysusers file, keeps config and data; --purge removes those too', async (t) => {
  const { root, result } = await install(t, ['--data-dir', '/data/rivulet']);
  t.is(result.code, 0, result.stderr);
  const kept = await runCli(['agent', 'uninstall', '--root', root]);
  t.is(kept.code, 0, kept.stderr);
  for (const path of ['etc/systemd/system/rivulet-agent.service', 'etc/systemd/system/multi-user.target.wants/rivulet-agent.service', 'etc/udev/rules.d/70-rivulet-agent.rules', 'usr/lib/sysusers.d/rivulet-agent.conf']) {
    await t.throwsAsync(lstat(join(root, path)), { code: 'ENOENT' }, `${path} removed`);
  }
  await stat(join(root, 'etc/rivulet/agent.json'));
  await stat(join(root, 'data/rivulet'));
  const purged = await runCli(['agent', 'uninstall', '--root', root, '--purge']);
  t.is(purged.code, 0, purged.stderr);
  await t.throwsAsync(stat(join(root, 'etc/rivulet')), { code: 'ENOENT' });
  await t.throwsAsync(stat(join(root, 'data/rivulet')), { code: 'ENOENT' });
});

test('the agent takes its keys from $CREDENTIALS_DIRECTORY when systemd passed them', async (t) => {
  const dir = await tempDir(t);
  const rootOnly = join(dir, 'device-keys.json');
  await writeFile(rootOnly, JSON.stringify({ accessKeyId: 'AKIDFILE', secretAccessKey: 'from-file' }), { mode: 0o600 });
  const credentials = join(dir, 'credentials');
  await mkdir(credentials);
  await writeFile(join(credentials, 'rivulet-device-keys'), JSON.stringify({ accessKeyId: 'AKIDCRED', secretAccessKey: 'from-systemd' }), { mode: 0o400 });
  const document = { deviceId: 'pi-7', server: { url: 'http://10.0.0.2:4567', credentialsFile: rootOnly }, dataDir: dir, sources: [{ type: 'gps', port: '/dev/ttyUSB0', stream: 'gps' }] };
  t.is((await agentConfigFrom(document, join(dir, 'agent.json'))).server.accessKeyId, 'AKIDFILE');
  const saved = process.env['CREDENTIALS_DIRECTORY'];
  process.env['CREDENTIALS_DIRECTORY'] = credentials;
  try {
    t.like((await agentConfigFrom(document, join(dir, 'agent.json'))).server, { accessKeyId: 'AKIDCRED', secretAccessKey: 'from-systemd' });
  } finally {
    if (saved === undefined) delete process.env['CREDENTIALS_DIRECTORY'];
    else process.env['CREDENTIALS_DIRECTORY'] = saved;
  }
});

test('udev rules: USB identity when the adapter has a serial number, else its physical path, else skipped', (t) => {
  const ftdi = parseUdevProperties('DEVNAME=/dev/ttyUSB0\nSUBSYSTEM=tty\nID_VENDOR_ID=0403\nID_MODEL_ID=6001\nID_SERIAL_SHORT=A50285BI\nID_PATH=platform-xhci-hcd.0-usb-0:1.2:1.0\n');
  const ch340 = parseUdevProperties('DEVNAME=/dev/ttyUSB1\nID_VENDOR_ID=1a86\nID_MODEL_ID=7523\nID_PATH=platform-xhci-hcd.0-usb-0:1.3:1.0\n');
  const rules = udevRules([
    { source: 'gps', port: '/dev/ttyUSB0', properties: ftdi },
    { source: 'meter', port: '/dev/ttyUSB1', properties: ch340 },
    { source: 'uart', port: '/dev/ttyAMA0', properties: { DEVNAME: '/dev/ttyAMA0' } },
  ]);
  t.is(rules.text, [
    '# Written by `rivulet agent install`: stable names for the agent\'s serial adapters.',
    '# source gps (was /dev/ttyUSB0)',
    'SUBSYSTEM=="tty", ENV{ID_VENDOR_ID}=="0403", ENV{ID_MODEL_ID}=="6001", ENV{ID_SERIAL_SHORT}=="A50285BI", SYMLINK+="rivulet/gps", GROUP="dialout", MODE="0660"',
    '# source meter (was /dev/ttyUSB1)',
    'SUBSYSTEM=="tty", ENV{ID_PATH}=="platform-xhci-hcd.0-usb-0:1.3:1.0", SYMLINK+="rivulet/meter", GROUP="dialout", MODE="0660"',
    '',
  ].join('\n'));
  t.deepEqual(rules.named.map((entry) => entry.link), ['/dev/rivulet/gps', '/dev/rivulet/meter']);
  t.deepEqual(rules.skipped.map((entry) => entry.source), ['uart']);
});
