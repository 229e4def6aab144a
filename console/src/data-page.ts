// A data stream: its newest records per shard (polled every second), charts of the numeric fields
// of JSON payloads, and a map when records carry GPS positions (agent records: `gps` or a gps
// source's `values`).

import { getJson, type ConsoleRecord, type ShardRecords } from './api.js';
import { lineChart, type Point } from './chart.js';
import { el } from './dom.js';
import { clock } from './format.js';
import { refreshing, table } from './overview.js';
import type { Page } from './page.js';
import { trackMap, type Fix } from './track-map.js';

const POLL_MS = 1000;
const KEPT_RECORDS = 1000;
const SHOWN_RECORDS = 50;
const MAX_CHARTS = 8;

interface Seen extends ConsoleRecord {
  shardId: string;
  /** The producer's timestamp when the payload has one, else arrival. */
  atMs: number;
}

/** Shows one data stream's records, charts and map; polls until disposed. */
export const dataStreamPage: Page = (root, name) => {
  const cursors = new Map<number, number>();
  const records: Seen[] = [];
  const heading = el('h2', {}, el('a', { href: '#/' }, 'Overview'), ' / ', name);
  const charts = el('section', { id: 'charts', class: 'charts' });
  const map = el('section', { id: 'map' });
  const list = el('section', { id: 'records' });
  root.append(heading, charts, map, list);

  const refresh = async () => {
    const cursor = [...cursors].map(([shard, position]) => `${shard}:${position}`).join(',');
    const answer = await getJson<{ shards: ShardRecords[] }>(`data-streams/${encodeURIComponent(name)}/records?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    let added = 0;
    for (const shard of answer.shards) {
      cursors.set(shard.shardIndex, shard.cursor);
      for (const record of shard.records) records.push({ ...record, shardId: shard.shardId, atMs: timeOf(record) });
      added += shard.records.length;
    }
    if (added === 0 && list.childElementCount > 0) return;
    records.sort((a, b) => a.atMs - b.atMs);
    records.splice(0, Math.max(0, records.length - KEPT_RECORDS));
    render();
  };

  const render = () => {
    const series = numericSeries(records);
    charts.replaceChildren(...[...series].slice(0, MAX_CHARTS).map(([field, points]) => el('figure', {}, lineChart(field, points), el('figcaption', {}, field))));
    const fixes = records.flatMap((record) => fixOf(record.json) ?? []);
    map.replaceChildren(...(fixes.length > 0 ? [el('h3', {}, 'GPS track'), trackMap(fixes)] : []));
    const newest = records.slice(-SHOWN_RECORDS).reverse();
    list.replaceChildren(
      el('h3', {}, `Records (${records.length} kept, newest first)`),
      table(
        ['Time', 'Shard', 'Partition key', 'Payload'],
        newest.map((record) => [clock(record.atMs), record.shardId.replace('shardId-', ''), record.partitionKey, el('code', { class: 'payload' }, payloadText(record))]),
        'No records in the last minutes; new ones appear here as they arrive.',
      ),
    );
  };
  return refreshing(refresh, POLL_MS, root);
};

function timeOf(record: ConsoleRecord): number {
  const stamp = (record.json as { timestamp?: unknown } | undefined)?.timestamp;
  const parsed = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
  return Number.isFinite(parsed) ? parsed : record.arrivalMs;
}

function payloadText(record: ConsoleRecord): string {
  if (record.json !== undefined) return JSON.stringify(record.json);
  return record.text ?? `base64:${record.base64}`;
}

/** Numeric leaves of JSON payloads by dotted path (values.powerDeliveredKw, gps.speedKmh), in first-seen order. */
function numericSeries(records: Seen[]): Map<string, Point[]> {
  const series = new Map<string, Point[]>();
  const visit = (value: unknown, path: string, atMs: number, depth: number) => {
    if (typeof value === 'number' && Number.isFinite(value)) {
      let points = series.get(path);
      if (!points) series.set(path, (points = []));
      points.push({ atMs, value });
    } else if (value && typeof value === 'object' && !Array.isArray(value) && depth < 3) {
      for (const [key, child] of Object.entries(value)) visit(child, path ? `${path}.${key}` : key, atMs, depth + 1);
    }
  };
  for (const record of records) visit(record.json, '', record.atMs, 0);
  // Positions belong on the map, not in charts.
  for (const path of [...series.keys()]) if (/(^|\.)(lat|lon)$/.test(path)) series.delete(path);
  return series;
}

/** The position a payload carries: an attached `gps` fix, or a GPS source's own values. */
function fixOf(payload: unknown): Fix | undefined {
  const record = payload as { gps?: Partial<Fix>; values?: Partial<Fix> & { valid?: boolean } } | undefined;
  for (const candidate of [record?.gps, record?.values]) {
    if (candidate && typeof candidate.lat === 'number' && typeof candidate.lon === 'number' && (candidate as { valid?: boolean }).valid !== false) {
      return { lat: candidate.lat, lon: candidate.lon };
    }
  }
  return undefined;
}
