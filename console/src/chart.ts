// A small SVG line chart of one numeric series over time; redrawn whole on every update.

import { svg } from './dom.js';
import { clock } from './format.js';

/** One point of a series: epoch ms and value. */
export interface Point {
  atMs: number;
  value: number;
}

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

/** An SVG chart of the points (sorted by time), with min/max and first/last time labels. */
export function lineChart(title: string, points: Point[]): SVGSVGElement {
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img', 'aria-label': title, 'data-series': title, 'data-points': points.length });
  if (points.length === 0) return chart;
  const times = points.map((point) => point.atMs);
  const values = points.map((point) => point.value);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  let [v0, v1] = [Math.min(...values), Math.max(...values)];
  // A flat series gets a band around it, so the line sits in the middle instead of dividing by zero.
  if (v0 === v1) [v0, v1] = [v0 - 1, v1 + 1];
  const x = (atMs: number) => PAD.left + ((atMs - t0) / Math.max(1, t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (value: number) => HEIGHT - PAD.bottom - ((value - v0) / (v1 - v0)) * (HEIGHT - PAD.top - PAD.bottom);
  const path = points.map((point, index) => `${index === 0 ? 'M' : 'L'}${x(point.atMs).toFixed(1)},${y(point.value).toFixed(1)}`).join(' ');
  chart.append(
    svg('rect', { x: PAD.left, y: PAD.top, width: WIDTH - PAD.left - PAD.right, height: HEIGHT - PAD.top - PAD.bottom, class: 'plot' }),
    svg('path', { d: path, class: 'line' }),
    svg('text', { x: PAD.left - 4, y: PAD.top + 8, class: 'axis', 'text-anchor': 'end' }, round(v1)),
    svg('text', { x: PAD.left - 4, y: HEIGHT - PAD.bottom, class: 'axis', 'text-anchor': 'end' }, round(v0)),
    svg('text', { x: PAD.left, y: HEIGHT - 4, class: 'axis' }, clock(t0)),
    svg('text', { x: WIDTH - PAD.right, y: HEIGHT - 4, class: 'axis', 'text-anchor': 'end' }, clock(t1)),
  );
  return chart;
}

function round(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}
