// `npm start` runs `rivulet demo`: the server, simulated GPS, DSMR and Modbus devices on ptys, and
// the real agent reading them and a test camera. A newcomer must see readings and video arrive,
// readable with unmodified clients, within seconds; Ctrl+C must leave nothing running behind.

import { ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { describeShards, kinesisClient, readAll } from '../helpers/kinesis.js';
import { sleep, spawnCli, tempDir, within } from '../helpers/server-process.js';
import { videoClients } from '../helpers/video.js';

/** Every process under `pid`: its children, theirs, and so on. */
function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid !== parent) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Reading {
  deviceId: string;
  source: string;
  values: Record<string, unknown>;
  gps?: { lat: number; lon: number };
}

test('rivulet demo: the agent feeds gps, dsmr and modbus readings into telemetry and the test camera into demo-cam; SIGTERM stops everything', async (t) => {
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const demo = spawnCli(['demo', '--port', '0', '--data-dir', path]);
  t.teardown(() => void demo.child.kill('SIGKILL'));
  const url = await within(
    (async () => {
      for (;;) {
        // The ready block ends with this line: everything above it has started.
        if (demo.stdout().includes('Press Ctrl+C to stop.')) return /Rivulet listening on (\S+)/.exec(demo.stdout())![1]!;
        if (demo.child.exitCode !== null) throw new Error(`the demo exited: ${demo.stderr()}`);
        await sleep(50);
      }
    })(),
    30_000,
    'the demo did not print its ready block',
  );
  const printed = demo.stdout();
  t.regex(printed, new RegExp(`Console\\s+${url}/`));
  t.regex(printed, /Agent status\s+http:\/\/127\.0\.0\.1:\d+\/status/);
  t.regex(printed, /telemetry/);
  t.regex(printed, /demo-cam/);
  t.notRegex(printed, /Not running/, 'every part starts on a machine set up by scripts/setup.sh');

  const kinesis = kinesisClient(url, 'h2');
  t.teardown(() => kinesis.destroy());
  const shards = await describeShards(kinesis, 'telemetry');
  t.is(shards.length, 2);
  const bySource = new Map<string, Reading[]>();
  await within(
    (async () => {
      while (!['gps', 'dsmr', 'modbus'].every((source) => (bySource.get(source)?.length ?? 0) >= 2)) {
        bySource.clear();
        for (const shard of shards) {
          for (const record of (await readAll(kinesis, 'telemetry', shard.ShardId!)).records) {
            const reading = JSON.parse(Buffer.from(record.Data!).toString('utf8')) as Reading;
            bySource.set(reading.source, [...(bySource.get(reading.source) ?? []), reading]);
          }
        }
        await sleep(500);
      }
    })(),
    30_000,
    'readings of gps, dsmr and modbus did not all arrive',
  );
  const dsmr = bySource.get('dsmr')!.at(-1)!;
  t.is(dsmr.deviceId, 'demo-rig');
  t.is(typeof bySource.get('gps')!.at(-1)!.values['lat'], 'number');
  t.truthy(dsmr.gps, 'meter readings carry the GPS fix');

  const { archived } = videoClients(url, 'h2', t);
  const fragments = await within(
    (async () => {
      for (;;) {
        const { Fragments = [] } = await archived.send(
          new ListFragmentsCommand({ StreamName: 'demo-cam', FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(0), EndTimestamp: new Date(Date.now() + 60_000) } } }),
        );
        if (Fragments.length >= 2) return Fragments;
        await sleep(500);
      }
    })(),
    30_000,
    'no fragments arrived in demo-cam',
  );
  for (const fragment of fragments) t.true(fragment.FragmentLengthInMilliseconds! >= 900 && fragment.FragmentLengthInMilliseconds! <= 1500, `1 s fragments, got ${fragment.FragmentLengthInMilliseconds} ms`);

  const children = descendants(demo.child.pid!);
  t.true(children.length >= 6, `three simulators and their socat processes run under the demo, found ${children.length}`);
  demo.child.kill('SIGTERM');
  t.is((await within(demo.exited, 10_000, 'the demo did not stop on SIGTERM')).code, 0);
  t.deepEqual(children.filter(alive), [], 'no process of the demo outlives it');
});
