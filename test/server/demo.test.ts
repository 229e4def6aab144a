// `npm start` runs `rivulet demo`: the server plus a simulated device feeding it. A newcomer
// must see readings arrive, readable with an unmodified client, within seconds.
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import test from 'ava';
import { kinesisClient } from '../helpers/kinesis.js';
import { sleep, spawnCli, tempDir, within } from '../helpers/server-process.js';

test('rivulet demo serves the API and feeds readings into demo-meter', async (t) => {
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const demo = spawnCli(['demo', '--port', '0', '--data-dir', path]);
  t.teardown(() => void demo.child.kill('SIGKILL'));
  const url = await within(
    (async () => {
      for (;;) {
        const match = /Rivulet listening on (\S+)/.exec(demo.stdout());
        if (match) return match[1]!;
        await sleep(50);
      }
    })(),
    15_000,
    'the demo did not print its URL',
  );
  t.regex(demo.stdout(), /demo-meter/);

  const kinesis = kinesisClient(url, 'h2');
  t.teardown(() => kinesis.destroy());
  const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'demo-meter', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  const readings: { deviceId: string; values: { powerW: number; energyKwh: number } }[] = [];
  let iterator = ShardIterator;
  await within(
    (async () => {
      while (readings.length < 2) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator! }));
        readings.push(...(page.Records ?? []).map((record) => JSON.parse(Buffer.from(record.Data!).toString('utf8'))));
        iterator = page.NextShardIterator;
        await sleep(200);
      }
    })(),
    10_000,
    'no readings arrived',
  );
  t.is(readings[0]!.deviceId, 'demo-meter-1');
  t.true(readings[1]!.values.energyKwh >= readings[0]!.values.energyKwh, 'the meter only counts up');

  demo.child.kill('SIGTERM');
  t.is((await within(demo.exited, 5_000, 'the demo did not stop on SIGTERM')).code, 0);
});
