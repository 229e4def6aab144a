// Which of a camera's fragments the server already holds, asked with ListFragments by producer
// timestamp. A fragment whose PERSISTED ack was lost (connection broken, agent killed) may or may
// not be stored; the uploader asks before sending it again, so the stream never holds it twice.
// ABSOLUTE timecodes make the producer timestamp the capture's epoch ms, unique per camera.

import { readWireError } from '../../lib/wire-error.js';
import { signedPost } from '../signed-post.js';

export interface StoredFragmentsQuery {
  /** The archived-media endpoint, e.g. http://127.0.0.1:4567 (the same server as PutMedia). */
  endpoint: string;
  streamName: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  /** Producer timestamps (epoch ms) to look for. */
  timecodesMs: number[];
  timeoutMs?: number;
}

/** ListFragments answered with an error; `name` is the wire error, e.g. ResourceNotFoundException. */
export class ListFragmentsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

const PAGE_SIZE = 1000;

/** The subset of `timecodesMs` that the stream holds a fragment for. */
export async function storedTimecodes(query: StoredFragmentsQuery): Promise<Set<number>> {
  const wanted = new Set(query.timecodesMs);
  const found = new Set<number>();
  if (wanted.size === 0) return found;
  const timecodes = [...wanted];
  // Seconds with a millisecond fraction; a millisecond either side absorbs the float's rounding.
  const range = { StartTimestamp: (Math.min(...timecodes) - 1) / 1000, EndTimestamp: (Math.max(...timecodes) + 1) / 1000 };
  let nextToken: string | undefined;
  do {
    const body = JSON.stringify({
      StreamName: query.streamName,
      MaxResults: PAGE_SIZE,
      FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: range },
      ...(nextToken ? { NextToken: nextToken } : {}),
    });
    const answer = await signedPost({
      url: new URL('/listFragments', query.endpoint),
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(body),
      ...(query.credentials ? { credentials: query.credentials } : {}),
      region: query.region ?? 'us-east-1',
      service: 'kinesisvideo',
      timeoutMs: query.timeoutMs ?? 10_000,
    });
    if (answer.status !== 200) {
      const error = readWireError(answer.status, answer.body);
      throw new ListFragmentsError(error.name, error.message);
    }
    const parsed = JSON.parse(answer.body) as { Fragments?: { ProducerTimestamp?: number }[]; NextToken?: unknown };
    for (const fragment of parsed.Fragments ?? []) {
      const timecode = Math.round((fragment.ProducerTimestamp ?? NaN) * 1000);
      if (wanted.has(timecode)) found.add(timecode);
    }
    nextToken = typeof parsed.NextToken === 'string' ? parsed.NextToken : undefined;
  } while (nextToken);
  return found;
}

