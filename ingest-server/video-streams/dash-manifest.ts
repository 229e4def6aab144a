// DASH MPD text (ISO/IEC 23009-1), pure: what to list comes in, the manifest goes out. One
// Period, one video Representation, a SegmentList whose SegmentTimeline gives each fragment's
// start and length in milliseconds on the producer clock, so a gap in recording is a gap in the
// timeline rather than a jump players cannot see.

/** One media segment: a fragment. */
export interface ManifestSegment {
  uri: string;
  startMs: number;
  durationMs: number;
}

/** What a manifest describes. */
export interface DashManifest {
  /** dynamic: a live window the player reloads; static: a complete recording. */
  dynamic: boolean;
  /** When the manifest was made (publishTime), epoch ms. */
  publishedMs: number;
  codecs: string;
  bandwidth: number;
  width?: number;
  height?: number;
  initUri: string;
  segments: ManifestSegment[];
  /** dynamic: how often the player should fetch the manifest again. */
  updatePeriodMs: number;
}

/** The MPD text. Dynamic manifests anchor media time to the epoch, so a segment's time is its wall-clock time. */
export function writeDashManifest(manifest: DashManifest): string {
  const segments = manifest.segments;
  const first = segments[0]?.startMs ?? 0;
  const last = segments[segments.length - 1];
  const spanMs = last ? last.startMs + last.durationMs - first : 0;
  const maxSegmentMs = Math.max(1000, ...segments.map((segment) => segment.durationMs));
  const root = manifest.dynamic
    ? `type="dynamic" availabilityStartTime="1970-01-01T00:00:00Z" publishTime="${iso(manifest.publishedMs)}" ` +
      `minimumUpdatePeriod="${duration(manifest.updatePeriodMs)}" timeShiftBufferDepth="${duration(spanMs)}" suggestedPresentationDelay="${duration(maxSegmentMs)}"`
    : `type="static" mediaPresentationDuration="${duration(spanMs)}"`;
  const size = `${manifest.width !== undefined ? ` width="${manifest.width}"` : ''}${manifest.height !== undefined ? ` height="${manifest.height}"` : ''}`;
  const timeline = segments.map((segment, index) => {
    // t only where the timeline does not simply continue from the previous segment.
    const previous = segments[index - 1];
    const continues = previous !== undefined && previous.startMs + previous.durationMs === segment.startMs;
    return `          <S${continues ? '' : ` t="${segment.startMs}"`} d="${segment.durationMs}"/>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" ${root} minBufferTime="${duration(maxSegmentMs)}">`,
    `  <Period id="0" start="PT0S">`,
    `    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">`,
    `      <Representation id="1" codecs="${manifest.codecs}" bandwidth="${Math.max(1, Math.round(manifest.bandwidth))}"${size}>`,
    // Static: the presentation starts at the first fragment, not at the epoch.
    `        <SegmentList timescale="1000"${manifest.dynamic ? '' : ` presentationTimeOffset="${first}"`}>`,
    `          <Initialization sourceURL="${xml(manifest.initUri)}"/>`,
    '          <SegmentTimeline>',
    ...timeline.map((line) => `  ${line}`),
    '          </SegmentTimeline>',
    ...segments.map((segment) => `          <SegmentURL media="${xml(segment.uri)}"/>`),
    '        </SegmentList>',
    '      </Representation>',
    '    </AdaptationSet>',
    '  </Period>',
    '</MPD>',
    '',
  ].join('\n');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An xs:duration in seconds, e.g. PT4.500S. */
function duration(ms: number): string {
  return `PT${(ms / 1000).toFixed(3)}S`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
