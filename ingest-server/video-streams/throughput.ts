import { ConnectionLimitExceededException } from '../protocol/errors.js';

// AWS's per-stream Kinesis Video quotas, under --enforce-throughput as the Data Streams ones are
// (data-streams/throughput.ts): self-hosted users mostly want their hardware's speed, but some
// want to see how their producers fare against the cloud's limits. New PutMedia connections over
// the rate are refused, as AWS does; fragments and bytes over it are paced (the request is read
// more slowly), which loses nothing. GetMedia's three readers per stream hold always.
const PUT_MEDIA_CALLS_PER_SECOND = 5;
const FRAGMENTS_PER_SECOND = 5;
const PUT_MEDIA_BYTES_PER_SECOND = 12.5e6;
const GET_MEDIA_BYTES_PER_SECOND = 25e6;

/** Use spread so that no second holds more than `perSecond`; up to a second's worth may come at once. */
class Pace {
  /** When the use reserved so far is paid off (ms, monotonic clock). */
  private paidAt = -Infinity;

  constructor(private readonly perSecond: number) {}

  /** Reserves `amount`; the ms to wait before using it. */
  reserve(amount: number, nowMs: number): number {
    // Unused budget accrues for one second at most.
    this.paidAt = Math.max(this.paidAt, nowMs - 1000) + (amount / this.perSecond) * 1000;
    return Math.max(0, this.paidAt - nowMs);
  }
}

interface StreamUse {
  calls: number[];
  fragments: Pace;
  putBytes: Pace;
  getBytes: Pace;
}

/** Per-stream use of PutMedia and GetMedia against AWS's quotas. */
export class VideoThroughputLimiter {
  private readonly streams = new Map<string, StreamUse>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Counts a new PutMedia call; throws ConnectionLimitExceededException past 5 a second on the stream. */
  admitPutMedia(streamUid: string, streamName: string): void {
    const use = this.use(streamUid);
    const now = this.now();
    use.calls = use.calls.filter((at) => now - at < 1000);
    if (use.calls.length >= PUT_MEDIA_CALLS_PER_SECOND) {
      throw new ConnectionLimitExceededException(`At most ${PUT_MEDIA_CALLS_PER_SECOND} PutMedia connections a second can be made to stream ${streamName}.`);
    }
    use.calls.push(now);
  }

  /** The ms a fragment of `bytes` waits before it is stored, to stay within 5 fragments and 12.5 MB a second. */
  fragmentDelayMs(streamUid: string, bytes: number): number {
    const use = this.use(streamUid);
    const now = this.now();
    return Math.max(use.fragments.reserve(1, now), use.putBytes.reserve(bytes, now));
  }

  /** The ms GetMedia waits before sending `bytes`, to stay within 25 MB a second per stream. */
  readDelayMs(streamUid: string, bytes: number): number {
    return this.use(streamUid).getBytes.reserve(bytes, this.now());
  }

  private use(streamUid: string): StreamUse {
    let use = this.streams.get(streamUid);
    if (!use) {
      use = { calls: [], fragments: new Pace(FRAGMENTS_PER_SECOND), putBytes: new Pace(PUT_MEDIA_BYTES_PER_SECOND), getBytes: new Pace(GET_MEDIA_BYTES_PER_SECOND) };
      this.streams.set(streamUid, use);
    }
    return use;
  }
}
