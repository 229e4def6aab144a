// Durability under `kill -9`: whatever the server acknowledged must be there after a crash.
//
// A real `rivulet server` process takes PutRecord and PutRecords calls from several concurrent
// producers, half on the SDK's default HTTP/2 handler and half on NodeHttpHandler (HTTP/1.1),
// each recording every acknowledged (ShardId, SequenceNumber, data). After a few thousand acks,
// with requests still in flight, the process gets SIGKILL; a new process on the same data
// directory must return every acknowledged record from TRIM_HORIZON with the same sequence
// number, shard and bytes, sequence numbers strictly increasing per shard, nothing duplicated,
// and new puts must get higher sequence numbers than anything before the crash. Two crash cycles.

import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';
import { sleep, startServerProcess, tempDir, within, type ServerProcess } from '../helpers/server-process.js';

const STREAM = 'durable';
const SHARDS = 4;
const PRODUCERS_PER_TRANSPORT = 3;
const LOOPS_PER_PRODUCER = 2; // requests each producer keeps in flight
const credentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET' };

interface Ack {
  shardId: string;
  sequenceNumber: string;
  data: Buffer;
  /** How it was acknowledged, e.g. `h2 PutRecords`. */
  via?: string;
}

type Transport = 'h2' | 'http1.1';

function client(url: string, transport: Transport): { kinesis: KinesisClient; close: () => void } {
  if (transport === 'h2') {
    const kinesis = new KinesisClient({
      region: 'us-east-1',
      endpoint: url,
      credentials,
      maxAttempts: 1,
      requestHandler: new NodeHttp2Handler({ requestTimeout: 15_000 }),
    });
    return { kinesis, close: () => kinesis.destroy() };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: LOOPS_PER_PRODUCER });
  const kinesis = new KinesisClient({
    region: 'us-east-1',
    endpoint: url,
    credentials,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: agent, requestTimeout: 15_000 }),
  });
  return {
    kinesis,
    close: () => {
      kinesis.destroy();
      agent.destroy();
    },
  };
}

/** A record's bytes: a unique id, then 0–300 random bytes (binary, not text). */
function payload(id: string): Buffer {
  return Buffer.concat([Buffer.from(`${id}|`), randomBytes(randomInt(0, 301))]);
}
const idOf = (data: Buffer) => data.subarray(0, data.indexOf(0x7c)).toString();

interface LoadResult {
  acks: Ack[];
  inFlightAtKill: number;
  ackedAtKill: number;
  unexpected: string[];
}

/**
 * Runs producers against `server` until `killAfter` records are acknowledged, then SIGKILLs it
 * (without waiting for anything) and collects what every producer saw until its calls fail.
 */
async function loadThenKill(server: ServerProcess, cycle: number, killAfter: number): Promise<LoadResult> {
  const acks: Ack[] = [];
  const unexpected: string[] = [];
  let killed = false;
  let inFlight = 0;
  let inFlightAtKill = -1;
  let ackedAtKill = -1;
  let sequence = 0;

  const acknowledge = (ack: Ack) => {
    acks.push(ack);
    if (!killed && acks.length >= killAfter) {
      killed = true;
      inFlightAtKill = inFlight;
      ackedAtKill = acks.length;
      server.child.kill('SIGKILL');
    }
  };

  const loop = async (kinesis: KinesisClient, producer: string, transport: Transport) => {
    for (let n = 0; !killed; n++) {
      const batch = n % 3 === 2 ? 1 : randomInt(2, 120); // mostly PutRecords, every third a PutRecord
      const entries = Array.from({ length: batch }, () => ({
        Data: payload(`c${cycle}-${producer}-${sequence++}`),
        PartitionKey: `pk-${randomInt(0, 1_000_000)}`,
      }));
      inFlight++;
      try {
        if (batch === 1) {
          const result = await kinesis.send(new PutRecordCommand({ StreamName: STREAM, ...entries[0]! }));
          acknowledge({ shardId: result.ShardId!, sequenceNumber: result.SequenceNumber!, data: entries[0]!.Data, via: `${transport} PutRecord` });
        } else {
          const result = await kinesis.send(new PutRecordsCommand({ StreamName: STREAM, Records: entries }));
          result.Records!.forEach((entry, i) => {
            if (entry.ErrorCode) {
              if (!killed) unexpected.push(`${producer}: PutRecords entry failed: ${entry.ErrorCode} ${entry.ErrorMessage}`);
            } else {
              acknowledge({ shardId: entry.ShardId!, sequenceNumber: entry.SequenceNumber!, data: entries[i]!.Data, via: `${transport} PutRecords` });
            }
          });
        }
      } catch (error) {
        // After the kill every call fails (reset, refused): that is expected. Before it, nothing should.
        if (!killed) unexpected.push(`${producer}: ${(error as Error).name}: ${(error as Error).message}`);
        return;
      } finally {
        inFlight--;
      }
    }
  };

  const clients = [
    ...Array.from({ length: PRODUCERS_PER_TRANSPORT }, (_, i) => ({ ...client(server.url, 'h2'), name: `h2-${i}`, transport: 'h2' as const })),
    ...Array.from({ length: PRODUCERS_PER_TRANSPORT }, (_, i) => ({ ...client(server.url, 'http1.1'), name: `h1-${i}`, transport: 'http1.1' as const })),
  ];
  try {
    const loops = clients.flatMap(({ kinesis, name, transport }) =>
      Array.from({ length: LOOPS_PER_PRODUCER }, (_, i) => loop(kinesis, `${name}.${i}`, transport)),
    );
    // Stop early if the producers fail on their own (then the test reports `unexpected`).
    await within(
      Promise.all(loops).then(() => {
        if (!killed) {
          killed = true;
          server.child.kill('SIGKILL');
        }
      }),
      40_000,
      `producers did not finish (acks: ${acks.length}, killed: ${killed})`,
    );
    await within(server.exited, 5000, 'the server did not die from SIGKILL');
  } finally {
    for (const { close } of clients) close();
  }
  return { acks, inFlightAtKill, ackedAtKill, unexpected };
}

interface StoredRecord {
  shardId: string;
  sequenceNumber: string;
  data: Buffer;
}

/** Every record of every shard, from TRIM_HORIZON, in shard order. */
async function readAll(kinesis: KinesisClient, shards: Shard[]): Promise<Map<string, StoredRecord[]>> {
  const byShard = new Map<string, StoredRecord[]>();
  for (const shard of shards) {
    const records: StoredRecord[] = [];
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    for (let calls = 0; iterator; calls++) {
      if (calls > 1000) throw new Error(`shard ${shard.ShardId}: GetRecords never caught up`);
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        records.push({ shardId: shard.ShardId!, sequenceNumber: record.SequenceNumber!, data: Buffer.from(record.Data!) });
      }
      if ((page.Records ?? []).length === 0 && page.MillisBehindLatest === 0) break;
      iterator = page.NextShardIterator;
    }
    byShard.set(shard.ShardId!, records);
  }
  return byShard;
}

/** Checks the restarted server against everything acknowledged so far; returns each shard's highest sequence number. */
async function verify(t: ExecutionContext, kinesis: KinesisClient, shards: Shard[], acked: Ack[], label: string): Promise<Map<string, bigint>> {
  const byShard = await readAll(kinesis, shards);
  const stored = new Map<string, StoredRecord>();
  const ids = new Map<string, string>();
  const highest = new Map<string, bigint>();
  let orderViolations = 0;
  let duplicates = 0;
  for (const [shardId, records] of byShard) {
    let previous = -1n;
    for (const record of records) {
      const value = BigInt(record.sequenceNumber);
      if (value <= previous) orderViolations++;
      previous = value;
      stored.set(record.sequenceNumber, record);
      const id = idOf(record.data);
      if (ids.has(id)) duplicates++;
      ids.set(id, record.sequenceNumber);
    }
    highest.set(shardId, previous);
  }
  t.is(orderViolations, 0, `${label}: sequence numbers must strictly increase within each shard`);
  t.is(duplicates, 0, `${label}: no record may be stored twice`);

  const missing: string[] = [];
  const changed: string[] = [];
  for (const ack of acked) {
    const record = stored.get(ack.sequenceNumber);
    if (!record) missing.push(`${ack.shardId} ${ack.sequenceNumber} (${idOf(ack.data)})`);
    else if (record.shardId !== ack.shardId || !record.data.equals(ack.data)) {
      changed.push(`${ack.sequenceNumber}: acked ${ack.shardId} ${idOf(ack.data)}, stored ${record.shardId} ${idOf(record.data)}`);
    }
  }
  t.deepEqual(missing.slice(0, 10), [], `${label}: ${missing.length} of ${acked.length} acknowledged records are missing`);
  t.deepEqual(changed.slice(0, 10), [], `${label}: ${changed.length} acknowledged records came back different`);
  t.log(`${label}: ${acked.length} acknowledged, ${stored.size} stored, per shard ${[...byShard.values()].map((r) => r.length).join('/')}`);
  return highest;
}

/** One PutRecord aimed at each shard (ExplicitHashKey); each must sort after the shard's previous records. */
async function putAfterRestart(t: ExecutionContext, kinesis: KinesisClient, shards: Shard[], highest: Map<string, bigint>, label: string): Promise<Ack[]> {
  const acks: Ack[] = [];
  for (const shard of shards) {
    const data = payload(`${label}-${shard.ShardId}`);
    const result = await kinesis.send(
      new PutRecordCommand({ StreamName: STREAM, PartitionKey: 'after-restart', ExplicitHashKey: shard.HashKeyRange!.StartingHashKey!, Data: data }),
    );
    t.is(result.ShardId, shard.ShardId);
    const before = highest.get(shard.ShardId!)!;
    t.true(before > 0n, `${label}: shard ${shard.ShardId} received records before the crash`);
    t.true(BigInt(result.SequenceNumber!) > before, `${label}: ${shard.ShardId}: new ${result.SequenceNumber} must be above ${before}`);
    acks.push({ shardId: result.ShardId!, sequenceNumber: result.SequenceNumber!, data });
  }
  return acks;
}

test('kill -9 under concurrent load loses no acknowledged record (two crash cycles)', async (t) => {
  const dir = await tempDir('rivulet-crash-');
  t.teardown(dir.remove);

  let server = await startServerProcess({ dataDir: dir.path });
  t.teardown(() => server.kill('SIGKILL'));
  const setup = client(server.url, 'h2');
  await setup.kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: SHARDS }));
  for (let i = 0; ; i++) {
    const { StreamDescriptionSummary } = await setup.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
    if (i > 200) throw new Error('stream never became ACTIVE');
    await sleep(25);
  }
  setup.close();

  const acked: Ack[] = [];
  for (const cycle of [1, 2]) {
    const killAfter = randomInt(2500, 4000);
    const load = await loadThenKill(server, cycle, killAfter);
    t.deepEqual(load.unexpected.slice(0, 5), [], `cycle ${cycle}: calls failed before the kill`);
    t.true(load.ackedAtKill >= killAfter, `cycle ${cycle}: killed after ${load.ackedAtKill} acks`);
    t.true(load.inFlightAtKill > 0, `cycle ${cycle}: requests were in flight at the kill`);
    t.log(`cycle ${cycle}: SIGKILL after ${load.ackedAtKill} acks with ${load.inFlightAtKill} requests in flight; ${load.acks.length - load.ackedAtKill} more acks arrived after it`);
    const byKind = new Map<string, number>();
    for (const ack of load.acks) byKind.set(ack.via!, (byKind.get(ack.via!) ?? 0) + 1);
    for (const kind of ['h2 PutRecord', 'h2 PutRecords', 'http1.1 PutRecord', 'http1.1 PutRecords']) {
      t.true((byKind.get(kind) ?? 0) > 0, `cycle ${cycle}: no acks by ${kind}: ${JSON.stringify([...byKind])}`);
    }
    acked.push(...load.acks);

    server = await startServerProcess({ dataDir: dir.path });
    const reader = client(server.url, 'h2');
    try {
      const { Shards } = await reader.kinesis.send(new ListShardsCommand({ StreamName: STREAM }));
      t.is(Shards?.length, SHARDS);
      const highest = await verify(t, reader.kinesis, Shards!, acked, `after crash ${cycle}`);
      acked.push(...(await putAfterRestart(t, reader.kinesis, Shards!, highest, `after-crash-${cycle}`)));
    } finally {
      reader.close();
    }
  }

  // The last restart, after its own puts, shuts down cleanly and everything is still there.
  const exit = await server.kill('SIGTERM');
  t.deepEqual(exit, { code: 0, signal: null }, server.stderr());
  server = await startServerProcess({ dataDir: dir.path });
  const reader = client(server.url, 'http1.1');
  try {
    const { Shards } = await reader.kinesis.send(new ListShardsCommand({ StreamName: STREAM }));
    await verify(t, reader.kinesis, Shards!, acked, 'after clean restart');
  } finally {
    reader.close();
  }
});
