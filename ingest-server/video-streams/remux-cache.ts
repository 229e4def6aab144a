// Remuxed playback media, kept a little while: every viewer of a live stream fetches the same
// newest segments, and HLS players fetch a segment again after a seek, so each fragment is read
// and remuxed once per container rather than once per request. Bounded by bytes, least recently
// used first out; concurrent requests for one key share a single remux.

/** Bytes the cache holds at most by default: a few minutes of one camera's video. */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** A least-recently-used map of remuxed media, bounded by total bytes. */
export class RemuxCache {
  private readonly entries = new Map<string, Uint8Array>();
  private readonly pending = new Map<string, Promise<Uint8Array>>();
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /** The bytes cached under `key`, else what `produce` makes (then cached). */
  async get(key: string, produce: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.entries.get(key);
    if (hit) {
      // Re-inserting moves it to the young end of the Map's insertion order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const running = this.pending.get(key);
    if (running) return running;
    const made = produce().finally(() => this.pending.delete(key));
    this.pending.set(key, made);
    const bytes = await made;
    this.put(key, bytes);
    return bytes;
  }

  private put(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.maxBytes || this.entries.has(key)) return;
    this.entries.set(key, bytes);
    this.bytes += bytes.length;
    for (const [oldKey, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldKey);
      this.bytes -= old.length;
    }
  }
}
