import { EventStreamResponse, type EventSink } from '../protocol/event-stream-response.js';
import { InvalidArgumentException, ResourceInUseException, ResourceNotFoundException } from '../protocol/errors.js';
import type { Input } from '../protocol/input.js';
import { consumerStatus, findConsumer } from './consumers.js';
import type { DataStreamsContext } from './context.js';
import { readShardPage, startingPosition, type StartingPositionType } from './records.js';
import { formatSequenceNumber } from './sequence-number.js';
import { findShard } from './shards.js';

const SUBSCRIPTION_MS = 5 * 60 * 1000;
// When nothing arrives, an empty event still goes out this often so the client sees the
// subscription is alive and has a ContinuationSequenceNumber to resume from.
const HEARTBEAT_MS = 5000;
const POSITION_TYPES = ['AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER', 'TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'] as const;

/** Resolves waits early once the shard has new records, remembering a signal that came first. */
class AppendSignal {
  private pending = false;
  private wake?: () => void;

  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  reset(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => done();
      this.wake = wake;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).then(() => void (this.wake = undefined));
  }
}

export async function subscribeToShard(ctx: DataStreamsContext, input: Input): Promise<EventStreamResponse> {
  const shardId = input.requiredString('ShardId', { min: 1, max: 128 });
  const start = input.object('StartingPosition');
  if (!start) throw new InvalidArgumentException('StartingPosition is required.');
  const type: StartingPositionType = start.requiredEnumeration('Type', POSITION_TYPES);
  const { state, consumer } = await findConsumer(ctx, input);
  if (consumerStatus(consumer, ctx.now()) !== 'ACTIVE') throw new ResourceInUseException(`Consumer ${consumer.arn} is not ACTIVE.`);
  const shard = findShard(ctx, state, shardId);
  let from = await startingPosition(ctx, state, shard, type, start.string('SequenceNumber'), start.timestamp('Timestamp'));
  const signal = new AppendSignal();
  let ended = false;
  const finish = () => {
    ended = true;
    signal.notify();
  };
  const leave = ctx.subscriptions.begin(state.uid, consumer.arn, shardId, finish);
  const stopWatching = ctx.store.watch(state.uid, shard.index, () => signal.notify());

  return new EventStreamResponse(async (sink: EventSink) => {
    sink.onClose(finish);
    const deadline = ctx.now() + SUBSCRIPTION_MS;
    let lastSent = 0;
    try {
      await sink.event('initial-response', {});
      while (!ended && !sink.closed && ctx.now() < deadline) {
        const current = await ctx.store.getStream(state.name);
        const currentShard = current?.uid === state.uid ? current.shards.find((candidate) => candidate.index === shard.index) : undefined;
        if (!current || !currentShard) {
          await sink.exception(new ResourceNotFoundException(`Stream ${state.name} or shard ${shardId} no longer exists.`));
          return;
        }
        signal.reset();
        const page = await readShardPage(ctx, current, currentShard, from, 10000);
        if (ended) return;
        const heartbeatDue = ctx.now() - lastSent >= HEARTBEAT_MS;
        if (page.records.length > 0 || page.next === undefined || heartbeatDue) {
          const continuation = page.lastPosition ?? Math.max(from - 1, 0);
          await sink.event('SubscribeToShardEvent', {
            Records: page.records,
            ...(page.next !== undefined ? { ContinuationSequenceNumber: formatSequenceNumber(shard.index, continuation) } : {}),
            MillisBehindLatest: page.millisBehindLatest,
            ...(page.childShards ? { ChildShards: page.childShards } : {}),
          });
          lastSent = ctx.now();
        }
        if (page.next === undefined) return;
        from = page.next;
        if (page.records.length === 0) await signal.wait(Math.min(HEARTBEAT_MS - (ctx.now() - lastSent), deadline - ctx.now()));
      }
    } finally {
      stopWatching();
      leave();
    }
  });
}
