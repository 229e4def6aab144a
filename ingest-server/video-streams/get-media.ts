// GetMedia: streams a Kinesis Video stream back as Matroska from a start point, then follows it
// live until the reader disconnects or the server closes. Each fragment is sent as a stream of
// its own (the producer's header, then the Cluster exactly as it was put) wrapped in the tags
// AWS's parsers read, so any MKV reader can pick up at any fragment.

import type http from 'node:http';
import type http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeTags } from '../../video/mkv/writer.js';
import { ClientLimitExceededException, InvalidArgumentException, ValidationException } from '../protocol/errors.js';
import { Input } from '../protocol/input.js';
import type { FragmentInfo, StoredFragment, VideoStreamState } from '../storage/video-store.js';
import type { VideoStreamsContext } from './context.js';
import { FRAGMENT_NUMBER_RULE } from './fragment-number.js';
import { GetMediaError, errorTags, fragmentTags, progressTags } from './media-tags.js';
import { streamFor } from './streams.js';

type Response = http.ServerResponse | http2.Http2ServerResponse;

/** AWS's limit on concurrent GetMedia calls per stream. */
const MAX_READERS_PER_STREAM = 3;
// Fragments read from the store at a time: bounds memory, keeps the socket busy.
const BATCH = 4;
// A live reader waiting for fragments checks this often that its stream still exists (a deleted
// stream gets no more appends to wake it).
const STREAM_CHECK_MS = 2000;

const START_SELECTOR_TYPES = ['FRAGMENT_NUMBER', 'SERVER_TIMESTAMP', 'PRODUCER_TIMESTAMP', 'NOW', 'EARLIEST', 'CONTINUATION_TOKEN'] as const;

/** Open GetMedia calls per stream uid, per server. */
const readers = new WeakMap<VideoStreamsContext, Map<string, number>>();

/** Where a GetMedia call starts: a first fragment to send, and/or the fragment it follows. */
interface StartPoint {
  first?: FragmentInfo;
  after?: string;
}

/** Serves POST /getMedia: validates (errors before the 200 are normal JSON errors), then streams until the reader or the server goes. */
export async function getMedia(ctx: VideoStreamsContext, input: unknown, response: Response): Promise<void> {
  const body = Input.of(input);
  const stream = await streamFor(ctx, body);
  const selector = body.object('StartSelector') ?? missingMember('startSelector');
  const start = await startPoint(ctx, stream, selector);

  const open = readers.get(ctx) ?? new Map<string, number>();
  readers.set(ctx, open);
  const count = open.get(stream.uid) ?? 0;
  if (count >= MAX_READERS_PER_STREAM) {
    throw new ClientLimitExceededException(`At most ${MAX_READERS_PER_STREAM} GetMedia calls can read stream ${stream.name} at once.`);
  }
  open.set(stream.uid, count + 1);
  try {
    response.writeHead(200, { 'content-type': 'video/webm' });
    // A reader starting at NOW hears its call succeed before the first fragment exists.
    if ('flushHeaders' in response) response.flushHeaders();
    await follow(ctx, stream, start, new MediaResponse(response));
  } finally {
    const left = (open.get(stream.uid) ?? 1) - 1;
    if (left === 0) open.delete(stream.uid);
    else open.set(stream.uid, left);
  }
}

async function startPoint(ctx: VideoStreamsContext, stream: VideoStreamState, selector: Input): Promise<StartPoint> {
  const type = selector.requiredEnumeration('StartSelectorType', START_SELECTOR_TYPES);
  switch (type) {
    case 'EARLIEST':
      return {};
    case 'NOW':
      return { after: (await ctx.store.lastFragment(stream.uid))?.number };
    case 'FRAGMENT_NUMBER':
      return { after: selector.string('AfterFragmentNumber', FRAGMENT_NUMBER_RULE) ?? required('AfterFragmentNumber', type) };
    case 'CONTINUATION_TOKEN':
      return { after: selector.string('ContinuationToken', FRAGMENT_NUMBER_RULE) ?? required('ContinuationToken', type) };
    case 'SERVER_TIMESTAMP':
    case 'PRODUCER_TIMESTAMP': {
      const atMs = selector.timestamp('StartTimestamp') ?? required('StartTimestamp', type);
      const first = await ctx.store.firstFragmentAt(stream.uid, type === 'SERVER_TIMESTAMP' ? 'server' : 'producer', atMs);
      // A start after the newest fragment waits for the next one, as NOW does.
      return first ? { first } : { after: (await ctx.store.lastFragment(stream.uid))?.number };
    }
  }
}

function required(member: string, type: string): never {
  throw new InvalidArgumentException(`StartSelector.${member} is required when StartSelectorType is ${type}.`);
}

/** Sends fragments from the start point on, waiting for new ones, until the reader or the server goes. */
async function follow(ctx: VideoStreamsContext, stream: VideoStreamState, start: StartPoint, out: MediaResponse): Promise<void> {
  let after = start.after;
  let next: FragmentInfo[] = start.first ? [start.first] : [];
  // Bumped by every append; a wait starts only if nothing was appended since the last look.
  let appended = 0;
  let wake: (() => void) | undefined;
  const unwatch = ctx.store.watch(stream.uid, () => {
    appended++;
    wake?.();
  });
  const onClosing = () => wake?.();
  ctx.closing.signal.addEventListener('abort', onClosing);
  void out.closed.then(() => wake?.());
  try {
    while (!out.isClosed && !ctx.closing.signal.aborted) {
      const seen = appended;
      if (next.length === 0) next = await ctx.store.fragmentsAfter(stream.uid, after, BATCH);
      if (next.length === 0) {
        if (appended === seen) {
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, STREAM_CHECK_MS);
          });
          clearTimeout(timer);
        }
        wake = undefined;
        if (appended === seen && (await ctx.store.getStream(stream.name))?.uid !== stream.uid) {
          await out.write([writeTags(errorTags(GetMediaError.FragmentNotFound))]);
          return;
        }
        continue;
      }
      for (const fragment of inOrder(await ctx.store.readFragments(stream.uid, next.map((info) => info.number)), next)) {
        const wait = ctx.throughput?.readDelayMs(stream.uid, fragment.header.length + fragment.cluster.length + fragment.producerTags.length) ?? 0;
        if (wait > 0) await sleep(wait);
        await out.write([
          fragment.header,
          writeTags(fragmentTags(fragment, 'get-media')),
          fragment.cluster,
          fragment.producerTags,
          writeTags(progressTags(fragment, ctx.now())),
        ]);
        if (out.isClosed) return;
      }
      after = next[next.length - 1]!.number;
      next = [];
    }
  } catch (error) {
    // The response has begun: the failure can only be told in the stream itself, as AWS does.
    ctx.log.error('GetMedia stopped', { stream: stream.name, error });
    await out.write([writeTags(errorTags(GetMediaError.Internal))]).catch(() => undefined);
  } finally {
    unwatch();
    ctx.closing.signal.removeEventListener('abort', onClosing);
    out.end();
  }
}

/** Fails as AWS does for a required structure member left out; `path` in AWS's camelCase, e.g. 'startSelector'. */
export function missingMember(path: string): never {
  throw new ValidationException(`1 validation error detected: Value null at '${path}' failed to satisfy constraint: Member must not be null`);
}

/** Stored fragments in the order they were asked for (the store may answer in any order); missing ones left out. */
export function inOrder(stored: StoredFragment[], wanted: { number: string }[]): StoredFragment[] {
  const byNumber = new Map(stored.map((fragment) => [fragment.number, fragment]));
  return wanted.map((info) => byNumber.get(info.number)).filter((fragment): fragment is StoredFragment => fragment !== undefined);
}

/** A streamed media response: writes wait for the socket to drain, and stop once the reader is gone. */
export class MediaResponse {
  readonly closed: Promise<void>;
  private gone = false;

  constructor(private readonly response: Response) {
    this.closed = new Promise((resolve) =>
      response.once('close', () => {
        this.gone = true;
        resolve();
      }),
    );
  }

  get isClosed(): boolean {
    return this.gone || this.response.destroyed;
  }

  /** Writes the parts in order, resolving once the socket takes more (or the reader went away). */
  async write(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) {
      if (this.isClosed) return;
      if (part.length === 0) continue;
      // The two response classes declare write() with overloads TypeScript cannot unite.
      if (!(this.response.write as (chunk: Uint8Array) => boolean)(part)) {
        await Promise.race([new Promise<void>((resolve) => this.response.once('drain', () => resolve())), this.closed]);
      }
    }
  }

  end(): void {
    if (!this.isClosed && !this.response.writableEnded) this.response.end();
  }
}
