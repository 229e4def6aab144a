// The overview: data streams, video streams and devices, refreshed every few seconds.

import { getJson, type DataStreamSummary, type DeviceHeartbeat, type VideoStreamSummary } from './api.js';
import { el } from './dom.js';
import { ago, bytes, duration } from './format.js';
import type { Page } from './page.js';

const REFRESH_MS = 2000;

/** Shows the overview in `root`; refreshes until disposed. */
export const overviewPage: Page = (root) => {
  const data = el('section', { id: 'data-streams' }, el('h2', {}, 'Data streams'), el('p', { class: 'muted' }, 'Loading…'));
  const video = el('section', { id: 'video-streams' }, el('h2', {}, 'Video streams'), el('p', { class: 'muted' }, 'Loading…'));
  const devices = el('section', { id: 'devices' }, el('h2', {}, 'Devices'), el('p', { class: 'muted' }, 'Loading…'));
  root.append(data, video, devices);

  const refresh = async () => {
    const [dataList, videoList, deviceList] = await Promise.all([
      getJson<{ streams: DataStreamSummary[] }>('data-streams'),
      getJson<{ streams: VideoStreamSummary[]; now: number }>('video-streams'),
      getJson<{ devices: DeviceHeartbeat[]; now: number }>('devices'),
    ]);
    data.replaceChildren(
      el('h2', {}, 'Data streams'),
      table(
        ['Name', 'Shards', 'Status', 'Records/s'],
        dataList.streams.map((stream) => [el('a', { href: `#/data/${encodeURIComponent(stream.name)}` }, stream.name), stream.openShards, stream.status, stream.recordsPerSecond]),
        'No data streams yet.',
      ),
    );
    video.replaceChildren(
      el('h2', {}, 'Video streams'),
      table(
        ['Name', 'Last fragment', 'State'],
        videoList.streams.map((stream) => [
          el('a', { href: `#/video/${encodeURIComponent(stream.name)}` }, stream.name),
          stream.lastFragment ? ago(stream.lastFragment.serverTimestampMs + stream.lastFragment.durationMs, videoList.now) : 'no fragments',
          el('span', { class: stream.live ? 'badge live' : 'badge' }, stream.live ? 'LIVE' : 'idle'),
        ]),
        'No video streams yet.',
      ),
    );
    devices.replaceChildren(
      el('h2', {}, 'Devices'),
      table(
        ['Device', 'Last seen', 'Version', 'Uptime', 'Backlog', 'Sources', 'Cameras', 'Disk free', 'Memory', 'GPS fix', 'Config', 'Last error'],
        deviceList.devices.map((device) => deviceRow(device, deviceList.now)),
        'No device has sent a heartbeat or been added yet.',
      ),
    );
  };
  return refreshing(refresh, REFRESH_MS, root);
};

/** One device's cells: what its last heartbeat says, whether its key is revoked, where its pushed config stands. */
function deviceRow(device: DeviceHeartbeat, now: number): (Node | string)[] {
  const status = device.status;
  const revoked = device.identity?.revokedAt;
  const name = revoked ? el('span', {}, `${device.deviceId} `, el('span', { class: 'badge live', title: `revoked ${ago(revoked, now)}` }, 'REVOKED')) : device.deviceId;
  const cameraError = status?.cameras?.find((camera) => camera.lastError)?.lastError;
  const memory = status?.host?.memory;
  const disk = status?.host?.disk;
  const gps = status?.gps;
  const config = device.config;
  return [
    name,
    ago(device.receivedAt, now),
    status?.agentVersion ?? '—',
    status?.uptimeMs !== undefined ? duration(status.uptimeMs) : '—',
    status?.buffer ? `${status.buffer.backlogRecords} records, ${bytes(status.buffer.backlogBytes)}` : '—',
    (status?.sources ?? []).map((source) => `${source.name} (${source.type}, ${source.healthy === false ? 'UNHEALTHY' : source.transport})`).join(', ') || '—',
    (status?.cameras ?? []).map((camera) => camera.name).join(', ') || '—',
    disk ? `${bytes(disk.freeBytes)} of ${bytes(disk.totalBytes)}` : '—',
    memory ? `RSS ${bytes(memory.rssBytes)}, ${bytes(memory.freeBytes)} free` : '—',
    gps ? `${gps.lat.toFixed(5)}, ${gps.lon.toFixed(5)} (quality ${gps.fixQuality})` : '—',
    config ? `v${config.desiredVersion} ${config.state}${config.state === 'rejected' && config.error ? `: ${config.error}` : ''}` : '—',
    status?.upload?.lastError?.message ?? cameraError ?? '—',
  ];
}

/** A table with a header row, or a note when there are no rows. */
export function table(headings: string[], rows: (Node | string | number)[][], empty: string): HTMLElement {
  if (rows.length === 0) return el('p', { class: 'muted' }, empty);
  return el(
    'div',
    { class: 'table-wrap' },
    el('table', {}, el('thead', {}, el('tr', {}, ...headings.map((heading) => el('th', {}, heading)))), el('tbody', {}, ...rows.map((cells) => el('tr', {}, ...cells.map((cell) => el('td', {}, cell)))))),
  );
}

/** Runs `refresh` now and every `everyMs` until the returned disposer is called; failures show in a banner inside `root`. */
export function refreshing(refresh: () => Promise<void>, everyMs: number, root: HTMLElement): () => void {
  const banner = el('p', { class: 'error', hidden: true });
  root.prepend(banner);
  let timer: number | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      await refresh();
      banner.hidden = true;
    } catch (error) {
      banner.textContent = `Refresh failed: ${(error as Error).message}`;
      banner.hidden = false;
    }
    if (!stopped) timer = window.setTimeout(tick, everyMs);
  };
  void tick();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
