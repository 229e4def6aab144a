// Line sensors: the framer fed a noisy stream (CR LF and LF endings, an over-long line, bytes that
// are not UTF-8, a multi-byte character) split at every byte boundary and at random, and the
// JSON, CSV and key=value parsers with exact expected values for good and bad lines.

import test from 'ava';
import {
  LineFramer,
  checkLineFormat,
  parseCsvLine,
  parseJsonLine,
  parseKeyValueLine,
  parseLine,
  type LineFormat,
  type LineFramerOptions,
  type LineFramerStats,
  type LineParseResult,
} from '../../hardware/line/index.js';
import { chunksAt, prng } from '../helpers/chunks.js';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

function feed(data: Uint8Array, cuts: number[], options?: LineFramerOptions): { lines: string[]; stats: LineFramerStats } {
  const framer = new LineFramer(options);
  const lines: string[] = [];
  for (const chunk of chunksAt(data, cuts)) lines.push(...framer.push(chunk));
  return { lines, stats: { ...framer.stats } };
}

// ---- framer -------------------------------------------------------------------------------------

const MAX = 64;
const LONG = 'x'.repeat(MAX + 30);
const EXACT = 'e'.repeat(MAX);
const STREAM = Buffer.concat([
  bytes('{"t":21.5,"rh":40}\r\n'),
  bytes('\r\n\n'), // empty lines are skipped
  bytes('temp=21.5 unit="°C"\n'), // a two-byte UTF-8 character
  bytes(LONG + '\r\n'),
  bytes(EXACT + '\r\n'), // exactly the limit, with CR LF
  bytes(EXACT + '\n'),
  Buffer.from([0x41, 0xc3, 0x28, 0x42, 0x0a]), // not UTF-8: a wrong baud rate
  bytes('21.5,40,ok\n'),
  bytes('partial line still arriving'),
]);
const EXPECTED_LINES = ['{"t":21.5,"rh":40}', 'temp=21.5 unit="°C"', EXACT, EXACT, '21.5,40,ok'];
const EXPECTED_STATS: LineFramerStats = { lines: 5, droppedBytes: LONG.length + 1 + 4, overlongLines: 1, invalidEncoding: 1 };

test('the framer cuts a stream into lines, dropping and counting over-long and non-UTF-8 ones', (t) => {
  // The over-long line's CR is dropped with it; the LF ends it and is not counted.
  t.deepEqual(feed(STREAM, [], { maxLineLength: MAX }), { lines: EXPECTED_LINES, stats: EXPECTED_STATS });
});

test('the framer gives the same result for the stream split at every byte boundary', (t) => {
  const expected = JSON.stringify({ lines: EXPECTED_LINES, stats: EXPECTED_STATS });
  let failures = 0;
  for (let cut = 0; cut <= STREAM.length; cut++) {
    if (JSON.stringify(feed(STREAM, [cut], { maxLineLength: MAX })) !== expected) failures++;
  }
  t.is(failures, 0);
  t.deepEqual(
    feed(STREAM, Array.from({ length: STREAM.length }, (_, i) => i), { maxLineLength: MAX }),
    { lines: EXPECTED_LINES, stats: EXPECTED_STATS },
    'a byte at a time',
  );
});

test('the framer gives the same result for random splits into many chunks', (t) => {
  const random = prng(9);
  for (let n = 0; n < 300; n++) {
    const cuts = Array.from({ length: 1 + Math.floor(random() * 15) }, () => Math.floor(random() * STREAM.length)).sort((a, b) => a - b);
    t.deepEqual(feed(STREAM, cuts, { maxLineLength: MAX }), { lines: EXPECTED_LINES, stats: EXPECTED_STATS }, `cuts ${cuts.join(',')}`);
  }
});

test('the framer hands out a final unterminated line only on end()', (t) => {
  const framer = new LineFramer();
  t.deepEqual(framer.push(bytes('a=1\nb=2')), ['a=1']);
  t.deepEqual(framer.end(), ['b=2']);
  t.deepEqual(framer.end(), []);
  t.deepEqual(framer.push(bytes('c=3\r\n')), ['c=3'], 'usable again after end()');
  t.throws(() => new LineFramer({ maxLineLength: 0 }), { message: 'options.maxLineLength must be a positive integer.' });
});

test('the framer never throws on random bytes and resynchronises at the next LF', (t) => {
  const random = prng(4);
  const framer = new LineFramer({ maxLineLength: 100 });
  const out: string[] = [];
  for (let n = 0; n < 300; n++) {
    const noise = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
    t.notThrows(() => out.push(...framer.push(noise)));
    out.push(...framer.push(bytes('\nmark=1\n')));
  }
  t.is(out.filter((line) => line === 'mark=1').length, 300);
});

// ---- JSON ---------------------------------------------------------------------------------------

test('JSON lines: objects of numbers, strings, booleans and null', (t) => {
  t.deepEqual(parseJsonLine('{"temperature":21.5,"humidity":40,"unit":"°C","ok":true,"fault":null}'), {
    ok: true,
    values: { temperature: 21.5, humidity: 40, unit: '°C', ok: true, fault: null },
  });
  t.deepEqual(parseJsonLine('{}'), { ok: true, values: {} });
  const proto = parseJsonLine('{"__proto__":1,"a":2}');
  t.true(proto.ok && Object.getPrototypeOf(proto.values) === Object.prototype && Object.keys(proto.values).join() === '__proto__,a',
    'a __proto__ key stays a plain field');
});

test('JSON lines that are not a flat object are typed errors', (t) => {
  t.deepEqual(parseJsonLine('[1,2]'), { ok: false, reason: 'notObject', detail: 'JSON array is not an object', line: '[1,2]' });
  t.like(parseJsonLine('42'), { ok: false, reason: 'notObject', detail: 'JSON number is not an object' });
  t.like(parseJsonLine('"hi"'), { ok: false, reason: 'notObject', detail: 'JSON string is not an object' });
  t.like(parseJsonLine('null'), { ok: false, reason: 'notObject', detail: 'JSON null is not an object' });
  t.like(parseJsonLine('{"a":{"b":1}}'), {
    ok: false, reason: 'invalidValue', detail: "field 'a' is an object; values must be numbers, strings, booleans or null",
  });
  t.like(parseJsonLine('{"a":[1]}'), { ok: false, reason: 'invalidValue', detail: "field 'a' is an array; values must be numbers, strings, booleans or null" });
  t.like(parseJsonLine('{"a":1'), { ok: false, reason: 'malformed' });
  t.like(parseJsonLine(''), { ok: false, reason: 'malformed' });
});

// ---- CSV ----------------------------------------------------------------------------------------

const COLUMNS = ['time', 'temperature', 'humidity', 'status'];

test('CSV lines: numbers become numbers, empty fields null, quoted fields stay text', (t) => {
  t.deepEqual(parseCsvLine('1700000000,21.5,-3e2,ok', COLUMNS), {
    ok: true, values: { time: 1700000000, temperature: 21.5, humidity: -300, status: 'ok' },
  });
  t.deepEqual(parseCsvLine(' 12 , ,.5,"a, ""b"""', COLUMNS), {
    ok: true, values: { time: 12, temperature: null, humidity: 0.5, status: 'a, "b"' },
  });
  t.deepEqual(parseCsvLine('"007",0x1F,NaN,""', COLUMNS), {
    ok: true, values: { time: '007', temperature: '0x1F', humidity: 'NaN', status: '' },
  });
  t.deepEqual(parseCsvLine(',,,', COLUMNS), { ok: true, values: { time: null, temperature: null, humidity: null, status: null } });
  t.deepEqual(parseCsvLine('1;2,5;3;x', COLUMNS, ';'), { ok: true, values: { time: 1, temperature: '2,5', humidity: 3, status: 'x' } });
});

test('CSV lines with the wrong column count, a repeated header or broken quotes are typed errors', (t) => {
  t.deepEqual(parseCsvLine('1,2,3', COLUMNS), {
    ok: false, reason: 'columnCount', detail: 'expected 4 columns (time, temperature, humidity, status), got 3', line: '1,2,3',
  });
  t.like(parseCsvLine('1,2,3,4,5', COLUMNS), { ok: false, reason: 'columnCount', detail: 'expected 4 columns (time, temperature, humidity, status), got 5' });
  t.like(parseCsvLine('time,temperature,humidity,status', COLUMNS), { ok: false, reason: 'header' });
  t.like(parseCsvLine('1,2,3,"open', COLUMNS), { ok: false, reason: 'malformed', detail: 'field 4: quote is not closed' });
  t.like(parseCsvLine('1,2,"3"x,4', COLUMNS), { ok: false, reason: 'malformed', detail: 'field 3: text after the closing quote' });
  t.like(parseCsvLine('1,2,3 "x",4', COLUMNS), { ok: false, reason: 'malformed', detail: 'field 3: quote inside an unquoted field' });
});

// ---- key=value ----------------------------------------------------------------------------------

test('key=value lines: separated by spaces or commas, numbers as numbers', (t) => {
  t.deepEqual(parseKeyValueLine('temp=21.5 hum=40,status=ok ,  pressure=1013.25'), {
    ok: true, values: { temp: 21.5, hum: 40, status: 'ok', pressure: 1013.25 },
  });
  t.deepEqual(parseKeyValueLine('name="garden shed, north" note="say \\"hi\\"" empty= v=-1e-3'), {
    ok: true, values: { name: 'garden shed, north', note: 'say "hi"', empty: null, v: -0.001 },
  });
});

test('key=value lines that cannot be read are typed errors', (t) => {
  t.deepEqual(parseKeyValueLine('temp=21.5 oops'), { ok: false, reason: 'malformed', detail: "key 'oops' has no '=value'", line: 'temp=21.5 oops' });
  t.like(parseKeyValueLine('=5'), { ok: false, reason: 'malformed', detail: 'position 1: expected a key' });
  t.like(parseKeyValueLine('a=1 a=2'), { ok: false, reason: 'invalidValue', detail: "key 'a' appears more than once" });
  t.like(parseKeyValueLine('a="open'), { ok: false, reason: 'malformed', detail: "key 'a': quote is not closed" });
  t.like(parseKeyValueLine('a=b=c'), { ok: false, reason: 'malformed', detail: "key 'a': value 'b=c' needs quotes" });
  t.like(parseKeyValueLine(' , '), { ok: false, reason: 'malformed', detail: 'line has no key=value pairs' });
});

// ---- configuration ------------------------------------------------------------------------------

test('parseLine follows the configured format', (t) => {
  const csv = checkLineFormat({ kind: 'csv', columns: ['a', 'b'] });
  t.deepEqual(parseLine('1,x', csv), { ok: true, values: { a: 1, b: 'x' } });
  t.deepEqual(parseLine('{"a":1}', checkLineFormat({ kind: 'json' })), { ok: true, values: { a: 1 } });
  t.deepEqual(parseLine('a=1', checkLineFormat({ kind: 'keyValue' })), { ok: true, values: { a: 1 } });
  t.deepEqual(parseLine('1|2', checkLineFormat({ kind: 'csv', columns: ['a', 'b'], delimiter: '|' })), { ok: true, values: { a: 1, b: 2 } });
});

test('checkLineFormat rejects bad configuration, naming the field', (t) => {
  t.throws(() => checkLineFormat(null), { instanceOf: TypeError, message: 'format must be an object.' });
  t.throws(() => checkLineFormat({ kind: 'xml' }), { message: "format.kind must be 'json', 'csv' or 'keyValue'." });
  for (const columns of [undefined, [], ['a', 'a'], ['a', ''], ['a', 1]]) {
    t.throws(() => checkLineFormat({ kind: 'csv', columns }), { message: 'format.columns must be a non-empty array of distinct, non-empty strings.' });
  }
  for (const delimiter of ['', ';;', '"', '\n', 5]) {
    t.throws(() => checkLineFormat({ kind: 'csv', columns: ['a'], delimiter }), {
      message: 'format.delimiter, when provided, must be one character other than a quote or line break.',
    });
  }
});

test('a sensor stream through framer and parser, split at every byte boundary', (t) => {
  const format: LineFormat = { kind: 'csv', columns: ['t', 'rh', 'state'] };
  const data = bytes('t,rh,state\r\ngarbage\r\n21.5,40,ok\r\n' + '9'.repeat(200) + '\r\n21.6,,ok\r\n21.7,41\r\n');
  const expected: LineParseResult[] = [
    { ok: false, reason: 'header', detail: 'line repeats the column names', line: 't,rh,state' },
    { ok: false, reason: 'columnCount', detail: 'expected 3 columns (t, rh, state), got 1', line: 'garbage' },
    { ok: true, values: { t: 21.5, rh: 40, state: 'ok' } },
    { ok: true, values: { t: 21.6, rh: null, state: 'ok' } },
    { ok: false, reason: 'columnCount', detail: 'expected 3 columns (t, rh, state), got 2', line: '21.7,41' },
  ];
  for (let cut = 0; cut <= data.length; cut++) {
    const framer = new LineFramer({ maxLineLength: 128 });
    const results = [...framer.push(data.subarray(0, cut)), ...framer.push(data.subarray(cut))].map((line) => parseLine(line, format));
    t.deepEqual(results, expected, `split at ${cut}`);
    t.is(framer.stats.overlongLines, 1);
  }
});

test('no random line makes a parser throw', (t) => {
  const random = prng(21);
  const alphabet = '{}[]",:=; \t\\abc019.-eE"\'';
  for (let n = 0; n < 3000; n++) {
    const line = Array.from({ length: Math.floor(random() * 30) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    t.notThrows(() => {
      parseJsonLine(line);
      parseCsvLine(line, ['a', 'b']);
      parseCsvLine(line, ['a'], ';');
      parseKeyValueLine(line);
    });
  }
});
