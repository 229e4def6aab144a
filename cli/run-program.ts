import { CommanderError, type Command } from 'commander';
import { CredentialsFileError } from '../ingest-server/auth/credentials.js';
import { KeysFileError } from '../ingest-server/data-streams/encryption.js';
import { MqttConfigError } from '../ingest-server/mqtt/routes.js';
import { ServerOptionsError } from '../ingest-server/server-options-error.js';

/** The package's version, shown by --version. */
export { VERSION } from '../lib/version.js';

// Errors a user can fix get one clear line; anything else is a bug and keeps its stack.
const USER_ERRORS = [CredentialsFileError, KeysFileError, MqttConfigError, ServerOptionsError];

/** Parses the command line and runs the command; exits 2 on a user's mistake, 1 on a bug. */
export function runProgram(program: Command, name: string): void {
  program.parseAsync(process.argv).catch((error: unknown) => {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    const code = (error as NodeJS.ErrnoException).code;
    if (USER_ERRORS.some((type) => error instanceof type) || code === 'EADDRINUSE' || code === 'EACCES' || code === 'ENOENT') {
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${name}: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
