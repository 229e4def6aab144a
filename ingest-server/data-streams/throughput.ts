import { ProvisionedThroughputExceededException } from '../protocol/errors.js';

// AWS's per-shard limits for provisioned streams. Off unless the server is started with
// --enforce-throughput: most self-hosted users want their hardware's speed, not AWS's quotas,
// but some want to test how their producers behave when throttled.
const WRITE_RECORDS_PER_SECOND = 1000;
const WRITE_BYTES_PER_SECOND = 1024 * 1024;
const READ_CALLS_PER_SECOND = 5;
const READ_BYTES_PER_SECOND = 2 * 1024 * 1024;

interface Window {
  second: number;
  count: number;
  bytes: number;
}

/** Counts per-shard use in one-second windows and refuses what is over AWS's limits. */
export class ThroughputLimiter {
  private readonly writes = new Map<string, Window>();
  private readonly reads = new Map<string, Window>();

  constructor(private readonly now: () => number) {}

  /** Whether a record of `bytes` may be written to the shard at `atMs`; counts it if so. */
  admitWrite(shard: string, bytes: number, atMs: number): boolean {
    const window = this.window(this.writes, shard, atMs);
    if (window.count + 1 > WRITE_RECORDS_PER_SECOND || window.bytes + bytes > WRITE_BYTES_PER_SECOND) return false;
    window.count += 1;
    window.bytes += bytes;
    return true;
  }

  /** Throws ProvisionedThroughputExceededException when the shard's read limits are spent. */
  admitRead(shard: string): void {
    const window = this.window(this.reads, shard);
    if (window.count + 1 > READ_CALLS_PER_SECOND || window.bytes >= READ_BYTES_PER_SECOND) {
      throw new ProvisionedThroughputExceededException('Rate exceeded for shard ' + shard + '.');
    }
    window.count += 1;
  }

  countRead(shard: string, bytes: number): void {
    this.window(this.reads, shard).bytes += bytes;
  }

  private window(windows: Map<string, Window>, shard: string, atMs = this.now()): Window {
    const second = Math.floor(atMs / 1000);
    let window = windows.get(shard);
    if (!window || window.second !== second) {
      window = { second, count: 0, bytes: 0 };
      windows.set(shard, window);
    }
    return window;
  }
}
