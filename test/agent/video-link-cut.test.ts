// A camera's link cut for a minute in the middle of uploading: the spool holds every fragment
// made while the server is unreachable, and once it is back they all arrive (live first, then the
// backlog on its own session), each exactly once.

import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from '../../ingest-server/server.js';
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
  let server = await startServer({ dataDir: serverDir, port });
  const { video, archived } = videoClients(`http://127.0.0.1:${port}`, 'http1.1', t);
  await createVideoStream(video, 'dock-cam');
  const { agent, camera, spooled } = await startAgent(t, { port, dataDir: join(dir, 'agent'), stream: 'dock-cam' });
  t.teardown(() => server.close());

  await waitFor('3 fragments persisted', async () => (await camera()).persisted >= 3, 30_000);
  await server.close();
  const cutAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  // One-second fragments: about sixty made while nobody could take them, all still on disk.
  const held = (await camera()).backlogFragments;
  t.true(held >= 50, `${held} fragments spooled during the outage`);

  server = await startServer({ dataDir: serverDir, port });
  await waitFor('the backlog to drain', async () => (await camera()).backlogFragments <= 1, 60_000);
  await agent.stop();

  const counts = countByTimecode(await listAll(archived, 'dock-cam'));
  t.deepEqual([...counts].filter(([, count]) => count > 1), [], 'no fragment twice');
  const left = (await readdir(join(dir, 'agent', 'video', 'yard'))).filter((name) => name.endsWith('.mkv')).map((name) => Number(name.slice(0, -4)));
  t.deepEqual(spooled().filter((timecode) => !counts.has(timecode) && !left.includes(timecode)), [], 'no fragment lost');
  const duringOutage = [...counts.keys()].filter((timecode) => timecode > cutAt && timecode < cutAt + OUTAGE_MS);
  t.true(duringOutage.length >= 50, `${duringOutage.length} fragments from the outage in the stream`);
});
