// The agent's heartbeat: its status document (what /status serves) POSTed to the server every
// intervalMs, so the server's console can list devices and what they are doing without reaching
// into each device's loopback-only status endpoint. SigV4-signed with the device keys (service
// `rivulet`) when the agent has them. Failures are logged at debug only: the uploaders already
// report connectivity, and a server without the endpoint must not fill a device's log.
//
// The server answers 204, or 200 {"config": {"version", "document"}} when it wants the device to
// run another config (agent/fleet/protocol.ts): that offer is handed on, checked by whoever takes it.

import { silentLogger, type Logger } from '../lib/log.js';
import { signedPost } from './signed-post.js';
import type { AgentStatus } from './status.js';
import { HEARTBEAT_PATH, HEARTBEAT_SERVICE } from '../lib/fleet-protocol.js';

/** Options of {@link HeartbeatSender}. */
export interface HeartbeatOptions {
  /** The server's base URL (the agent's server.url). */
  url: string;
  intervalMs: number;
  status: () => Promise<AgentStatus>;
  /** Takes the `config` of a 200 answer, as it came. */
  onConfigOffer?: (offer: unknown) => void;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** Per request; 5000 ms unless given. */
  timeoutMs?: number;
  log?: Logger;
}

/** Posts the agent's status to the server: once at start, then every intervalMs; start() / stop(). */
export class HeartbeatSender {
  readonly #options: HeartbeatOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #beating = false;
  /** beatNow() during a beat: beat again as soon as it ends. */
  #again = false;
  #stopped = false;
  #sent = 0;
  #failed = 0;

  constructor(options: HeartbeatOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError('options.intervalMs must be above 0.');
    this.#options = options;
    this.#log = options.log ?? silentLogger;
  }

  /** Heartbeats the server answered with a 2xx, and those that failed. */
  get counters(): { sent: number; failed: number } {
    return { sent: this.#sent, failed: this.#failed };
  }

  start(): void {
    this.#beat();
  }

  /** Beats now, or right after the beat in flight (whose status may already be stale). */
  beatNow(): void {
    if (this.#stopped) return;
    if (this.#beating) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#beat();
  }

  /** Stops the timer and waits for a beat in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
  }

  #beat(): void {
    if (this.#stopped) return;
    this.#beating = true;
    this.#inFlight = this.#send().then(
      () => void this.#sent++,
      (error: unknown) => {
        this.#failed++;
        this.#log.debug('heartbeat failed', { error: (error as Error).message });
      },
    );
    // The next beat is timed from the end of this one: a slow server never sees them pile up.
    void this.#inFlight.finally(() => {
      this.#beating = false;
      if (this.#stopped) return;
      const again = this.#again;
      this.#again = false;
      this.#timer = setTimeout(() => this.#beat(), again ? 0 : this.#options.intervalMs);
    });
  }

  async #send(): Promise<void> {
    const answer = await signedPost({
      url: new URL(HEARTBEAT_PATH, this.#options.url),
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(await this.#options.status())),
      ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
      region: this.#options.region,
      service: HEARTBEAT_SERVICE,
      timeoutMs: this.#options.timeoutMs ?? 5000,
    });
    if (answer.status < 200 || answer.status >= 300) throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 512).trim()}`);
    if (answer.status !== 200 || !this.#options.onConfigOffer) return;
    let config: unknown;
    try {
      config = (JSON.parse(answer.body) as { config?: unknown } | null)?.config;
    } catch (error) {
      throw new Error(`the heartbeat's answer is not JSON: ${(error as Error).message}`);
    }
    if (config !== undefined) this.#options.onConfigOffer(config);
  }
}
