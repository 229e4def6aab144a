// MQTT routes as pure functions: wildcard matching by the MQTT rules, partition keys from topic
// levels, first match wins, and config validation whose messages name the file and the field.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttConfigError, MqttRouteError, loadMqttConfig, partitionKeyFor, producerFor, routeMessage, topicMatches, validateMqttConfig } from '../../ingest-server/mqtt/routes.js';

const MATCHES: [filter: string, topic: string, matches: boolean][] = [
  ['meters/+/reading', 'meters/m1/reading', true],
  ['meters/+/reading', 'meters//reading', true],
  ['meters/+/reading', 'meters/m1/reading/extra', false],
  ['meters/+/reading', 'meters/m1', false],
  ['meters/+/reading', 'Meters/m1/reading', false],
  ['meters/#', 'meters', true],
  ['meters/#', 'meters/m1', true],
  ['meters/#', 'meters/m1/a/b/c', true],
  ['meters/#', 'metersx/m1', false],
  ['#', 'anything/at/all', true],
  ['#', '/leading', true],
  ['+', 'one', true],
  ['+', 'one/two', false],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+', '/finance', false],
  ['a/b', 'a/b', true],
  ['a/b', 'a/b/', false],
  ['a/+/+/d', 'a/b/c/d', true],
  ['+/#', 'a', true],
  // [MQTT-4.7.2-1]: a leading wildcard does not match topics starting with $.
  ['#', '$SYS/broker/load', false],
  ['+/broker/load', '$SYS/broker/load', false],
  ['$SYS/#', '$SYS/broker/load', true],
];

for (const [filter, topic, matches] of MATCHES) {
  test(`topicMatches(${JSON.stringify(filter)}, ${JSON.stringify(topic)}) is ${matches}`, (t) => {
    t.is(topicMatches(filter, topic), matches);
  });
}

test('partition key templates take 1-based topic levels; "topic" is the whole topic; anything else is literal', (t) => {
  t.is(partitionKeyFor('{2}', 'meters/m-17/reading'), 'm-17');
  t.is(partitionKeyFor('{1}', 'meters/m-17/reading'), 'meters');
  t.is(partitionKeyFor('{3}-{2}', 'meters/m-17/reading'), 'reading-m-17');
  t.is(partitionKeyFor('site-{1}/meter-{2}', 'a/b'), 'site-a/meter-b');
  t.is(partitionKeyFor('topic', 'meters/m-17/reading'), 'meters/m-17/reading');
  t.is(partitionKeyFor('all-meters', 'meters/m-17/reading'), 'all-meters');
  t.is(partitionKeyFor('{x}', 'a/b'), '{x}', 'only {digits} is a placeholder');
  t.is(partitionKeyFor('{2}', 'a/ü/c'), 'ü');
});

test('a partition key a topic cannot fill, or one PutRecord would refuse, is an MqttRouteError', (t) => {
  t.throws(() => partitionKeyFor('{3}', 'meters/m1'), { instanceOf: MqttRouteError, message: /has no level 3/ });
  t.throws(() => partitionKeyFor('{2}', 'meters//reading'), { instanceOf: MqttRouteError, message: /gives 0 characters/ });
  t.throws(() => partitionKeyFor('topic', 'x/'.repeat(200)), { instanceOf: MqttRouteError, message: /gives 400 characters/ });
  // 256 code points is fine even when it is more UTF-16 units or bytes.
  t.is(partitionKeyFor('topic', '😀'.repeat(256)), '😀'.repeat(256));
});

test('the first matching route wins', (t) => {
  const { routes } = validateMqttConfig(
    {
      routes: [
        { topic: 'meters/special/reading', stream: 'special', partitionKey: 'vip' },
        { topic: 'meters/+/reading', stream: 'meters', partitionKey: '{2}' },
        { topic: 'meters/#', stream: 'everything' },
      ],
    },
    'inline',
  );
  t.like(routeMessage(routes, 'meters/special/reading'), { index: 0, route: { stream: 'special' }, partitionKey: 'vip' });
  t.like(routeMessage(routes, 'meters/m9/reading'), { index: 1, route: { stream: 'meters' }, partitionKey: 'm9' });
  t.like(routeMessage(routes, 'meters/m9/status'), { index: 2, route: { stream: 'everything' }, partitionKey: 'meters/m9/status' });
  t.is(routeMessage(routes, 'chat/room'), undefined);
});

test('partitionKey defaults to the whole topic', (t) => {
  t.deepEqual(validateMqttConfig({ routes: [{ topic: 'a/#', stream: 's' }] }, 'inline').routes, [{ topic: 'a/#', stream: 's', partitionKey: 'topic' }]);
});

test('a route with producer templates gives each message a producer id and sequence (the agent\'s scheme)', (t) => {
  const agentRoute = { topic: 'rivulet/+/meters/+/+/+', stream: 'meters', partitionKey: '{4}', producer: { id: '{2}/{5}', sequence: '{6}' } };
  const { routes } = validateMqttConfig({ routes: [agentRoute, { topic: 'meters/+/reading', stream: 'meters', partitionKey: '{2}' }] }, 'inline');
  t.deepEqual(routes[0], agentRoute);
  t.deepEqual(routeMessage(routes, 'rivulet/rig-1/meters/m-7/0f3a/42'), { route: agentRoute, index: 0, partitionKey: 'm-7', producer: { id: 'rig-1/0f3a', sequence: 42 } });
  t.false('producer' in routeMessage(routes, 'meters/m-7/reading')!, 'routes without producer store without dedup');
});

test('a producer id or sequence a topic cannot fill, or one PutRecords would refuse, is an MqttRouteError', (t) => {
  const templates = { id: '{2}/{5}', sequence: '{6}' };
  t.deepEqual(producerFor(templates, 'r/d/s/k/e/9007199254740991'), { id: 'd/e', sequence: 9007199254740991 });
  for (const sequence of ['0', '007', '-1', '1.5', 'x', '', '9007199254740993', '12345678901234567']) {
    t.throws(() => producerFor(templates, `r/d/s/k/e/${sequence}`), { instanceOf: MqttRouteError, message: /a producer sequence is a positive integer/ }, sequence);
  }
  t.throws(() => producerFor(templates, 'r/d/s/k/e'), { instanceOf: MqttRouteError, message: /producer sequence "\{6\}": topic "r\/d\/s\/k\/e" has no level 6/ });
  t.throws(() => producerFor({ id: '{2}', sequence: '{3}' }, `r/${'x'.repeat(257)}/1`), { instanceOf: MqttRouteError, message: /a producer id has 1 to 256/ });
});

const INVALID: [config: unknown, message: RegExp][] = [
  [[], /^mqtt config \/x\.json: must contain a JSON object with a "routes" array$/],
  [{}, /: routes must be an array$/],
  [{ routes: [] }, /: routes must contain at least one route$/],
  [{ routes: [], extra: 1 }, /: unknown field "extra"/],
  [{ routes: ['meters/#'] }, /: routes\[0\] must be an object$/],
  [{ routes: [{ topic: 'a', stream: 's', partitionkey: 'x' }] }, /: routes\[0\] has unknown field "partitionkey"/],
  [{ routes: [{ stream: 's' }] }, /: routes\[0\]\.topic must be an MQTT topic filter/],
  [{ routes: [{ topic: '', stream: 's' }] }, /: routes\[0\]\.topic must not be empty/],
  [{ routes: [{ topic: 'a/#/b', stream: 's' }] }, /: routes\[0\]\.topic may use '#' only as the whole last level, got "a\/#\/b"/],
  [{ routes: [{ topic: 'a/b#', stream: 's' }] }, /: routes\[0\]\.topic may use '#' only/],
  [{ routes: [{ topic: 'a/b+/c', stream: 's' }] }, /: routes\[0\]\.topic may use '\+' only as a whole level/],
  [{ routes: [{ topic: 'a', stream: 's' }, { topic: 'b', stream: 'no spaces' }] }, /^mqtt config \/x\.json: routes\[1\]\.stream must be a stream name/],
  [{ routes: [{ topic: 'a', stream: 'x'.repeat(129) }] }, /: routes\[0\]\.stream must be a stream name/],
  [{ routes: [{ topic: 'a', stream: 7 }] }, /: routes\[0\]\.stream must be a stream name .*, got 7$/],
  [{ routes: [{ topic: 'a', stream: 's', partitionKey: '' }] }, /: routes\[0\]\.partitionKey must be "topic", a template/],
  [{ routes: [{ topic: 'a', stream: 's', partitionKey: 3 }] }, /: routes\[0\]\.partitionKey must be/],
  [{ routes: [{ topic: 'a/+', stream: 's', partitionKey: '{0}' }] }, /: routes\[0\]\.partitionKey uses \{0\}, but topic levels count from \{1\}/],
  [{ routes: [{ topic: 'a/+', stream: 's', partitionKey: '{3}' }] }, /: routes\[0\]\.partitionKey uses \{3\}, but topic filter "a\/\+" has only 2 levels/],
  [{ routes: [{ topic: 'a', stream: 's', partitionKey: 'k'.repeat(257) }] }, /: routes\[0\]\.partitionKey is longer than the 256 characters/],
  [{ routes: [{ topic: 'a/+', stream: 's', producer: '{2}' }] }, /: routes\[0\]\.producer must be an object such as/],
  [{ routes: [{ topic: 'a/+', stream: 's', producer: { id: 'p', sequence: '{2}', epoch: 1 } }] }, /: routes\[0\]\.producer has unknown field "epoch"/],
  [{ routes: [{ topic: 'a/+', stream: 's', producer: { sequence: '{2}' } }] }, /: routes\[0\]\.producer\.id must be a template/],
  [{ routes: [{ topic: 'a/+', stream: 's', producer: { id: 'p', sequence: '7' } }] }, /: routes\[0\]\.producer\.sequence must be a template naming the topic level/],
  [{ routes: [{ topic: 'a/+', stream: 's', producer: { id: 'p', sequence: '{3}' } }] }, /: routes\[0\]\.producer\.sequence uses \{3\}, but topic filter "a\/\+" has only 2 levels/],
  [{ routes: [{ topic: 'a/+', stream: 's', producer: { id: '{0}', sequence: '{2}' } }] }, /: routes\[0\]\.producer\.id uses \{0\}/],
];

for (const [config, message] of INVALID) {
  test(`invalid config ${JSON.stringify(config).slice(0, 80)} names the field`, (t) => {
    t.throws(() => validateMqttConfig(config, '/x.json'), { instanceOf: MqttConfigError, message });
  });
}

test("a template may name levels a final '#' supplies", (t) => {
  t.notThrows(() => validateMqttConfig({ routes: [{ topic: 'site/#', stream: 's', partitionKey: '{4}' }] }, 'inline'));
});

test('loadMqttConfig reads a file and names it in every error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-mqtt-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.json');
  await writeFile(good, JSON.stringify({ routes: [{ topic: 'meters/+/reading', stream: 'meters', partitionKey: '{2}' }] }));
  t.deepEqual(await loadMqttConfig(good), { routes: [{ topic: 'meters/+/reading', stream: 'meters', partitionKey: '{2}' }] });

  const broken = join(dir, 'broken.json');
  await writeFile(broken, '{"routes": [');
  await t.throwsAsync(loadMqttConfig(broken), { instanceOf: MqttConfigError, message: new RegExp(`^mqtt config ${broken}: is not valid JSON`) });
  const wrong = join(dir, 'wrong.json');
  await writeFile(wrong, JSON.stringify({ routes: [{ topic: 'a', stream: 'ok' }, { topic: 'b', stream: 'not ok' }] }));
  await t.throwsAsync(loadMqttConfig(wrong), { instanceOf: MqttConfigError, message: new RegExp(`^mqtt config ${wrong}: routes\\[1\\]\\.stream must be a stream name`) });
  await t.throwsAsync(loadMqttConfig(join(dir, 'missing.json')), { instanceOf: MqttConfigError, message: /missing\.json: cannot be read: ENOENT/ });
});
