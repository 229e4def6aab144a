// What the AWS SDKs for Java and the KPL put on the wire by default: `application/x-amz-cbor-1.1`
// bodies over HTTP/1.1, signed with SigV4 (no x-amz-content-sha256 header, as the Java signer
// omits it outside S3). No Java client exists on this machine, so the bodies are built here as
// Java builds them: blobs as CBOR byte strings, timestamps as tag 1 around integer epoch
// MILLISECONDS. Some requests are encoded with cbor-x; others byte by byte the way Jackson's
// CBORGenerator (which both Java SDKs use) writes them, with indefinite-length maps.
//
// Responses are checked at the level of CBOR items (major type, tag number) by a small reader
// below, independent of any tag extension, and also decoded with a plain cbor-x Decoder.

import test from 'ava';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Decoder, Encoder, Tag, addExtension } from 'cbor-x';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { sleep, startServerProcess, tempDir, type ServerProcess } from '../helpers/server-process.js';

const AKID = 'AKIDJAVACLIENT';
const SECRET = 'java/Client+Secret0123456789';
const CBOR = 'application/x-amz-cbor-1.1';

// ---- a minimal CBOR reader that keeps the wire types -------------------------------------------

type Item =
  | { kind: 'uint' | 'negint'; value: bigint }
  | { kind: 'bytes'; value: Buffer }
  | { kind: 'text'; value: string }
  | { kind: 'array'; items: Item[] }
  | { kind: 'map'; entries: [Item, Item][] }
  | { kind: 'tag'; tag: number; value: Item }
  | { kind: 'float'; value: number }
  | { kind: 'simple'; value: boolean | null | undefined };

function readCbor(buffer: Buffer): Item {
  let at = 0;
  const argument = (info: number): bigint | undefined => {
    if (info < 24) return BigInt(info);
    if (info === 24) return BigInt(buffer.readUInt8((at += 1) - 1));
    if (info === 25) return BigInt(buffer.readUInt16BE((at += 2) - 2));
    if (info === 26) return BigInt(buffer.readUInt32BE((at += 4) - 4));
    if (info === 27) return buffer.readBigUInt64BE((at += 8) - 8);
    if (info === 31) return undefined; // indefinite length
    throw new Error(`reserved additional info ${info} at ${at}`);
  };
  const isBreak = () => buffer[at] === 0xff && (at += 1) > 0;
  const chunks = (major: number, length: bigint | undefined): Buffer => {
    if (length !== undefined) return buffer.subarray(at, (at += Number(length)));
    const parts: Buffer[] = [];
    while (!isBreak()) {
      const next = item();
      if ((major === 2 && next.kind !== 'bytes') || (major === 3 && next.kind !== 'text')) throw new Error('bad chunk in indefinite string');
      parts.push(next.kind === 'bytes' ? next.value : Buffer.from((next as { value: string }).value));
    }
    return Buffer.concat(parts);
  };
  const item = (): Item => {
    if (at >= buffer.length) throw new Error('truncated CBOR');
    const initial = buffer[at++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) {
      if (info === 20 || info === 21) return { kind: 'simple', value: info === 21 };
      if (info === 22) return { kind: 'simple', value: null };
      if (info === 23) return { kind: 'simple', value: undefined };
      if (info === 25) return { kind: 'float', value: decodeHalf(buffer.readUInt16BE((at += 2) - 2)) };
      if (info === 26) return { kind: 'float', value: buffer.readFloatBE((at += 4) - 4) };
      if (info === 27) return { kind: 'float', value: buffer.readDoubleBE((at += 8) - 8) };
      throw new Error(`unexpected simple value ${info}`);
    }
    const length = argument(info);
    switch (major) {
      case 0:
        return { kind: 'uint', value: length! };
      case 1:
        return { kind: 'negint', value: -1n - length! };
      case 2:
        return { kind: 'bytes', value: Buffer.from(chunks(2, length)) };
      case 3:
        return { kind: 'text', value: chunks(3, length).toString('utf8') };
      case 4: {
        const items: Item[] = [];
        if (length === undefined) while (!isBreak()) items.push(item());
        else for (let i = 0n; i < length; i++) items.push(item());
        return { kind: 'array', items };
      }
      case 5: {
        const entries: [Item, Item][] = [];
        if (length === undefined) while (!isBreak()) entries.push([item(), item()]);
        else for (let i = 0n; i < length; i++) entries.push([item(), item()]);
        return { kind: 'map', entries };
      }
      default:
        return { kind: 'tag', tag: Number(length), value: item() };
    }
  };
  const result = item();
  if (at !== buffer.length) throw new Error(`${buffer.length - at} bytes after the CBOR item`);
  return result;
}

function decodeHalf(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  const value = exponent === 0 ? mantissa * 2 ** -24 : exponent === 31 ? (mantissa ? NaN : Infinity) : (1 + mantissa / 1024) * 2 ** (exponent - 15);
  return half & 0x8000 ? -value : value;
}

function member(map: Item, name: string): Item | undefined {
  if (map.kind !== 'map') throw new Error(`not a map: ${map.kind}`);
  return map.entries.find(([key]) => key.kind === 'text' && key.value === name)?.[1];
}

// ---- Jackson-style encoding (indefinite-length maps, minimal heads) ------------------------------

function head(major: number, value: number | bigint): Buffer {
  const n = BigInt(value);
  if (n < 24n) return Buffer.from([(major << 5) | Number(n)]);
  if (n < 0x100n) return Buffer.from([(major << 5) | 24, Number(n)]);
  if (n < 0x10000n) return Buffer.from([(major << 5) | 25, Number(n) >> 8, Number(n) & 0xff]);
  if (n < 0x100000000n) {
    const out = Buffer.alloc(5);
    out[0] = (major << 5) | 26;
    out.writeUInt32BE(Number(n), 1);
    return out;
  }
  const out = Buffer.alloc(9);
  out[0] = (major << 5) | 27;
  out.writeBigUInt64BE(n, 1);
  return out;
}

type JacksonValue = string | Buffer | number | { epochMillis: number } | { [key: string]: JacksonValue };

function jackson(value: JacksonValue): Buffer {
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (typeof value === 'number') return head(0, value);
  if ('epochMillis' in value && typeof value.epochMillis === 'number') return Buffer.concat([head(6, 1), head(0, value.epochMillis)]);
  const parts: Buffer[] = [Buffer.from([0xbf])]; // writeStartObject(): indefinite-length map
  for (const [key, member] of Object.entries(value)) parts.push(jackson(key), jackson(member as JacksonValue));
  parts.push(Buffer.from([0xff]));
  return Buffer.concat(parts);
}

const cborX = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
// A plain decoder (the server's tag extension lives in the server process, not here), except that
// tag 1 is handed back as a raw Tag: cbor-x's built-in reading of tag 1 (epoch seconds, times
// 1000) would both misread Java's milliseconds and throw on a 64-bit integer value.
addExtension({ tag: 1, decode: (value: unknown) => new Tag(value, 1) } as never);
const plainDecoder = new Decoder({ mapsAsObjects: true, useRecords: false });

// ---- a Java-like client ---------------------------------------------------------------------------

interface CborResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  item: Item;
}

async function call(server: ServerProcess, operation: string, body: Buffer, secret = SECRET): Promise<CborResponse> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: AKID, secretAccessKey: secret },
    region: 'us-east-1',
    service: 'kinesis',
    sha256: Sha256,
    applyChecksum: false,
  });
  const host = `127.0.0.1:${server.port}`;
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: server.port,
    path: '/',
    query: {},
    headers: {
      host,
      'content-type': CBOR,
      'x-amz-target': `Kinesis_20131202.${operation}`,
      'user-agent': 'aws-sdk-java/1.12.700 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.10',
      'content-length': String(body.length),
    },
    body,
  });
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/', headers: signed.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const data = Buffer.concat(chunks);
        try {
          resolve({ status: response.statusCode!, headers: response.headers, body: data, item: readCbor(data) });
        } catch (error) {
          reject(new Error(`${operation}: response is not CBOR (${(error as Error).message}): ${response.statusCode} ${data.toString('utf8')}`));
        }
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function startWithCredentials(): Promise<ServerProcess> {
  const dir = await tempDir('rivulet-cbor-');
  const credentials = join(dir.path, 'credentials.json');
  await writeFile(credentials, JSON.stringify({ accessKeys: [{ accessKeyId: AKID, secretAccessKey: SECRET }] }));
  return startServerProcess({ dataDir: join(dir.path, 'data'), args: ['--credentials', credentials] });
}

function ok(t: import('ava').ExecutionContext, response: CborResponse, what: string): void {
  if (response.status !== 200) t.log(what, response.status, plainDecoder.decode(response.body));
  t.is(response.status, 200, what);
  t.is(response.headers['content-type'], CBOR, what);
}

// ---- the tests -------------------------------------------------------------------------------------

test('CBOR: PutRecord, GetShardIterator AT_TIMESTAMP (tag 1, ms) and GetRecords as a Java client sends them', async (t) => {
  const server = await startWithCredentials();
  t.teardown(() => server.kill('SIGKILL'));

  const created = await call(server, 'CreateStream', jackson({ StreamName: 'java', ShardCount: 1 }));
  ok(t, created, 'CreateStream');

  // Record A, encoded by cbor-x; its Data must go out as a byte string.
  const dataA = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, ...Buffer.from(' binary A')]);
  const requestA = Buffer.from(cborX.encode({ StreamName: 'java', PartitionKey: 'pk-a', Data: dataA }));
  t.is(member(readCbor(requestA), 'Data')?.kind, 'bytes', 'the test itself sends Data as a byte string');
  const beforeA = Date.now();
  const putA = await call(server, 'PutRecord', requestA);
  const afterA = Date.now();
  ok(t, putA, 'PutRecord A');
  const seqA = member(putA.item, 'SequenceNumber');
  t.is(seqA?.kind, 'text');
  t.is(member(putA.item, 'ShardId')?.kind, 'text');
  t.is((plainDecoder.decode(putA.body) as { ShardId: string }).ShardId, 'shardId-000000000000');

  // A moment strictly between the two records, sent as tag 1 around integer milliseconds.
  await sleep(30);
  const between = Date.now();
  await sleep(30);

  // Record B, encoded the way Jackson writes it.
  const dataB = Buffer.from('record B \u00e9\u4e2d', 'utf8');
  const beforeB = Date.now();
  const putB = await call(server, 'PutRecord', jackson({ StreamName: 'java', PartitionKey: 'pk-b', Data: dataB }));
  const afterB = Date.now();
  ok(t, putB, 'PutRecord B');
  const seqB = member(putB.item, 'SequenceNumber');

  for (const [label, encode] of [
    ['cbor-x', () => Buffer.from(cborX.encode({ StreamName: 'java', ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Tag(BigInt(between), 1) }))],
    ['jackson', () => jackson({ StreamName: 'java', ShardId: 'shardId-000000000000', ShardIteratorType: 'AT_TIMESTAMP', Timestamp: { epochMillis: between } })],
  ] as const) {
    const body = encode();
    const timestamp = member(readCbor(body), 'Timestamp');
    t.like(timestamp, { kind: 'tag', tag: 1, value: { kind: 'uint', value: BigInt(between) } }, 'the test sends tag 1 around integer ms');

    const iterator = await call(server, 'GetShardIterator', body);
    ok(t, iterator, `GetShardIterator (${label})`);
    const shardIterator = member(iterator.item, 'ShardIterator');
    t.is(shardIterator?.kind, 'text');

    const records = await call(server, 'GetRecords', jackson({ ShardIterator: (shardIterator as { value: string }).value, Limit: 100 }));
    ok(t, records, `GetRecords (${label})`);
    const list = member(records.item, 'Records');
    t.is(list?.kind, 'array');
    const items = (list as { items: Item[] }).items;
    t.is(items.length, 1, `${label}: AT_TIMESTAMP must skip record A and return record B only`);
    const record = items[0]!;
    t.deepEqual(member(record, 'SequenceNumber'), seqB);
    t.deepEqual(member(record, 'Data'), { kind: 'bytes', value: dataB });
    t.deepEqual(member(record, 'PartitionKey'), { kind: 'text', value: 'pk-b' });
    const arrival = member(record, 'ApproximateArrivalTimestamp');
    t.is(arrival?.kind, 'tag', `${label}: ApproximateArrivalTimestamp must be tagged`);
    t.is((arrival as { tag: number }).tag, 1);
    const arrivalValue = (arrival as { value: Item }).value;
    t.is(arrivalValue.kind, 'uint', `${label}: tag 1 must wrap an integer (epoch ms), got ${arrivalValue.kind}`);
    const ms = Number((arrivalValue as { value: bigint }).value);
    t.true(ms >= beforeB - 5 && ms <= afterB + 5, `arrival ${ms} ms should be within [${beforeB}, ${afterB}]`);
    t.is(member(records.item, 'NextShardIterator')?.kind, 'text');
    t.is(member(records.item, 'MillisBehindLatest')?.kind, 'uint');

    // The same body through cbor-x: a map, a byte string, tag 1 around the same integer.
    const decoded = plainDecoder.decode(records.body) as { Records: { Data: Uint8Array; ApproximateArrivalTimestamp: unknown }[] };
    t.true(decoded.Records[0]!.Data instanceof Uint8Array);
    t.deepEqual(Buffer.from(decoded.Records[0]!.Data), dataB);
    const tagged = decoded.Records[0]!.ApproximateArrivalTimestamp;
    t.true(tagged instanceof Tag, String(tagged));
    t.is((tagged as Tag).tag, 1);
    t.is(Number((tagged as Tag).value), ms);
  }

  // TRIM_HORIZON returns both records, A with its arrival time in ms too.
  const horizon = await call(server, 'GetShardIterator', jackson({ StreamName: 'java', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  ok(t, horizon, 'GetShardIterator TRIM_HORIZON');
  const all = await call(server, 'GetRecords', jackson({ ShardIterator: (member(horizon.item, 'ShardIterator') as { value: string }).value }));
  ok(t, all, 'GetRecords TRIM_HORIZON');
  const both = (member(all.item, 'Records') as { items: Item[] }).items;
  t.is(both.length, 2);
  t.deepEqual(member(both[0]!, 'SequenceNumber'), seqA);
  t.deepEqual(member(both[0]!, 'Data'), { kind: 'bytes', value: dataA });
  const arrivalA = member(both[0]!, 'ApproximateArrivalTimestamp') as { kind: string; tag: number; value: { kind: string; value: bigint } };
  t.like(arrivalA, { kind: 'tag', tag: 1, value: { kind: 'uint' } });
  t.true(Number(arrivalA.value.value) >= beforeA - 5 && Number(arrivalA.value.value) <= afterA + 5);
  t.deepEqual(member(both[1]!, 'SequenceNumber'), seqB);
});

test('CBOR: errors come back as CBOR {__type, message} with x-amzn-errortype and status 400', async (t) => {
  const server = await startWithCredentials();
  t.teardown(() => server.kill('SIGKILL'));

  const missing = await call(server, 'GetShardIterator', jackson({ StreamName: 'nope', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  t.is(missing.status, 400);
  t.is(missing.headers['content-type'], CBOR);
  t.is(missing.headers['x-amzn-errortype'], 'ResourceNotFoundException');
  t.like(member(missing.item, '__type'), { kind: 'text', value: 'ResourceNotFoundException' });
  t.is(member(missing.item, 'message')?.kind, 'text');
  t.regex((member(missing.item, 'message') as { value: string }).value, /nope/);
  t.like(plainDecoder.decode(missing.body), { __type: 'ResourceNotFoundException' });

  // An invalid argument in the CBOR body itself.
  const invalid = await call(server, 'CreateStream', jackson({ StreamName: 'bad name!', ShardCount: 1 }));
  t.is(invalid.status, 400);
  t.is(invalid.headers['content-type'], CBOR);
  t.is(invalid.headers['x-amzn-errortype'], (member(invalid.item, '__type') as { value: string }).value);
  t.regex(invalid.headers['x-amzn-errortype'] as string, /ValidationException|InvalidArgumentException/);

  // Authentication errors are CBOR too, for a CBOR request.
  const unsigned = await call(server, 'ListStreams', jackson({}), 'not-the-secret');
  t.true(unsigned.status === 400 || unsigned.status === 403, String(unsigned.status));
  t.is(unsigned.headers['content-type'], CBOR);
  t.is(unsigned.headers['x-amzn-errortype'], 'InvalidSignatureException');
  t.like(member(unsigned.item, '__type'), { kind: 'text', value: 'InvalidSignatureException' });
  t.is(member(unsigned.item, 'message')?.kind, 'text');
});
