import { readFileSync } from 'node:fs';

// What the kernel counts for a process, from /proc/<pid>/ (Linux).

/**
 * Resident memory now and at its peak (VmRSS, VmHWM), in bytes, and what the resident part is now:
 * private memory (RssAnon) and pages of mapped files (RssFile: the binary and libraries, clean
 * pages the kernel can drop and read again).
 */
export function processMemory(pid: number | 'self'): { rss: number; peak: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM'), anon: kib('RssAnon'), file: kib('RssFile') };
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

/** Resident bytes of the process's mappings of one file (e.g. the node binary), from /proc/<pid>/smaps. */
export function mappedFileRss(pid: number | 'self', file: string): number {
  let inFile = false;
  let kib = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) inFile = mapping[1] === file;
    else if (inFile) kib += Number(/^Rss:\s+(\d+) kB$/.exec(line)?.[1] ?? 0);
  }
  return kib * 1024;
}
