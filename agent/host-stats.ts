// What the device has left: the agent's own memory, the machine's memory, the free space of the
// filesystem the buffer lives on (an SD card filling up is how a device dies in the field), and
// the load average. Sent with every heartbeat so a fleet view can spot a device before it fails.

import { statfs } from 'node:fs/promises';
import { freemem, loadavg, totalmem } from 'node:os';

/** The host part of the agent's status. */
export interface HostStats {
  memory: { rssBytes: number; totalBytes: number; freeBytes: number };
  /** The filesystem of `path` (the agent's dataDir); null when it cannot be read. */
  disk: { path: string; totalBytes: number; freeBytes: number } | null;
  /** 1, 5 and 15 minutes. */
  loadAverage: number[];
}

/** Memory, disk space under `dataDir` and load, now. */
export async function hostStats(dataDir: string): Promise<HostStats> {
  let disk: HostStats['disk'] = null;
  try {
    const fs = await statfs(dataDir);
    // bavail, not bfree: what an unprivileged agent can still write (root keeps a reserve).
    disk = { path: dataDir, totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
  } catch {
    // A dataDir that cannot be read is reported by the buffer; the status still goes out.
  }
  return {
    memory: { rssBytes: process.memoryUsage.rss(), totalBytes: totalmem(), freeBytes: freemem() },
    disk,
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
  };
}
