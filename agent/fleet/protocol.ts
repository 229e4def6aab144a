// What an agent and the server say to each other about configs: the server offers a config
// `{"version": N, "document": {...}}` (in a heartbeat's answer, or retained on the MQTT topic
// rivulet/<deviceId>/config), and the agent reports in every status which version it runs and
// which one it last refused. Pure: no I/O.

/** A config the server wants the device to run. */
export interface ConfigOffer {
  /** From 1, increasing per device. */
  version: number;
  /** An agent config document (deviceId and dataDir may be left out: the device's own apply). */
  document: Record<string, unknown>;
}

/** The `config` member of the agent's status. */
export interface ConfigReport {
  /** The pushed version in force; null while the local config file is. */
  version: number | null;
  /** When that version was applied (epoch ms); null for the local file. */
  appliedAt: number | null;
  /** The latest version the agent refused, and why; it is never tried again. */
  rejected?: { version: number; error: string; at: number };
}

/** An offer that is not `{"version": positive integer, "document": object}`. */
export class ConfigOfferError extends Error {
  override readonly name = 'ConfigOfferError';
}

/** Checks an offer as it came off the network. */
export function parseConfigOffer(value: unknown): ConfigOffer {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigOfferError('a config offer must be an object {"version", "document"}');
  const { version, document } = value as { version?: unknown; document?: unknown };
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw new ConfigOfferError(`a config offer's version must be an integer from 1, got ${JSON.stringify(version)}`);
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new ConfigOfferError(`config offer v${version}: document must be an object`);
  return { version, document: document as Record<string, unknown> };
}
