// Sends each camera's spooled fragments to Kinesis Video with PutMedia and removes a fragment from
// the spool only once the server acknowledged it PERSISTED.
//
// Sessions: PutMedia wants Cluster timecodes to increase within one call (error 4004 otherwise),
// so one session cannot send live fragments and then go back for older ones. Each camera has a
// live lane and a backlog lane, each with its own long-lived session, split by `liveFloor`:
// fragments at or after it are live, older ones are backlog.
// - live-first (default): whenever the live lane (re)opens its session, the floor moves up to the
//   newest spooled fragment: live video goes out first after an outage, and everything older not
//   yet PERSISTED goes to the backlog lane, which sends it oldest first on a session of its own
//   and ends that session once the backlog is empty.
// - oldest-first: the floor stays at -∞; one session sends everything in capture order.
// Each session begins with the stream header of its first fragment; a fragment captured under
// another header (the camera pipeline restarted with new codec data) ends the session, and the
// next one starts with the new header.
//
// Acknowledgements are matched to fragments by FragmentTimecode (ABSOLUTE timecodes: the cluster
// timecode is the capture's epoch ms, unique per camera). PERSISTED → removed from the spool.
// ERROR 4004 (timecode not increasing: the server already has a later one) → dropped with a log
// line; errors about the fragment's content (size, duration, tracks, MKV data, timestamps) → the
// fragment is quarantined, as sending it again cannot succeed; anything else (5000/5001, stream
// not active, key errors, unknown ids) → the session is closed and reopened after a backoff, and
// the fragment is sent again. A lost connection (server killed, link cut) does the same: every
// fragment not PERSISTED goes out again on a later session, once checked (below).
//
// Exactly once: a fragment is never lost (it stays spooled until PERSISTED) and never stored
// twice. A fragment sent whose ack never came (the connection broke, the ack timeout fired, or the
// agent was killed: at start every spooled fragment counts as such) may be stored already; it is
// kept back until ListFragments has said whether the stream holds it (stored-fragments.ts). Held
// ones are removed as stored, the rest are sent again. Until the server answers, the lane backs off
// as after a failed session.

import { Buffer } from 'node:buffer';
import { silentLogger, type Logger } from '../../lib/log.js';
import { ackErrorName, type Ack } from '../../ingest-server/video-streams/acks.js';
import { openPutMedia, type PutMediaSession } from './put-media-client.js';
import type { FragmentSpool, SpooledFragment } from './spool.js';
import { storedTimecodes } from './stored-fragments.js';

/** Error ids about the fragment's own content: sending it again cannot succeed. */
const CONTENT_ERRORS = new Set([4001, 4002, 4005, 4006, 4007, 4009, 4010, 4011, 4012]);
const TIMECODE_NOT_INCREASING = 4004;

export type UploadOrder = 'live-first' | 'oldest-first';

/** Options of {@link VideoUploader}. */
export interface VideoUploaderOptions {
  spool: FragmentSpool;
  cameras: { name: string; stream: string }[];
  /** The data endpoint, e.g. http://127.0.0.1:4567. */
  endpoint: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  order?: UploadOrder;
  /** Fragments a session may have sent and not yet seen PERSISTED; 5 unless given. */
  maxInFlight?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A sent fragment not PERSISTED (or a request not answered) within this long means a dead link (TCP may take many minutes to say so): the session is dropped and reopened. 30 s unless given. */
  ackTimeoutMs?: number;
  log?: Logger;
}

/** Per camera, since start. */
export interface VideoUploadStats {
  /** Fragments acknowledged PERSISTED. */
  persisted: number;
  /** Refused with 4004 and dropped. */
  droppedByServer: number;
  /** Sent without an ack, then found in the stream by ListFragments: removed, not sent again. */
  foundStored: number;
  quarantined: number;
  sessions: number;
  failedSessions: number;
  lastPersistedAt: number | null;
  lastError: { at: number; message: string } | null;
}

interface CameraUpload {
  name: string;
  stream: string;
  /** Fragments at or after this timecode go on the live lane. */
  liveFloor: number;
  /** Timecodes sent on some session and not yet settled. */
  inFlight: Set<number>;
  /** Timecodes that may be stored without our knowing (sent, no ack): held back until ListFragments says. */
  unverified: Set<number>;
  /** The ListFragments check under way, shared by both lanes. */
  verifying: Promise<void> | undefined;
  stats: VideoUploadStats;
  waiters: (() => void)[];
}

type LaneKind = 'live' | 'backlog';

/** Uploads spooled fragments over PutMedia, live first; start() / stop(). */
export class VideoUploader {
  readonly #options: VideoUploaderOptions;
  readonly #log: Logger;
  readonly #cameras = new Map<string, CameraUpload>();
  readonly #sessions = new Set<PutMediaSession>();
  readonly #lanes: Promise<void>[] = [];
  #stopped = false;

  constructor(options: VideoUploaderOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    for (const camera of options.cameras) {
      this.#cameras.set(camera.name, {
        name: camera.name,
        stream: camera.stream,
        liveFloor: -Infinity,
        inFlight: new Set(),
        unverified: new Set(),
        verifying: undefined,
        stats: { persisted: 0, droppedByServer: 0, foundStored: 0, quarantined: 0, sessions: 0, failedSessions: 0, lastPersistedAt: null, lastError: null },
        waiters: [],
      });
    }
  }

  /** Starts both lanes of every camera; the spool's additions wake them. */
  start(): void {
    this.#options.spool.onAdded((camera) => this.#wake(this.#cameras.get(camera)));
    for (const camera of this.#cameras.values()) {
      // A previous run may have been stopped (or killed) between the server storing a fragment and its ack.
      for (const fragment of this.#options.spool.list(camera.name)) camera.unverified.add(fragment.timecodeMs);
      this.#lanes.push(this.#runLane(camera, 'live'));
      if ((this.#options.order ?? 'live-first') === 'live-first') this.#lanes.push(this.#runLane(camera, 'backlog'));
    }
  }

  /** Ends every session, waiting up to `graceMs` for the acks of what was sent. */
  async stop(graceMs = 3000): Promise<void> {
    this.#stopped = true;
    for (const camera of this.#cameras.values()) this.#wake(camera);
    const timer = setTimeout(() => {
      for (const session of this.#sessions) session.destroy();
    }, graceMs);
    await Promise.allSettled(this.#lanes);
    clearTimeout(timer);
  }

  /** The camera's upload counters. */
  stats(camera: string): VideoUploadStats | undefined {
    return this.#cameras.get(camera)?.stats;
  }

  async #runLane(camera: CameraUpload, kind: LaneKind): Promise<void> {
    const log = this.#log.child({ camera: camera.name, lane: kind });
    const minBackoff = this.#options.minBackoffMs ?? 500;
    let backoff = minBackoff;
    while (!this.#stopped) {
      const verified = await this.#verify(camera).then(
        () => undefined,
        (error: unknown) => (error as Error).message,
      );
      if (verified !== undefined) {
        camera.stats.lastError = { at: Date.now(), message: `ListFragments: ${verified}` };
        log.warn('cannot check which unacknowledged fragments the server holds; retrying', { reason: verified, inMs: backoff });
        await this.#changed(camera, backoff, true);
        backoff = Math.min(backoff * 2, this.#options.maxBackoffMs ?? 30_000);
        continue;
      }
      let first = this.#next(camera, kind, -Infinity);
      if (!first) {
        await this.#changed(camera);
        continue;
      }
      if (kind === 'live' && (this.#options.order ?? 'live-first') === 'live-first') {
        // Live first: this session starts at the newest fragment; everything older is backlog.
        camera.liveFloor = Math.max(camera.liveFloor, this.#options.spool.list(camera.name).at(-1)!.timecodeMs);
        first = this.#next(camera, kind, -Infinity) ?? first;
        this.#wake(camera);
      }
      const outcome = await this.#session(camera, kind, first, log).catch((error: unknown) => ({ failed: true, reason: (error as Error).message }));
      if (!outcome.failed) {
        backoff = minBackoff;
        continue;
      }
      camera.stats.failedSessions++;
      camera.stats.lastError = { at: Date.now(), message: outcome.reason };
      log.warn('PutMedia session failed; reopening', { reason: outcome.reason, inMs: backoff });
      await this.#changed(camera, backoff, true);
      backoff = Math.min(backoff * 2, this.#options.maxBackoffMs ?? 30_000);
    }
  }

  /**
   * One PutMedia session: sends the lane's fragments in timecode order until the session breaks,
   * the header changes, the backlog is empty, or the uploader stops.
   */
  async #session(camera: CameraUpload, kind: LaneKind, first: SpooledFragment, log: Logger): Promise<{ failed: boolean; reason: string }> {
    const spool = this.#options.spool;
    const session = await openPutMedia({
      endpoint: this.#options.endpoint,
      streamName: camera.stream,
      ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
      ...(this.#options.region ? { region: this.#options.region } : {}),
      timecodeType: 'ABSOLUTE',
      producerStartTimestampMs: first.timecodeMs,
      openTimeoutMs: this.#options.ackTimeoutMs ?? 30_000,
    });
    this.#sessions.add(session);
    camera.stats.sessions++;
    log.debug('PutMedia session open', { from: first.timecodeMs });
    /** Sent and not settled: timecode → when it was sent. */
    const sent = new Map<number, number>();
    let failure: string | undefined;
    const settle = (timecode: number) => {
      sent.delete(timecode);
      camera.inFlight.delete(timecode);
      this.#wake(camera);
    };
    const acks = (async () => {
      for await (const received of session) {
        let ack = received;
        if (!sent.has(ack.FragmentTimecode)) {
          if (ack.EventType !== 'ERROR') continue;
          // An error about the stream itself (a Cluster that cannot be parsed has no timecode)
          // carries the last good fragment's timecode: the damage is in the next one sent.
          const culprit = [...sent.keys()].find((timecode) => timecode > received.FragmentTimecode);
          if (culprit === undefined) continue;
          ack = { ...received, FragmentTimecode: culprit };
        }
        const verdict = await this.#onAck(camera, ack, log);
        if (verdict === 'settled') settle(ack.FragmentTimecode);
        else if (verdict === 'retry') {
          failure ??= `fragment ${ack.FragmentTimecode}: ERROR ${ack.ErrorId} ${ackErrorName(ack.ErrorId ?? 0) ?? ''}`.trim();
          session.destroy();
        }
      }
    })().catch((error: unknown) => {
      failure ??= (error as Error).message;
    });
    let ended = false;
    acks.finally(() => {
      ended = true;
      this.#wake(camera);
    });

    const ackTimeoutMs = this.#options.ackTimeoutMs ?? 30_000;
    const watchdog = setInterval(() => {
      const oldest = sent.values().next().value;
      if (oldest !== undefined && Date.now() - oldest > ackTimeoutMs) {
        failure ??= `no acknowledgement for ${ackTimeoutMs} ms`;
        session.destroy();
        this.#wake(camera);
      }
    }, Math.min(1000, ackTimeoutMs));
    let header: Uint8Array | undefined;
    let lastSent = -Infinity;
    try {
      while (!this.#stopped && !ended && failure === undefined) {
        if (sent.size >= (this.#options.maxInFlight ?? 5)) {
          await this.#changed(camera);
          continue;
        }
        const next = this.#next(camera, kind, lastSent);
        if (!next) {
          // The backlog is done once all it sent is settled: its session ends.
          if (kind === 'backlog' && sent.size === 0) break;
          await this.#changed(camera);
          continue;
        }
        const parts = await spool.read(next);
        lastSent = next.timecodeMs;
        if (!parts) continue;
        if (header && Buffer.compare(header, parts.header) !== 0) {
          log.info('stream header changed; starting a new session', { at: next.timecodeMs });
          break;
        }
        camera.inFlight.add(next.timecodeMs);
        sent.set(next.timecodeMs, Date.now());
        if (!header) {
          header = parts.header;
          await session.write(header);
        }
        await session.write(Buffer.concat([parts.cluster, parts.tags]));
      }
      // Let what was sent be acknowledged before the session ends (stop() bounds the wait).
      while (sent.size > 0 && !ended && failure === undefined) await this.#changed(camera);
      if (!ended && failure === undefined) await session.end();
    } catch (error) {
      failure ??= (error as Error).message;
    } finally {
      clearInterval(watchdog);
      if (failure !== undefined) session.destroy();
      await acks;
      this.#sessions.delete(session);
      // Whatever was not settled may have been stored: checked, then sent again if not.
      for (const timecode of sent.keys()) {
        camera.inFlight.delete(timecode);
        camera.unverified.add(timecode);
      }
      this.#wake(camera);
    }
    if (failure === undefined && sent.size > 0) failure = 'the server ended the session before acknowledging every fragment';
    return failure === undefined ? { failed: false, reason: '' } : { failed: true, reason: failure };
  }

  /** Applies one acknowledgement; 'settled' when the fragment is done with, 'retry' to resend it on a new session. */
  async #onAck(camera: CameraUpload, ack: Ack, log: Logger): Promise<'settled' | 'retry' | 'pending'> {
    const spool = this.#options.spool;
    if (ack.EventType === 'PERSISTED') {
      await spool.remove(camera.name, ack.FragmentTimecode);
      camera.stats.persisted++;
      camera.stats.lastPersistedAt = Date.now();
      return 'settled';
    }
    if (ack.EventType !== 'ERROR') return 'pending';
    const id = ack.ErrorId ?? 0;
    const name = ackErrorName(id) ?? 'unknown error';
    camera.stats.lastError = { at: Date.now(), message: `fragment ${ack.FragmentTimecode}: ${id} ${name}` };
    if (id === TIMECODE_NOT_INCREASING) {
      log.warn('fragment dropped: the server has a later timecode', { fragment: ack.FragmentTimecode, errorId: id });
      await spool.remove(camera.name, ack.FragmentTimecode);
      camera.stats.droppedByServer++;
      return 'settled';
    }
    if (CONTENT_ERRORS.has(id)) {
      log.error('fragment refused for its content; quarantined', { fragment: ack.FragmentTimecode, errorId: id, error: name });
      await spool.quarantine(camera.name, ack.FragmentTimecode);
      camera.stats.quarantined++;
      return 'settled';
    }
    return 'retry';
  }

  /** Removes from the spool the unverified fragments the stream holds; the rest become sendable. */
  #verify(camera: CameraUpload): Promise<void> {
    if (camera.unverified.size === 0) return Promise.resolve();
    camera.verifying ??= (async () => {
      const checking = [...camera.unverified];
      const spooled = new Set(this.#options.spool.list(camera.name).map((fragment) => fragment.timecodeMs));
      const asked = checking.filter((timecode) => spooled.has(timecode));
      const stored = await storedTimecodes({
        endpoint: this.#options.endpoint,
        streamName: camera.stream,
        ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
        ...(this.#options.region ? { region: this.#options.region } : {}),
        timecodesMs: asked,
        timeoutMs: this.#options.ackTimeoutMs ?? 30_000,
      });
      for (const timecode of stored) {
        await this.#options.spool.remove(camera.name, timecode);
        camera.stats.foundStored++;
      }
      if (stored.size > 0) this.#log.info('fragments found stored after a lost ack; not sent again', { camera: camera.name, fragments: stored.size });
      // Only what was asked: a session may have broken meanwhile and added more.
      for (const timecode of checking) camera.unverified.delete(timecode);
      this.#wake(camera);
    })().finally(() => {
      camera.verifying = undefined;
    });
    return camera.verifying;
  }

  /** The lane's next fragment after `after`, not in flight anywhere and not waiting to be checked. */
  #next(camera: CameraUpload, kind: LaneKind, after: number): SpooledFragment | undefined {
    return this.#options.spool
      .list(camera.name)
      .find((fragment) => fragment.timecodeMs > after && !camera.inFlight.has(fragment.timecodeMs) && !camera.unverified.has(fragment.timecodeMs) && (kind === 'live' ? fragment.timecodeMs >= camera.liveFloor : fragment.timecodeMs < camera.liveFloor));
  }

  /** Resolves at the camera's next change or after `timeoutMs`; with `sleep`, only after `timeoutMs` (or at stop). */
  #changed(camera: CameraUpload, timeoutMs = 1000, sleep = false): Promise<void> {
    // Stopping: lanes only wait for the acks of what they sent, polling briefly.
    if (this.#stopped) return new Promise((resolve) => setTimeout(resolve, 20));
    return new Promise((resolve) => {
      let finished = false;
      const done = () => {
        finished = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const wake = () => {
        if (finished) return;
        if (!sleep || this.#stopped) done();
        else camera.waiters.push(wake);
      };
      camera.waiters.push(wake);
    });
  }

  #wake(camera: CameraUpload | undefined): void {
    if (!camera) return;
    const waiters = camera.waiters.splice(0);
    for (const waiter of waiters) waiter();
  }
}
