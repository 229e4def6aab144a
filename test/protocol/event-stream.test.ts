// The encoder's output must be readable by the decoder the AWS SDK for JavaScript v3 actually uses
// for SubscribeToShard (@smithy/core/event-streams), so every check decodes with it.

import test from 'ava';
import { Readable } from 'node:stream';
import { EventStreamCodec, EventStreamMarshaller, type Message } from '@smithy/core/event-streams';
import { fromUtf8, toUtf8 } from '@smithy/core/serde';
import {
  encodeEventStreamMessage,
  eventMessage,
  exceptionMessage,
} from '../../ingest-server/protocol/event-stream.js';

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), 'utf8');

test('every header type round-trips through the SDK codec', (t) => {
  const when = new Date('2024-05-06T07:08:09.123Z');
  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  const payload = Buffer.from('hello payload');
  const decoded = codec.decode(
    encodeEventStreamMessage(
      {
        yes: true,
        no: false,
        int: 123456,
        negInt: -2147483648,
        maxInt: 2147483647,
        bin: bytes,
        emptyBin: Buffer.alloc(0),
        str: 'héllo ✓',
        emptyStr: '',
        ts: when,
        preEpoch: new Date(-1234567),
      },
      payload,
    ),
  );
  t.deepEqual(decoded.headers.yes, { type: 'boolean', value: true });
  t.deepEqual(decoded.headers.no, { type: 'boolean', value: false });
  t.deepEqual(decoded.headers.int, { type: 'integer', value: 123456 });
  t.deepEqual(decoded.headers.negInt, { type: 'integer', value: -2147483648 });
  t.deepEqual(decoded.headers.maxInt, { type: 'integer', value: 2147483647 });
  t.is(decoded.headers.bin!.type, 'binary');
  t.deepEqual(Buffer.from(decoded.headers.bin!.value as Uint8Array), bytes);
  t.is(decoded.headers.emptyBin!.type, 'binary');
  t.is((decoded.headers.emptyBin!.value as Uint8Array).length, 0);
  t.deepEqual(decoded.headers.str, { type: 'string', value: 'héllo ✓' });
  t.deepEqual(decoded.headers.emptyStr, { type: 'string', value: '' });
  t.is(decoded.headers.ts!.type, 'timestamp');
  t.is((decoded.headers.ts!.value as Date).getTime(), when.getTime());
  t.is((decoded.headers.preEpoch!.value as Date).getTime(), -1234567);
  t.deepEqual(Object.keys(decoded.headers), [
    'yes', 'no', 'int', 'negInt', 'maxInt', 'bin', 'emptyBin', 'str', 'emptyStr', 'ts', 'preEpoch',
  ]);
  t.deepEqual(Buffer.from(decoded.body), payload);
});

test('encoding matches the SDK codec byte for byte', (t) => {
  const payload = Buffer.from('{"a":1}');
  const ours = encodeEventStreamMessage(
    { ':message-type': 'event', n: 7, b: true, s: 'x', bin: Buffer.from([9]), ts: new Date(1700000000000) },
    payload,
  );
  const theirs = codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      n: { type: 'integer', value: 7 },
      b: { type: 'boolean', value: true },
      s: { type: 'string', value: 'x' },
      bin: { type: 'binary', value: Uint8Array.of(9) },
      ts: { type: 'timestamp', value: new Date(1700000000000) },
    },
    body: payload,
  });
  t.deepEqual(ours, Buffer.from(theirs));
});

test('empty headers and empty payload', (t) => {
  const encoded = encodeEventStreamMessage({}, new Uint8Array(0));
  t.is(encoded.length, 16);
  t.is(encoded.readUInt32BE(0), 16);
  t.is(encoded.readUInt32BE(4), 0);
  const decoded = codec.decode(encoded);
  t.deepEqual(decoded.headers, {});
  t.is(decoded.body.length, 0);
});

test('large binary payload intact', (t) => {
  const payload = Buffer.alloc(1 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const decoded = codec.decode(eventMessage('SubscribeToShardEvent', payload));
  t.deepEqual(Buffer.from(decoded.body), payload);
});

test('eventMessage and exceptionMessage set the standard headers', (t) => {
  const ev = codec.decode(eventMessage('initial-response', json({})));
  t.deepEqual(ev.headers, {
    ':message-type': { type: 'string', value: 'event' },
    ':event-type': { type: 'string', value: 'initial-response' },
    ':content-type': { type: 'string', value: 'application/x-amz-json-1.1' },
  });
  const ex = codec.decode(exceptionMessage('ResourceNotFoundException', json({ message: 'gone' }), 'application/json'));
  t.deepEqual(ex.headers, {
    ':message-type': { type: 'string', value: 'exception' },
    ':exception-type': { type: 'string', value: 'ResourceNotFoundException' },
    ':content-type': { type: 'string', value: 'application/json' },
  });
  t.deepEqual(JSON.parse(toUtf8(ex.body)), { message: 'gone' });
});

type Decoded = { kind: string; body: unknown };

/** Runs chunks through the SDK's node EventStreamMarshaller (chunking + codec + message dispatch). */
async function unmarshal(chunks: Uint8Array[]): Promise<Decoded[]> {
  const marshaller = new EventStreamMarshaller({ utf8Encoder: toUtf8, utf8Decoder: fromUtf8 });
  const stream = marshaller.deserialize(Readable.from(chunks.map((c) => Buffer.from(c))), async (event) => {
    const [kind, message] = Object.entries(event as Record<string, Message>)[0]!;
    const body = JSON.parse(toUtf8(message.body));
    if (message.headers[':message-type']?.value === 'exception') {
      return { [kind]: Object.assign(new Error(body.message), { name: kind }) };
    }
    return { kind, body };
  });
  const out: Decoded[] = [];
  for await (const item of stream as AsyncIterable<Decoded>) out.push(item);
  return out;
}

function splitAt(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < buffer.length).sort((a, b) => a - b), buffer.length];
  return points.slice(1).map((end, i) => buffer.subarray(points[i], end));
}

function makeStream(): { buffer: Buffer; expected: Decoded[] } {
  const expected: Decoded[] = [{ kind: 'initial-response', body: {} }];
  const parts = [eventMessage('initial-response', json({}))];
  for (let i = 0; i < 5; i++) {
    const body = { Records: [{ SequenceNumber: String(i), Data: 'x'.repeat(i * 37) }], ContinuationSequenceNumber: String(i) };
    expected.push({ kind: 'SubscribeToShardEvent', body });
    parts.push(eventMessage('SubscribeToShardEvent', json(body)));
  }
  return { buffer: Buffer.concat(parts), expected };
}

test('concatenated messages decode as one chunk', async (t) => {
  const { buffer, expected } = makeStream();
  t.deepEqual(await unmarshal([buffer]), expected);
});

test('concatenated messages decode when split byte by byte', async (t) => {
  const { buffer, expected } = makeStream();
  const chunks = Array.from({ length: buffer.length }, (_, i) => buffer.subarray(i, i + 1));
  t.deepEqual(await unmarshal(chunks), expected);
});

test('concatenated messages decode when split at arbitrary boundaries', async (t) => {
  const { buffer, expected } = makeStream();
  // Deterministic pseudo-random cuts (LCG), several rounds, including cuts inside preludes.
  let seed = 12345;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let round = 0; round < 25; round++) {
    const cuts = Array.from({ length: 1 + (next() % 20) }, () => next() % buffer.length);
    t.deepEqual(await unmarshal(splitAt(buffer, cuts)), expected, `round ${round}, cuts ${cuts.join(',')}`);
  }
  // Cuts at every offset within the first message's prelude and around message boundaries.
  const first = eventMessage('initial-response', json({})).length;
  for (let cut = 1; cut < 16; cut++) {
    t.deepEqual(await unmarshal(splitAt(buffer, [cut, first + cut, first - cut])), expected);
  }
});

test('an exception message surfaces as a thrown error through the marshaller', async (t) => {
  const buffer = Buffer.concat([
    eventMessage('initial-response', json({})),
    exceptionMessage('ResourceInUseException', json({ message: 'busy' })),
  ]);
  const err = await t.throwsAsync(unmarshal(splitAt(buffer, [3, 40, 50])));
  t.is(err?.name, 'ResourceInUseException');
  t.is(err?.message, 'busy');
});

test('CRCs: flipping any single byte makes the codec reject the message', (t) => {
  const encoded = encodeEventStreamMessage({ ':event-type': 'x', n: 1 }, Buffer.from('payload bytes'));
  t.notThrows(() => codec.decode(encoded));
  for (let i = 0; i < encoded.length; i++) {
    const corrupt = Buffer.from(encoded);
    corrupt[i]! ^= 0x01;
    t.throws(() => codec.decode(corrupt), undefined, `byte ${i}`);
  }
  // Prelude CRC and message CRC are specifically checked.
  const badPrelude = Buffer.from(encoded);
  badPrelude[9]! ^= 0xff;
  t.throws(() => codec.decode(badPrelude), { message: /prelude checksum/i });
  const badPayload = Buffer.from(encoded);
  badPayload[encoded.length - 6]! ^= 0xff;
  t.throws(() => codec.decode(badPayload), { message: /message checksum/i });
});

test('invalid header values are rejected', (t) => {
  t.throws(() => encodeEventStreamMessage({ n: 2 ** 31 }, new Uint8Array()), { instanceOf: RangeError });
  t.throws(() => encodeEventStreamMessage({ n: 1.5 }, new Uint8Array()), { instanceOf: RangeError });
  t.throws(() => encodeEventStreamMessage({ '': 'x' }, new Uint8Array()), { instanceOf: RangeError });
  t.throws(() => encodeEventStreamMessage({ ['n'.repeat(256)]: 'x' }, new Uint8Array()), { instanceOf: RangeError });
  t.throws(() => encodeEventStreamMessage({ s: 'x'.repeat(65536) }, new Uint8Array()), { instanceOf: RangeError });
  t.throws(() => encodeEventStreamMessage({ d: new Date(NaN) }, new Uint8Array()), { instanceOf: RangeError });
  t.notThrows(() => encodeEventStreamMessage({ s: 'x'.repeat(65535) }, new Uint8Array()));
});
