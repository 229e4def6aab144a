#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CredentialsFileError } from '../ingest-server/auth/credentials.js';
import { KeysFileError } from '../ingest-server/data-streams/encryption.js';
import { MqttConfigError } from '../ingest-server/mqtt/routes.js';
import { ServerOptionsError } from '../ingest-server/server-options-error.js';
import { agentCommand } from './agent-command.js';
import { demoCommand } from './demo-command.js';
import { serverCommand } from './server-command.js';
import { simCommand } from './sim-command.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('rivulet')
  .description('Self-hosted streaming for the edge: a Kinesis-compatible ingest server and the device agent that feeds it.')
  .version(version)
  .showHelpAfterError()
  .addCommand(serverCommand())
  .addCommand(demoCommand())
  .addCommand(simCommand())
  .addCommand(agentCommand());

// Errors a user can fix get one clear line; anything else is a bug and keeps its stack.
const USER_ERRORS = [CredentialsFileError, KeysFileError, MqttConfigError, ServerOptionsError];

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const code = (error as NodeJS.ErrnoException).code;
  if (USER_ERRORS.some((type) => error instanceof type) || code === 'EADDRINUSE' || code === 'EACCES' || code === 'ENOENT') {
    process.stderr.write(`rivulet: ${(error as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`rivulet: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
