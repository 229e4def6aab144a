// A camera-like producer for the video benchmarks: one PutMedia session (the agent's client) with
// ABSOLUTE timecodes, remembering when each fragment's last byte went out and when it was PERSISTED.

import { openPutMedia, type PutMediaSession } from '../../agent/video/put-media-client.js';
import type { Ack } from '../../ingest-server/video-streams/acks.js';
import type { MkvBlock, MkvTrack } from '../../video/mkv/model.js';
import { writeCluster, writeMkvHeader, writeTags } from '../../video/mkv/writer.js';

/** One PutMedia session that sends GOPs as fragments and times their acknowledgements. */
export class Producer {
  readonly sentAt = new Map<number, number>();
  readonly persistedMs: number[] = [];
  errors = 0;
  persistedBytes = 0;
  private readonly sizes = new Map<number, number>();
  private lastTimecode = 0;
  private readonly tags: Uint8Array;

  private constructor(
    readonly session: PutMediaSession,
    stream: string,
  ) {
    this.tags = writeTags([{ name: 'DEVICE', value: stream }]);
    session.on('ack', (ack: Ack) => {
      if (ack.EventType === 'ERROR') this.errors += 1;
      if (ack.EventType !== 'PERSISTED') return;
      const sent = this.sentAt.get(ack.FragmentTimecode);
      if (sent !== undefined) this.persistedMs.push(performance.now() - sent);
      this.persistedBytes += this.sizes.get(ack.FragmentTimecode) ?? 0;
    });
  }

  static async open(url: string, stream: string, tracks: MkvTrack[]): Promise<Producer> {
    const session = await openPutMedia({ endpoint: url, streamName: stream, timecodeType: 'ABSOLUTE' });
    const producer = new Producer(session, stream);
    await session.write(writeMkvHeader(tracks, { writingApp: 'rivulet bench' }));
    return producer;
  }

  /**
   * Sends one GOP as a fragment whose timecode is `capturedAt` (epoch ms of its first frame, kept
   * increasing), with device tags as the agent sends them; resolves with the timecode once written.
   */
  async send(gop: MkvBlock[], capturedAt = Date.now()): Promise<number> {
    const timecode = Math.max(Math.round(capturedAt), this.lastTimecode + 1);
    this.lastTimecode = timecode;
    const cluster = writeCluster(timecode, gop);
    this.sizes.set(timecode, cluster.length);
    await this.session.write(Buffer.concat([cluster, this.tags]));
    this.sentAt.set(timecode, performance.now());
    return timecode;
  }

  async close(): Promise<void> {
    await this.session.end().catch(() => undefined);
  }
}
