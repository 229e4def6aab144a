// The agent's video side end to end: a `test` camera (videotestsrc → x264enc) in the in-process
// Agent → fragment spool → PutMedia → a real Rivulet server, read back with the Kinesis Video SDK
// (ListFragments, GetMediaForFragmentList). The link is cut (no server) while the camera runs, and
// the server is killed with SIGKILL mid-session and restarted: every fragment the camera made
// arrives exactly once, byte for byte.

import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetMediaForFragmentListCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { formatStatus } from '../../cli/agent-command.js';
import { startServer } from '../../ingest-server/server.js';
import { REPO_ROOT, within } from '../helpers/server-process.js';
import { videoClients } from '../helpers/video.js';
import { createVideoStream, mkvEvents } from '../video-streams/media.js';
import { openPtyPair } from '../../hardware/serial/pty.js';
import { NmeaSimulator } from '../../hardware/nmea/simulator.js';
import { tempDir } from './helpers.js';
import { countByTimecode, freePort, listAll, startAgent, waitFor } from './video-helpers.js';

test.serial('link down while the camera runs: the spool keeps the fragments, they arrive afterwards byte for byte, exactly once, with the device tags', async (t) => {
  const dir = await tempDir(t);
  const port = await freePort();
  const { agent, camera, spooled } = await startAgent(t, { port, dataDir: join(dir, 'agent'), stream: 'yard-cam' });

  // No server yet: fragments pile up in the spool.
  await waitFor('4 fragments spooled', async () => (await camera()).backlogFragments >= 4, 20_000);
  const spoolDir = join(dir, 'agent', 'video', 'yard');
  const held = new Map<number, Uint8Array>();
  for (const name of (await readdir(spoolDir)).filter((each) => each.endsWith('.mkv'))) {
    const events = mkvEvents(await readFile(join(spoolDir, name)));
    t.deepEqual(events.map((event) => event.type), ['header', 'cluster', 'tags'], name);
    const cluster = events[1]!.type === 'cluster' ? events[1]!.cluster : undefined;
    t.is(`${cluster!.timecode}.mkv`, name);
    t.true(cluster!.blocks[0]!.keyframe);
    held.set(cluster!.timecode, cluster!.bytes);
  }
  t.true(held.size >= 4);
  t.like(await camera(), { persisted: 0, capture: 'running', encoder: 'x264enc', source: 'test' });
  // `rivulet agent status` shows the camera's backlog.
  t.regex(formatStatus(await agent.status(), Date.now()), /\nyard +test +running \(x264enc\) +yard-cam +\d+ +0 +\d+ /);

  // The link comes back.
  const server = await startServer({ dataDir: join(dir, 'server'), port });
  t.teardown(() => server.close());
  const { video, archived } = videoClients(server.url, 'http1.1', t);
  await createVideoStream(video, 'yard-cam');
  await waitFor('the held fragments persisted', async () => {
    const names = await readdir(spoolDir);
    return [...held.keys()].every((timecode) => !names.includes(`${timecode}.mkv`)) && (await camera()).persisted >= held.size + 2;
  }, 30_000);
  await agent.stop();

  const fragments = await listAll(archived, 'yard-cam');
  const counts = countByTimecode(fragments);
  t.deepEqual([...counts].filter(([, count]) => count > 1), [], 'no fragment twice');
  const expected = spooled();
  const left = (await readdir(spoolDir)).filter((each) => each.endsWith('.mkv')).map((name) => Number(name.slice(0, -4)));
  // Every fragment the camera made is in the stream, or still spooled for the next start.
  t.deepEqual([...expected].filter((timecode) => !counts.has(timecode) && !left.includes(timecode)), [], 'no fragment lost');
  t.deepEqual([...counts.keys()].filter((timecode) => !expected.includes(timecode)), [], 'nothing the camera did not make');

  // What the server returns is what was spooled, byte for byte.
  const numbers = fragments.filter((fragment) => held.has(fragment.ProducerTimestamp!.getTime())).map((fragment) => fragment.FragmentNumber!);
  t.is(numbers.length, held.size);
  const media = await archived.send(new GetMediaForFragmentListCommand({ StreamName: 'yard-cam', Fragments: numbers }));
  const events = mkvEvents(await media.Payload!.transformToByteArray());
  const returned = events.flatMap((event) => (event.type === 'cluster' ? [event.cluster] : []));
  t.is(returned.length, held.size);
  for (const cluster of returned) t.deepEqual(cluster.bytes, held.get(cluster.timecode), `fragment ${cluster.timecode}`);
  // The producer's tags follow every cluster (before the next fragment's header): the device id and the camera's configured tags.
  const tagsAfter = new Map<number, Record<string, string | Uint8Array>>();
  let after: number | undefined;
  for (const event of events) {
    if (event.type === 'header') after = undefined;
    else if (event.type === 'cluster') after = event.cluster.timecode;
    else if (event.type === 'tags' && after !== undefined) tagsAfter.set(after, { ...tagsAfter.get(after), ...Object.fromEntries(event.tags.map((tag) => [tag.name, tag.value])) });
  }
  for (const cluster of returned) t.like(tagsAfter.get(cluster.timecode), { site: 'north', RIVULET_DEVICE_ID: 'cam-rig' }, `tags after fragment ${cluster.timecode}`);
});

/** The server (startServer, from the sources through tsx) in a process of its own, on a fixed port and data dir, so it can be killed. */
async function serverProcess(t: ExecutionContext, port: number, dataDir: string): Promise<ChildProcess> {
  const script = `const { startServer } = await import(${JSON.stringify(join(REPO_ROOT, 'ingest-server', 'server.ts'))});
    const server = await startServer({ dataDir: ${JSON.stringify(dataDir)}, port: ${port} });
    console.log('Rivulet listening on ' + server.url);`;
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.resume();
  await within(waitFor('the server to listen', () => /Rivulet listening on/.test(out) || child.exitCode !== null, 30_000), 31_000, 'server start');
  if (child.exitCode !== null) throw new Error(`the server exited: ${out}`);
  return child;
}

test.serial('server killed with SIGKILL during PutMedia and restarted (oldest-first): everything not PERSISTED is sent again, nothing lost or doubled', async (t) => {
  const dir = await tempDir(t);
  const port = await freePort();
  const serverDir = join(dir, 'server');
  let server = await serverProcess(t, port, serverDir);
  const { video, archived } = videoClients(`http://127.0.0.1:${port}`, 'http1.1', t);
  await createVideoStream(video, 'gate-cam');
  // One session in capture order (the other strategy, live-first, is the default the test above runs).
  const { agent, camera, spooled, lines } = await startAgent(t, { port, dataDir: join(dir, 'agent'), stream: 'gate-cam', order: 'oldest-first' });

  await waitFor('3 fragments persisted', async () => (await camera()).persisted >= 3, 30_000);
  server.kill('SIGKILL');
  await new Promise((resolve) => server.once('exit', resolve));
  const persistedBefore = (await camera()).persisted;
  // Down for a few fragments.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  t.true((await camera()).backlogFragments >= 2, 'fragments held while the server is down');
  server = await serverProcess(t, port, serverDir);
  await waitFor('the backlog to drain', async () => {
    const status = await camera();
    return status.backlogFragments <= 1 && status.persisted >= persistedBefore + 4;
  }, 40_000);
  await agent.stop();

  const counts = countByTimecode(await listAll(archived, 'gate-cam'));
  t.deepEqual([...counts].filter(([, count]) => count > 1), [], 'no fragment twice');
  const left = (await readdir(join(dir, 'agent', 'video', 'yard'))).filter((each) => each.endsWith('.mkv')).map((name) => Number(name.slice(0, -4)));
  t.deepEqual(spooled().filter((timecode) => !counts.has(timecode) && !left.includes(timecode)), [], 'no fragment lost');
  t.true(counts.size >= 8, `${counts.size} fragments in the stream`);
  t.true(lines.some((line) => line['msg'] === 'PutMedia session failed; reopening'), 'the broken session was noticed and reopened');
  server.kill('SIGTERM');
});

test.serial('attachGps: the latest fix from the gps source travels in the tags after each fragment', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer({ dataDir: join(dir, 'server'), port: 0 });
  t.teardown(() => server.close());
  const { video, archived } = videoClients(server.url, 'http1.1', t);
  await createVideoStream(video, 'moving-cam');
  const pty = await openPtyPair({ devicePath: join(dir, 'gps'), simulatorPath: join(dir, 'gps.sim') });
  t.teardown(() => pty.close());
  const gps = new NmeaSimulator({ path: pty.simulatorPath, rateHz: 5 });
  await gps.start();
  t.teardown(() => gps.stop());
  const { agent, camera } = await startAgent(t, { port: Number(new URL(server.url).port), dataDir: join(dir, 'agent'), stream: 'moving-cam', gpsPort: pty.devicePath });
  await waitFor('4 fragments persisted', async () => (await camera()).persisted >= 4, 30_000);
  await agent.stop();
  const numbers = (await listAll(archived, 'moving-cam')).map((fragment) => fragment.FragmentNumber!);
  const media = await archived.send(new GetMediaForFragmentListCommand({ StreamName: 'moving-cam', Fragments: numbers }));
  const tags = mkvEvents(await media.Payload!.transformToByteArray()).flatMap((event) => (event.type === 'tags' ? event.tags : []));
  const latitudes = tags.filter((tag) => tag.name === 'GPS_LATITUDE').map((tag) => Number(tag.value));
  // The first fragment may close before the first fix; the later ones carry one.
  t.true(latitudes.length >= numbers.length - 1 && latitudes.length >= 3, `${latitudes.length} fixes in ${numbers.length} fragments`);
  t.true(latitudes.every((lat) => lat >= -90 && lat <= 90 && lat !== 0));
  t.true(tags.some((tag) => tag.name === 'GPS_FIX_AT' && typeof tag.value === 'string' && /^\d{4}-\d\d-\d\dT/.test(tag.value)));
});
