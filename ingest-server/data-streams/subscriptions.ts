import { ResourceInUseException } from '../protocol/errors.js';

// One subscription per consumer and shard at a time, as AWS allows: a second one within five
// seconds is refused, a later one replaces the first.
const RESUBSCRIBE_GRACE_MS = 5000;

interface Subscription {
  streamUid: number;
  consumerArn: string;
  startedAt: number;
  end: () => void;
}

/** The SubscribeToShard connections this node is serving. */
export class Subscriptions {
  private readonly active = new Map<string, Subscription>();

  constructor(private readonly now: () => number) {}

  /** Registers a subscription; `end` is called if it is replaced or its stream or consumer goes. */
  begin(streamUid: number, consumerArn: string, shardId: string, end: () => void): () => void {
    const key = `${consumerArn}|${shardId}`;
    const existing = this.active.get(key);
    if (existing && this.now() - existing.startedAt < RESUBSCRIBE_GRACE_MS) {
      throw new ResourceInUseException(`Another active subscription exists for consumer ${consumerArn} on shard ${shardId}.`);
    }
    existing?.end();
    const subscription: Subscription = { streamUid, consumerArn, startedAt: this.now(), end };
    this.active.set(key, subscription);
    return () => {
      if (this.active.get(key) === subscription) this.active.delete(key);
    };
  }

  endStream(streamUid: number): void {
    for (const subscription of [...this.active.values()]) if (subscription.streamUid === streamUid) subscription.end();
  }

  endConsumer(consumerArn: string): void {
    for (const subscription of [...this.active.values()]) if (subscription.consumerArn === consumerArn) subscription.end();
  }

  endAll(): void {
    for (const subscription of [...this.active.values()]) subscription.end();
  }
}
