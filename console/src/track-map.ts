// A GPS track drawn as SVG in its own lat/lon box, so it works offline. OpenStreetMap tiles are
// laid under it only when the server found the tile server reachable: a failed image load is a
// console error in every browser, and offline no tile is requested at all.

import { getJson } from './api.js';
import { el, svg } from './dom.js';

/** A position fix. */
export interface Fix {
  lat: number;
  lon: number;
}

const SIZE = 320;
const TILE_SIZE = 256;
let tileServer: Promise<string | undefined> | undefined;

/** A map of the track: an SVG polyline in Web Mercator, over OSM tiles when they load. */
export function trackMap(fixes: Fix[]): HTMLElement {
  const box = el('div', { class: 'map', 'data-fixes': fixes.length });
  if (fixes.length === 0) return box;
  // Web Mercator pixel coordinates at a zoom where the track fits the box.
  const zoom = zoomFor(fixes);
  const points = fixes.map((fix) => project(fix, zoom));
  const xs = points.map((point) => point.x);
  const ys = points.map((point) => point.y);
  const centerX = (Math.min(...xs) + Math.max(...xs)) / 2;
  const centerY = (Math.min(...ys) + Math.max(...ys)) / 2;
  const left = centerX - SIZE / 2;
  const top = centerY - SIZE / 2;
  const tiles = el('div', { class: 'tiles' });
  const line = points.map((point) => `${(point.x - left).toFixed(1)},${(point.y - top).toFixed(1)}`).join(' ');
  const last = points.at(-1)!;
  box.append(
    tiles,
    svg('svg', { viewBox: `0 0 ${SIZE} ${SIZE}`, class: 'track' }, svg('polyline', { points: line, class: 'route' }), svg('circle', { cx: (last.x - left).toFixed(1), cy: (last.y - top).toFixed(1), r: 5, class: 'here' })),
  );
  void tileServerUrl().then((tileUrl) => {
    if (!tileUrl) return;
    for (let tileX = Math.floor(left / TILE_SIZE); tileX * TILE_SIZE < left + SIZE; tileX++) {
      for (let tileY = Math.floor(top / TILE_SIZE); tileY * TILE_SIZE < top + SIZE; tileY++) {
        tiles.append(el('img', { src: `${tileUrl}/${zoom}/${tileX}/${tileY}.png`, alt: '', style: `left:${tileX * TILE_SIZE - left}px;top:${tileY * TILE_SIZE - top}px` }));
      }
    }
    box.append(el('span', { class: 'attribution' }, '© OpenStreetMap contributors'));
  });
  return box;
}

/** The tile server's URL when the server could reach it; asked once per page load. */
function tileServerUrl(): Promise<string | undefined> {
  tileServer ??= getJson<{ reachable: boolean; tileUrl: string }>('map-tiles').then(
    (answer) => (answer.reachable ? answer.tileUrl : undefined),
    () => undefined,
  );
  return tileServer;
}

function project(fix: Fix, zoom: number): { x: number; y: number } {
  const scale = TILE_SIZE * 2 ** zoom;
  const sin = Math.sin((fix.lat * Math.PI) / 180);
  return { x: ((fix.lon + 180) / 360) * scale, y: (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale };
}

function zoomFor(fixes: Fix[]): number {
  for (let zoom = 18; zoom > 0; zoom--) {
    const points = fixes.map((fix) => project(fix, zoom));
    const width = Math.max(...points.map((p) => p.x)) - Math.min(...points.map((p) => p.x));
    const height = Math.max(...points.map((p) => p.y)) - Math.min(...points.map((p) => p.y));
    if (width <= SIZE * 0.8 && height <= SIZE * 0.8) return zoom;
  }
  return 0;
}
