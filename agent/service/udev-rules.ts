// Stable names for the configured serial adapters: USB adapters re-enumerate (ttyUSB0 becomes
// ttyUSB1 after a replug or a reboot with two of them), so each source's adapter gets the link
// /dev/rivulet/<source name>, matched on what udev knows about the adapter. Pure: the properties
// come from `udevadm info --query=property` (install.ts).

/** A serial source and its adapter's udev properties (ID_VENDOR_ID, ID_MODEL_ID, ID_SERIAL_SHORT, ID_PATH, …). */
export interface SerialAdapter {
  source: string;
  port: string;
  properties: Record<string, string>;
}

/** What the rules file says, and the adapters it could not name (with why). */
export interface UdevRules {
  text: string;
  named: { source: string; port: string; link: string }[];
  skipped: { source: string; port: string; reason: string }[];
}

/** Where the links go, under /dev. */
export const STABLE_NAME_DIR = 'rivulet';

/** The rules for `adapters`: one line per adapter that has a USB identity or a physical path. */
export function udevRules(adapters: SerialAdapter[]): UdevRules {
  const lines = ['# Written by `rivulet agent install`: stable names for the agent\'s serial adapters.'];
  const named: UdevRules['named'] = [];
  const skipped: UdevRules['skipped'] = [];
  for (const adapter of adapters) {
    // The config allows "." and ".." as names; as links under /dev/rivulet they would point elsewhere.
    if (adapter.source === '.' || adapter.source === '..') {
      skipped.push({ source: adapter.source, port: adapter.port, reason: 'the source name cannot be a file name' });
      continue;
    }
    const match = matchKeys(adapter.properties);
    if (match === undefined) {
      skipped.push({ source: adapter.source, port: adapter.port, reason: 'udev knows neither its USB identity nor its physical path' });
      continue;
    }
    const link = `${STABLE_NAME_DIR}/${adapter.source}`;
    lines.push(`# source ${adapter.source} (was ${adapter.port})`);
    lines.push(`SUBSYSTEM=="tty", ${match.map(([key, value]) => `ENV{${key}}=="${quoted(value)}"`).join(', ')}, SYMLINK+="${quoted(link)}", GROUP="dialout", MODE="0660"`);
    named.push({ source: adapter.source, port: adapter.port, link: `/dev/${link}` });
  }
  return { text: lines.join('\n') + '\n', named, skipped };
}

/**
 * The properties that pick out this adapter. Vendor, model and serial number follow the adapter
 * to any USB port; adapters without a serial number (many CH340s) are told apart by the port
 * they are plugged into instead.
 */
function matchKeys(properties: Record<string, string>): [string, string][] | undefined {
  const { ID_VENDOR_ID: vendor, ID_MODEL_ID: model, ID_SERIAL_SHORT: serial, ID_PATH: path } = properties;
  if (vendor && model && serial) return [['ID_VENDOR_ID', vendor], ['ID_MODEL_ID', model], ['ID_SERIAL_SHORT', serial]];
  if (path) return [['ID_PATH', path]];
  return undefined;
}

/** A value inside udev's double quotes: a quote or backslash cannot be written there, so it is matched by `?`. */
function quoted(value: string): string {
  return value.replace(/["\\]/g, '?');
}

/** Parses `udevadm info --query=property` output (KEY=value lines). */
export function parseUdevProperties(text: string): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) properties[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return properties;
}
