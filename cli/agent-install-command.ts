// `rivulet agent install` and `rivulet agent uninstall`: the agent as a systemd service on a
// Debian / Raspberry Pi OS device (agent/service/install.ts does the work; loaded only when run).

import { Command, Option } from 'commander';

interface InstallCommandOptions {
  config: string;
  root?: string;
  user?: string;
  dataDir?: string;
  start: boolean;
}

/** The install and uninstall subcommands of `rivulet agent`. */
export function installCommands(): Command[] {
  const install = new Command('install')
    .description('install the agent as a systemd service: system user, udev names for serial adapters, config in /etc/rivulet, unit with watchdog (see README "Install on a device")')
    .addOption(new Option('-c, --config <file>', 'the agent config to install').default('agent.json'))
    .addOption(new Option('--root <dir>', 'write the files under this directory (an image) and start nothing'))
    .addOption(new Option('--user <name>', 'the system user the agent runs as (default: rivulet-agent)'))
    .addOption(new Option('--data-dir <dir>', "where the buffer lives (replaces the config's dataDir); a writable partition on read-only images, e.g. /data/rivulet"))
    .addOption(new Option('--no-start', 'write the files only: do not enable or start the service'))
    .action(async (options: InstallCommandOptions) => {
      const { installAgent } = await import('../agent/service/install.js');
      await reportingErrors(install, () =>
        installAgent({
          configFile: options.config,
          ...(options.root !== undefined ? { root: options.root } : {}),
          ...(options.user !== undefined ? { user: options.user } : {}),
          ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
          start: options.start,
          say: (line) => process.stdout.write(line + '\n'),
        }),
      );
    });
  const uninstall = new Command('uninstall')
    .description('stop and remove the agent service (unit, udev rule, user entry file); the config and buffered data stay unless --purge')
    .addOption(new Option('--root <dir>', 'remove the files under this directory and stop nothing'))
    .addOption(new Option('--purge', 'also remove /etc/rivulet/agent.json and the data directory'))
    .action(async (options: { root?: string; purge?: boolean }) => {
      const { uninstallAgent } = await import('../agent/service/install.js');
      await reportingErrors(uninstall, () =>
        uninstallAgent({ ...(options.root !== undefined ? { root: options.root } : {}), purge: options.purge === true, say: (line) => process.stdout.write(line + '\n') }),
      );
    });
  return [install, uninstall];
}

/** A refused install (bad config, not root) is one line on stderr and exit code 2; anything else is a bug and throws. */
async function reportingErrors(command: Command, work: () => Promise<void>): Promise<void> {
  const [{ InstallError }, { AgentConfigError }] = await Promise.all([import('../agent/service/install.js'), import('../agent/config.js')]);
  try {
    await work();
  } catch (error) {
    if (!(error instanceof InstallError || error instanceof AgentConfigError)) throw error;
    process.stderr.write(`${commandPath(command)}: ${error.message}\n`);
    process.exit(2);
  }
}

/** `rivulet agent install` or `rivulet-agent install`. */
function commandPath(command: Command): string {
  return command.parent ? `${commandPath(command.parent)} ${command.name()}` : command.name();
}
