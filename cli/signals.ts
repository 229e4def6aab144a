import type { Logger } from '../lib/log.js';

/** Whether a signal has started the shutdown; long-running work checks it before starting more. */
export interface Shutdown {
  readonly stopping: boolean;
}

/**
 * Runs `stop` on SIGTERM or SIGINT, then exits 0 (1 if stopping failed); a second signal exits at
 * once. Every long-running command installs this before printing its ready line, because a
 * supervisor may signal as soon as it reads that line.
 */
export function stopOnSignals(stop: () => Promise<void>, log: Logger): Shutdown {
  const shutdown = { stopping: false };
  const onSignal = (signal: NodeJS.Signals) => {
    if (shutdown.stopping) process.exit(130);
    shutdown.stopping = true;
    log.info('shutting down', { signal });
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return shutdown;
}
