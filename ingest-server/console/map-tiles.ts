// Whether the console should underlay OpenStreetMap tiles. Browsers log every failed image load
// as a console error and offer no quiet way to probe, so the server probes one tile instead and
// the console asks it: offline installations (the common case at the edge) request no tile at all.

/** The tile server the console draws under GPS tracks. */
export const TILE_URL = 'https://tile.openstreetmap.org';

const PROBE_TIMEOUT_MS = 3000;
// Long enough that a console polling the page does not hammer the tile server, short enough
// that a link coming up is noticed.
const REMEMBER_MS = 10 * 60_000;

let probed: { at: number; reachable: Promise<boolean> } | undefined;

/** Whether tile 0/0/0 answered recently; probes at most once per REMEMBER_MS. */
export function tilesReachable(now: number): Promise<boolean> {
  if (!probed || now - probed.at > REMEMBER_MS) {
    const reachable = fetch(`${TILE_URL}/0/0/0.png`, { method: 'HEAD', headers: { 'user-agent': 'Rivulet console (self-hosted)' }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
      (response) => response.ok,
      () => false,
    );
    probed = { at: now, reachable };
  }
  return probed.reachable;
}
