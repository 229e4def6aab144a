// What "healthy" means to the service watchdog: the agent's own view (every source's port open —
// a streaming source's port is closed and reopened after a minute without data — the last buffer
// commit succeeded, the uploader running), plus proof that the buffer still answers and can be
// written: its SQLite queue answers a stats query in time, and its file and folder are writable
// (a card remounted read-only after errors says EROFS here). The check writes nothing itself: a
// probe write at every watchdog period would be the idle agent's largest wear on an SD card.
// The event loop needs no check of its own: the pets come from a timer on it, so a blocked loop
// sends none.

import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AgentHealth } from '../agent.js';

/** What the check needs of the running agent. */
export interface HealthSource {
  health(): AgentHealth;
  /** Reads the buffer (through its queue) among other things. */
  status(): Promise<unknown>;
}

/** The agent's health plus the buffer's, within `timeoutMs`. */
export async function checkServiceHealth(agent: HealthSource, bufferFile: string | undefined, timeoutMs: number): Promise<AgentHealth> {
  const problems = [...agent.health().problems];
  const answered = await within(agent.status(), timeoutMs);
  if (answered !== true) problems.push(`buffer: ${answered}`);
  if (bufferFile) {
    for (const path of [bufferFile, dirname(bufferFile)]) {
      try {
        await access(path, constants.W_OK);
      } catch (error) {
        problems.push(`buffer: ${path} not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
    }
  }
  return { healthy: problems.length === 0, problems };
}

/** true once `promise` resolves; else why not (it failed, or did not answer in time). */
async function within(promise: Promise<unknown>, timeoutMs: number): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs)));
  try {
    return await Promise.race([promise.then(() => true as const, (error: unknown) => `status failed: ${(error as Error).message}`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
