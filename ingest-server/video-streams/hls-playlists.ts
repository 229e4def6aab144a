// HLS playlist text (RFC 8216), pure: what to list comes in, the playlist goes out.

/** The one variant a master playlist offers. */
export interface MasterPlaylist {
  /** Peak bits per second of the media. */
  bandwidth: number;
  /** RFC 6381 codecs, e.g. "avc1.64001f". */
  codecs: string;
  width?: number;
  height?: number;
  mediaUri: string;
}

/** One segment of a media playlist. */
export interface PlaylistSegment {
  uri: string;
  durationMs: number;
  /** Wall-clock time of the segment's first frame (EXT-X-PROGRAM-DATE-TIME). */
  programDateTimeMs: number;
  /** EXT-X-DISCONTINUITY before this segment. */
  discontinuity: boolean;
}

/** A media playlist. */
export interface MediaPlaylist {
  /** 7 for fragmented MP4 (EXT-X-MAP), 3 for MPEG-TS. */
  version: number;
  mediaSequence: number;
  /** EXT-X-MAP's URI: the fMP4 init segment. */
  mapUri?: string;
  segments: PlaylistSegment[];
  /** EXT-X-ENDLIST: no segment will be added. */
  ended: boolean;
  /** ON_DEMAND playlists are complete from the start (EXT-X-PLAYLIST-TYPE:VOD). */
  vod: boolean;
  /** Tells players they may ask for the next segment with _HLS_msn and be answered once it exists (EXT-X-SERVER-CONTROL). */
  blockingReload: boolean;
}

/** The master playlist text. */
export function writeMasterPlaylist(master: MasterPlaylist): string {
  const resolution = master.width && master.height ? `,RESOLUTION=${master.width}x${master.height}` : '';
  return [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-STREAM-INF:BANDWIDTH=${Math.max(1, Math.round(master.bandwidth))},CODECS="${master.codecs}"${resolution}`,
    master.mediaUri,
    '',
  ].join('\n');
}

/** The media playlist text. */
export function writeMediaPlaylist(playlist: MediaPlaylist): string {
  // The target duration bounds every segment's duration rounded to the nearest second.
  const target = Math.max(1, ...playlist.segments.map((segment) => Math.round(segment.durationMs / 1000)));
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${playlist.version}`, `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-MEDIA-SEQUENCE:${playlist.mediaSequence}`];
  if (playlist.vod) lines.push('#EXT-X-PLAYLIST-TYPE:VOD');
  if (playlist.blockingReload) lines.push('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES');
  if (playlist.mapUri !== undefined) lines.push(`#EXT-X-MAP:URI="${playlist.mapUri}"`);
  for (const segment of playlist.segments) {
    if (segment.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateTimeMs).toISOString()}`);
    lines.push(`#EXTINF:${(segment.durationMs / 1000).toFixed(3)},`, segment.uri);
  }
  if (playlist.ended) lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}
