// How times and sizes read in the console.

/** "3 s ago", "5 min ago", "2 h ago" for an epoch-ms time seen from `now`. */
export function ago(atMs: number | null | undefined, now: number): string {
  if (atMs === null || atMs === undefined) return 'never';
  const seconds = Math.max(0, Math.round((now - atMs) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** "45 s", "12 min", "5 h 3 min", "3 d 4 h" for a length of time in ms. */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

/** Local wall-clock time with seconds. */
export function clock(atMs: number): string {
  return new Date(atMs).toLocaleTimeString([], { hour12: false });
}

/** Bytes in B / KiB / MiB / GiB. */
export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  if (count < 1024 * 1024 * 1024) return `${(count / 1024 / 1024).toFixed(1)} MiB`;
  return `${(count / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}
