// A camera's link cut for a minute in the middle of uploading: nothing is closed, the bytes just stop
// (a proxy stalls every connection and holds new ones, as a dead radio link does). The agent must
// notice by itself (no ack, no answer), the spool holds every fragment made meanwhile, and once the
// link is back they all arrive (live first, then the backlog on its own session), each exactly
// once, including those the server stored just before the cut whose acks never came back.

import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from '../../ingest-server/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { videoClients } from '../helpers/video.js';
import { createVideoStream } from '../video-streams/media.js';
import { tempDir } from './helpers.js';
import { countByTimecode, freePort, listAll, startAgent, waitFor } from './video-helpers.js';

const OUTAGE_MS = 60_000;

test('link cut for a minute mid-upload: the spool holds it, everything arrives afterwards exactly once', async (t) => {
  t.timeout(OUTAGE_MS + 90_000);
  const dir = await tempDir(t);
  const port = await freePort();
  const serverDir = join(dir, 'server');
  const server = await startServer({ dataDir: serverDir, port });
  t.teardown(() => server.close());
  const { video, archived } = videoClients(`http://127.0.0.1:${port}`, 'http1.1', t);
  await createVideoStream(video, 'dock-cam');
  const link = await startTcpProxy(t, { port });
  const { agent, camera, spooled, lines } = await startAgent(t, { port: Number(new URL(link.url).port), dataDir: join(dir, 'agent'), stream: 'dock-cam' });

  await waitFor('3 fragments persisted', async () => (await camera()).persisted >= 3, 30_000);
  link.cut();
  const cutAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  // One-second fragments: about sixty made while nobody could take them, all still on disk.
  const held = (await camera()).backlogFragments;
  t.true(held >= 50, `${held} fragments spooled during the outage`);

  t.true(
    lines.some((line) => String(line['reason']).startsWith('no acknowledgement for')),
    'the silent link is noticed by the ack timeout',
  );

  link.restore();
  await waitFor('the backlog to drain', async () => (await camera()).backlogFragments <= 1, 60_000);
  await agent.stop();

  const counts = countByTimecode(await listAll(archived, 'dock-cam'));
  t.deepEqual([...counts].filter(([, count]) => count > 1), [], 'no fragment twice');
  const left = (await readdir(join(dir, 'agent', 'video', 'yard'))).filter((name) => name.endsWith('.mkv')).map((name) => Number(name.slice(0, -4)));
  t.deepEqual(spooled().filter((timecode) => !counts.has(timecode) && !left.includes(timecode)), [], 'no fragment lost');
  const duringOutage = [...counts.keys()].filter((timecode) => timecode > cutAt && timecode < cutAt + OUTAGE_MS);
  t.true(duringOutage.length >= 50, `${duringOutage.length} fragments from the outage in the stream`);
});
