// The agent as a process runs it: one Agent at a time, swapped in-process when the server pushes a
// config. The local config file is the starting point; a pushed config that came up healthy is
// kept in <dataDir>/pushed-config.json and wins over the local file from then on (also after a
// restart), until another push replaces it.
//
// Applying an offer (from a heartbeat's answer or the MQTT config topic), one at a time, the latest
// offer waiting behind the one being applied:
//   1. the version in force or one refused before: nothing to do (never retried);
//   2. validate with the config file's own validator (a missing deviceId or dataDir is the
//      device's own; a different one is refused: the buffer and the identity stay);
//   3. record the trial (so a power cut during it counts as a failure, not as a config in force),
//      stop the running Agent (it commits every reading it has), start one with the new config and
//      wait up to its fleet.applyTimeoutMs for its health (ports open, buffer writable, uploader
//      running);
//   4. healthy: it is the config in force. Not healthy: stop it, refuse the version with the
//      reason, start the previous config again. Either way, heartbeat at once.
// The buffer file is the same throughout, so what was buffered before is uploaded after.

import { dirname, join } from 'node:path';
import { silentLogger, type Logger } from '../../lib/log.js';
import { Agent, type AgentHealth } from '../agent.js';
import { AgentConfigError, agentConfigFrom, type AgentConfig } from '../config.js';
import { ConfigOfferError, parseConfigOffer, type ConfigOffer, type ConfigReport } from './protocol.js';
import { PUSHED_CONFIG_FILE, PushedConfigStore } from './pushed-config-state.js';

/** Options of {@link AgentSupervisor}. */
export interface AgentSupervisorOptions {
  /** The local config file, loaded. */
  local: AgentConfig;
  log?: Logger;
  /** The previous config could not be started again after a failed trial: the process should exit (and be restarted). */
  onFatal?: (error: unknown) => void;
  /**
   * The service watchdog period, when systemd watches the agent (WATCHDOG_USEC). No pets go out
   * during a trial, so a pushed config whose fleet.applyTimeoutMs would not end well within it is
   * refused: systemd would restart the agent mid-trial.
   */
  watchdogMs?: number;
}

const HEALTH_POLL_MS = 200;

/** Runs the agent with the local or the pushed config and applies config offers; start() / stop(). */
export class AgentSupervisor {
  readonly #local: AgentConfig;
  readonly #log: Logger;
  readonly #onFatal: (error: unknown) => void;
  readonly #watchdogMs: number | undefined;
  #store: PushedConfigStore | undefined;
  #agent: Agent | undefined;
  #config: AgentConfig;
  /** The version being tried, while a trial runs. */
  #trying: number | undefined;
  #waiting: ConfigOffer | undefined;
  #applying: Promise<void> | undefined;
  #stopped = false;

  constructor(options: AgentSupervisorOptions) {
    this.#local = options.local;
    this.#config = options.local;
    this.#log = options.log ?? silentLogger;
    this.#onFatal = options.onFatal ?? ((error) => this.#log.error('agent lost', { error }));
    this.#watchdogMs = options.watchdogMs;
  }

  /** The config the running agent uses. */
  get config(): AgentConfig {
    return this.#config;
  }

  get statusUrl(): string | undefined {
    return this.#agent?.statusUrl;
  }

  /** What the status reports about configs. */
  report(): ConfigReport {
    return this.#store?.report() ?? { version: null, appliedAt: null };
  }

  /** The running agent's health (unhealthy while none runs, e.g. between two configs). */
  health(): AgentHealth {
    return this.#agent?.health() ?? { healthy: false, problems: ['no agent running'] };
  }

  /** Starts the agent with the pushed config in force, else the local file. */
  async start(): Promise<void> {
    const store = await PushedConfigStore.open(this.#local.dataDir);
    this.#store = store;
    const { trial, current } = store.state;
    if (trial) {
      // The process ended during that trial: it never proved healthy, and it may be why it ended.
      this.#log.warn('a pushed config was being tried when the agent last stopped; refused', { version: trial.version });
      await store.rejected(trial.version, 'the agent stopped during its trial (restart or power loss); not tried again', Date.now());
    }
    if (current) {
      try {
        this.#config = await this.#pushedConfig(current.document);
        this.#log.info('running the pushed config', { version: current.version, appliedAt: new Date(current.appliedAt).toISOString(), localFile: this.#local.file });
      } catch (error) {
        if (!(error instanceof AgentConfigError)) throw error;
        // An agent upgrade can refuse what an older one accepted; the local file still works.
        this.#log.warn('the pushed config in force no longer validates; running the local file', { version: current.version, error: error.problem });
        await store.dropCurrent();
        await store.rejected(current.version, `no longer valid: ${error.problem}`, Date.now());
      }
    }
    this.#agent = this.#agentFor(this.#config);
    await this.#agent.start();
  }

  /** Takes an offer as it came off the network; applied in the background. */
  offer(raw: unknown): void {
    let offer: ConfigOffer;
    try {
      offer = parseConfigOffer(raw);
    } catch (error) {
      if (!(error instanceof ConfigOfferError)) throw error;
      this.#log.warn('config offer ignored', { error: error.message });
      return;
    }
    if (this.#stopped || offer.version === this.#trying || this.#store?.settled(offer.version)) return;
    this.#waiting = offer;
    this.#applying ??= this.#applyWaiting().finally(() => (this.#applying = undefined));
  }

  /** Stops the agent (a trial in progress ends as refused at the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#applying;
    await this.#agent?.stop();
  }

  async #applyWaiting(): Promise<void> {
    while (this.#waiting && !this.#stopped) {
      const offer = this.#waiting;
      this.#waiting = undefined;
      if (this.#store!.settled(offer.version)) continue;
      try {
        await this.#apply(offer);
      } catch (error) {
        this.#agent = undefined;
        this.#onFatal(error);
        return;
      }
    }
  }

  async #apply(offer: ConfigOffer): Promise<void> {
    const store = this.#store!;
    const { version, document } = offer;
    this.#log.info('config offered', { version });
    let candidate: AgentConfig;
    try {
      candidate = await this.#pushedConfig(document);
    } catch (error) {
      if (!(error instanceof AgentConfigError)) throw error;
      await this.#refuse(version, error.problem);
      this.#agent?.heartbeatNow();
      return;
    }
    const previous = this.#config;
    try {
      await store.beginTrial(version, document, Date.now());
    } catch (error) {
      // Nothing was stopped or tried: the old config runs on, and the offer may come again.
      this.#log.error('the pushed config could not be staged; not applied', { version, file: store.path, error });
      return;
    }
    this.#trying = version;
    try {
      await this.#agent?.stop();
      this.#agent = undefined;
      const agent = this.#agentFor(candidate);
      const problem = await agent.start().then(
        () => this.#healthWithin(agent, candidate.fleet.applyTimeoutMs),
        (error: unknown) => `could not start: ${(error as Error).message}`,
      );
      if (problem === undefined) {
        await store.applied(version, document, Date.now());
        this.#agent = agent;
        this.#config = candidate;
        this.#log.info('pushed config applied', { version });
        agent.heartbeatNow();
        return;
      }
      await agent.stop();
      if (this.#stopped) return;
      const back = store.state.current ? `v${store.state.current.version}` : `the local file ${this.#local.file}`;
      // Refused before the previous config starts, so its first heartbeat already says so.
      await this.#refuse(version, `${problem}; rolled back to ${back}`);
      this.#agent = this.#agentFor(previous);
      await this.#agent.start();
    } finally {
      this.#trying = undefined;
    }
  }

  /** Undefined once the agent is healthy, else why it was not within `timeoutMs` (or stop() came first). */
  async #healthWithin(agent: Agent, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const health = agent.health();
      if (health.healthy) return undefined;
      if (this.#stopped) return 'the agent was stopped during the trial';
      if (Date.now() >= deadline) return `not healthy within ${formatSeconds(timeoutMs)}: ${health.problems.join('; ')}`;
      await new Promise((resolve) => setTimeout(resolve, Math.min(HEALTH_POLL_MS, Math.max(1, deadline - Date.now()))));
    }
  }

  async #refuse(version: number, error: string): Promise<void> {
    this.#log.warn('pushed config refused', { version, error });
    await this.#store!.rejected(version, error, Date.now());
  }

  /**
   * A pushed document as a config: deviceId and dataDir default to the device's own and may not
   * differ from them; relative paths mean what they mean in the local file.
   */
  async #pushedConfig(document: Record<string, unknown>): Promise<AgentConfig> {
    const local = this.#local;
    const filled = { ...document, deviceId: document['deviceId'] ?? local.deviceId, dataDir: document['dataDir'] ?? local.dataDir };
    const config = await agentConfigFrom(filled, join(local.dataDir, PUSHED_CONFIG_FILE), dirname(local.file));
    if (config.deviceId !== local.deviceId) throw new AgentConfigError(`deviceId cannot be changed by a push (this device is ${JSON.stringify(local.deviceId)})`);
    if (config.dataDir !== local.dataDir) throw new AgentConfigError(`dataDir cannot be changed by a push (the buffer is in ${local.dataDir})`);
    // Stopping the old agent and starting the new one take their share of the period too.
    const trialLimitMs = this.#watchdogMs === undefined ? undefined : Math.floor((this.#watchdogMs * 2) / 3);
    if (trialLimitMs !== undefined && config.fleet.applyTimeoutMs > trialLimitMs) {
      throw new AgentConfigError(
        `fleet.applyTimeoutMs (${config.fleet.applyTimeoutMs} ms) must stay within two thirds of the service watchdog (WatchdogSec ${formatSeconds(this.#watchdogMs!)}), or systemd restarts the agent mid-trial; reinstall with the longer timeout in the local config to raise it`,
      );
    }
    return config;
  }

  #agentFor(config: AgentConfig): Agent {
    return new Agent({ config, log: this.#log, fleet: { report: () => this.report(), onOffer: (offer) => this.offer(offer) } });
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
