import { readFileSync } from 'node:fs';

// What the kernel counts for a process, from /proc/<pid>/ (Linux).

/** Resident memory now and at its peak (VmRSS, VmHWM), in bytes. */
export function processMemory(pid: number | 'self'): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Bytes the process sent towards storage (`write_bytes`, page-cache pages it dirtied) and passed to write() (`wchar`). */
export function processIo(pid: number | 'self'): { writeBytes: number; wchar: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { writeBytes: field('write_bytes'), wchar: field('wchar') };
}

/** CPU time the process has used so far (user + system), in seconds. */
export function cpuSeconds(pid: number | 'self'): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name); ticks are 1/100 s on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
