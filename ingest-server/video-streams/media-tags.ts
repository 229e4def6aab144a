// The tags Kinesis Video puts around each fragment it streams back (GetMedia,
// GetMediaForFragmentList). Parsers such as the AWS parser library find fragment numbers,
// timestamps and where to resume by these exact names.

import type { SimpleTag } from '../../video/mkv/model.js';
import type { FragmentInfo } from '../storage/video-store.js';

/** The tag names, as AWS spells them. */
export const MediaTag = {
  FragmentNumber: 'AWS_KINESISVIDEO_FRAGMENT_NUMBER',
  ServerTimestamp: 'AWS_KINESISVIDEO_SERVER_TIMESTAMP',
  ProducerTimestamp: 'AWS_KINESISVIDEO_PRODUCER_TIMESTAMP',
  /** GetMediaForFragmentList's spelling of the two timestamps. */
  ServerSideTimestamp: 'AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP',
  ProducerSideTimestamp: 'AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP',
  MillisBehindNow: 'AWS_KINESISVIDEO_MILLIS_BEHIND_NOW',
  ContinuationToken: 'AWS_KINESISVIDEO_CONTINUATION_TOKEN',
  ErrorCode: 'AWS_KINESISVIDEO_ERROR_CODE',
  ErrorId: 'AWS_KINESISVIDEO_ERROR_ID',
} as const;

/** Why a GetMedia response stopped early, with AWS's ids and descriptions. */
export const GetMediaError = {
  FragmentNotFound: { id: 4000, description: 'Requested fragment is not found' },
  Internal: { id: 5000, description: 'Internal error' },
} as const;

/** The tags that end a GetMedia response cut short: the error's description and id. */
export function errorTags(error: { id: number; description: string }): SimpleTag[] {
  return [
    { name: MediaTag.ErrorCode, value: error.description },
    { name: MediaTag.ErrorId, value: String(error.id) },
  ];
}

/** Epoch seconds with milliseconds, the way the tags carry timestamps: "1726677687.758". */
export function tagTimestamp(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** The tags before a fragment's Cluster: its number and both timestamps, in GetMedia's or GetMediaForFragmentList's spelling. */
export function fragmentTags(fragment: FragmentInfo, spelling: 'get-media' | 'fragment-list'): SimpleTag[] {
  const listed = spelling === 'fragment-list';
  return [
    { name: MediaTag.FragmentNumber, value: fragment.number },
    { name: listed ? MediaTag.ServerSideTimestamp : MediaTag.ServerTimestamp, value: tagTimestamp(fragment.serverTimestampMs) },
    { name: listed ? MediaTag.ProducerSideTimestamp : MediaTag.ProducerTimestamp, value: tagTimestamp(fragment.producerTimestampMs) },
  ];
}

/** The tags GetMedia puts after a fragment: how far behind the newest data the reader is, and where to resume. */
export function progressTags(fragment: FragmentInfo, nowMs: number): SimpleTag[] {
  return [
    { name: MediaTag.MillisBehindNow, value: String(Math.max(0, nowMs - fragment.serverTimestampMs)) },
    { name: MediaTag.ContinuationToken, value: fragment.number },
  ];
}
