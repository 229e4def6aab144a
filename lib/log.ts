// Structured logs: one JSON object per line on stderr, so journald, docker and jq all read them
// and stdout stays free for what a command prints for people.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing JSON lines; `child` adds fields to every line it writes. */
export class Logger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly fields: Record<string, unknown> = {},
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.level, { ...this.fields, ...fields }, this.write);
  }

  debug(message: string, fields: Record<string, unknown> = {}): void {
    this.log('debug', message, fields);
  }

  info(message: string, fields: Record<string, unknown> = {}): void {
    this.log('info', message, fields);
  }

  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.log('warn', message, fields);
  }

  error(message: string, fields: Record<string, unknown> = {}): void {
    this.log('error', message, fields);
  }

  private log(level: LogLevel, message: string, fields: Record<string, unknown>): void {
    if (RANK[level] < RANK[this.level]) return;
    const line = { time: new Date().toISOString(), level, msg: message, ...this.fields, ...fields };
    this.write(JSON.stringify(line, (_key, value) => (value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value)) + '\n');
  }
}

export function isLogLevel(value: string): value is LogLevel {
  return value in RANK;
}

/** A logger that writes nothing, for tests and embedding. */
export const silentLogger = new Logger('error', {}, () => {});
