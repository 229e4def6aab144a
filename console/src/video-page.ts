// A video stream: an hls.js player (LIVE by default, low-latency settings), a timeline of recorded
// fragments where a click replays from that moment (an ON_DEMAND session), thumbnails from
// GetImages along the timeline, and a clip download (GetClip) of the selected range. When a
// signaling channel has the stream's name, "Live (WebRTC)" plays the channel's master directly
// instead, back to HLS when that fails.

import type HlsType from 'hls.js';
import { playback, getJson, type SignalingChannelSummary, type TimelineFragment } from './api.js';
import { el, svg } from './dom.js';
import { clock } from './format.js';
import type { Page } from './page.js';
import { startWebRtcView } from './webrtc-view.js';

// hls.js is loaded as a classic script (/console/hls.min.js) and sets this global.
declare const Hls: typeof HlsType;

const TIMELINE_REFRESH_MS = 5000;
const TIMELINE_SPAN_MS = 30 * 60_000;
const REPLAY_SPAN_MS = 5 * 60_000;
const CLIP_SPAN_MS = 30_000;
const THUMBNAILS = 5;
const MIN_SAMPLING_MS = 3000;

type Mode = 'LIVE' | 'ON_DEMAND';

const WEBRTC_STATE_TEXT = { connecting: 'WebRTC connecting…', connected: 'WebRTC connected', failed: 'WebRTC failed' } as const;

/** Shows one video stream's player, timeline, thumbnails and clip download. */
export const videoStreamPage: Page = (root, name) => {
  const video = el('video', { id: 'player', muted: true, autoplay: true, playsinline: true, controls: true });
  video.muted = true;
  const modeBadge = el('span', { id: 'mode', class: 'badge live' }, 'LIVE');
  const position = el('span', { id: 'playing-at', class: 'muted' });
  const message = el('p', { class: 'error', hidden: true });
  const liveButton = el('button', { type: 'button', id: 'go-live', onclick: () => void start('LIVE') }, 'Go live');
  const webrtcButton = el('button', { type: 'button', id: 'webrtc-live', hidden: true, onclick: () => startWebRtc() }, 'Live (WebRTC)');
  const webrtcState = el('span', { id: 'webrtc-state', class: 'muted' });
  const latency = el('span', { id: 'webrtc-latency', class: 'muted', title: 'Estimate from the browser\'s WebRTC statistics: jitter buffer delay plus half the round trip; capture and encoding at the camera are not included.' });
  const timeline = el('div', { id: 'timeline', class: 'timeline' });
  const thumbnails = el('div', { id: 'thumbnails', class: 'thumbnails' });
  const selection = el('span', { id: 'selection', class: 'muted' });
  const clipButton = el('button', { type: 'button', id: 'download-clip', onclick: () => void downloadClip() }, 'Download clip');
  root.append(
    el('h2', {}, el('a', { href: '#/' }, 'Overview'), ' / ', name),
    message,
    el('div', { class: 'player' }, video),
    el('div', { class: 'controls' }, modeBadge, liveButton, webrtcButton, position, webrtcState, latency),
    el('h3', {}, 'Recorded'),
    timeline,
    thumbnails,
    el('div', { class: 'controls' }, selection, clipButton),
  );

  let hls: HlsType | undefined;
  let stopWebRtc: (() => void) | undefined;
  // Counts playback requests, so an HLS session that opens after the user moved on is dropped.
  let requested = 0;
  let fragments: TimelineFragment[] = [];
  let selected: { startMs: number; endMs: number } | undefined;
  let disposed = false;
  let thumbnailsShown = false;

  const fail = (what: string, error: unknown) => {
    message.textContent = `${what}: ${(error as Error).message}`;
    message.hidden = false;
  };

  /** Opens an HLS session on the server and plays it; ON_DEMAND replays from `fromMs`. */
  const start = async (mode: Mode, fromMs?: number) => {
    const request = ++requested;
    message.hidden = true;
    if (stopWebRtc) {
      stopWebRtc();
      stopWebRtc = undefined;
      webrtcState.textContent = '';
    }
    latency.textContent = '';
    const selector =
      mode === 'LIVE'
        ? { FragmentSelectorType: 'SERVER_TIMESTAMP' }
        : { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: fromMs! / 1000, EndTimestamp: Math.min(Date.now(), fromMs! + REPLAY_SPAN_MS) / 1000 } };
    try {
      const answer = (await (await playback('getHLSStreamingSessionURL', { StreamName: name, PlaybackMode: mode, HLSFragmentSelector: selector, ContainerFormat: 'FRAGMENTED_MP4', Expires: 3600 })).json()) as { HLSStreamingSessionURL: string };
      if (disposed || request !== requested) return;
      hls?.destroy();
      hls = new Hls(
        mode === 'LIVE'
          ? { lowLatencyMode: true, liveSyncDuration: 1, liveMaxLatencyDuration: 5, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 30 }
          : { startPosition: 0, backBufferLength: 30 },
      );
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls?.recoverMediaError();
        else fail('Playback stopped', new Error(data.details));
      });
      hls.loadSource(answer.HLSStreamingSessionURL);
      hls.attachMedia(video);
      video.dataset['mode'] = mode;
      modeBadge.textContent = mode === 'LIVE' ? 'LIVE' : `REPLAY from ${clock(fromMs!)}`;
      modeBadge.className = mode === 'LIVE' ? 'badge live' : 'badge';
      void video.play().catch(() => {
        // Autoplay can be refused until the user interacts; the controls are there for that.
      });
    } catch (error) {
      fail('Cannot start playback', error);
    }
  };

  /** Plays the stream's signaling channel over WebRTC; HLS LIVE takes over if that fails. */
  const startWebRtc = () => {
    requested++;
    stopWebRtc?.();
    hls?.destroy();
    hls = undefined;
    position.textContent = '';
    video.dataset['mode'] = 'WEBRTC';
    modeBadge.textContent = 'LIVE (WebRTC)';
    modeBadge.className = 'badge live';
    stopWebRtc = startWebRtcView(video, name, {
      state: (state, reason) => {
        webrtcState.dataset['state'] = state;
        webrtcState.textContent = state === 'failed' ? `${WEBRTC_STATE_TEXT.failed} (${reason}): playing HLS instead` : WEBRTC_STATE_TEXT[state];
        if (state !== 'failed' || disposed) return;
        stopWebRtc = undefined;
        void start('LIVE');
      },
      latency: (ms) => {
        latency.dataset['ms'] = String(ms);
        latency.textContent = `≈ ${ms} ms behind (estimate)`;
      },
    });
  };

  const offerWebRtc = async () => {
    try {
      const { channels } = await getJson<{ channels: SignalingChannelSummary[] }>('signaling-channels');
      webrtcButton.hidden = !channels.some((channel) => channel.name === name);
    } catch (error) {
      fail('Cannot list signaling channels', error);
    }
  };

  // Where playback is in producer time, from the playlist's EXT-X-PROGRAM-DATE-TIME.
  video.addEventListener('timeupdate', () => {
    const date = hls?.playingDate;
    if (!date) return;
    video.dataset['playingMs'] = String(date.getTime());
    position.textContent = `playing ${clock(date.getTime())}${video.dataset['mode'] === 'LIVE' ? `, ${((Date.now() - date.getTime()) / 1000).toFixed(1)} s behind` : ''}`;
  });

  const select = (startMs: number) => {
    selected = { startMs, endMs: Math.min(Date.now(), startMs + CLIP_SPAN_MS) };
    selection.textContent = `Selected ${clock(selected.startMs)}–${clock(selected.endMs)}`;
    drawTimeline();
  };

  const span = () => {
    const now = Date.now();
    const first = fragments[0]?.producerTimestampMs ?? now - 60_000;
    return { startMs: Math.max(first, now - TIMELINE_SPAN_MS), endMs: now };
  };

  const drawTimeline = () => {
    const { startMs, endMs } = span();
    const width = 1000;
    const x = (atMs: number) => ((atMs - startMs) / (endMs - startMs)) * width;
    const bar = svg('svg', { viewBox: `0 0 ${width} 40`, preserveAspectRatio: 'none', class: 'timeline-bar', 'data-start-ms': startMs, 'data-end-ms': endMs, 'data-fragments': fragments.length });
    for (const fragment of fragments) {
      if (fragment.producerTimestampMs + fragment.durationMs < startMs) continue;
      bar.append(svg('rect', { x: x(fragment.producerTimestampMs).toFixed(2), y: 8, width: Math.max(1, x(fragment.producerTimestampMs + fragment.durationMs) - x(fragment.producerTimestampMs)).toFixed(2), height: 24, class: 'fragment' }));
    }
    if (selected) bar.append(svg('rect', { x: x(selected.startMs).toFixed(2), y: 0, width: Math.max(2, x(selected.endMs) - x(selected.startMs)).toFixed(2), height: 40, class: 'selected' }));
    bar.addEventListener('click', (event) => {
      const box = bar.getBoundingClientRect();
      const atMs = Math.round(startMs + ((event.clientX - box.left) / box.width) * (endMs - startMs));
      select(atMs);
      void start('ON_DEMAND', atMs);
    });
    timeline.replaceChildren(bar, el('div', { class: 'axis-labels' }, el('span', {}, clock(startMs)), el('span', {}, 'now')));
  };

  const loadTimeline = async () => {
    try {
      const { startMs, endMs } = { startMs: Date.now() - TIMELINE_SPAN_MS, endMs: Date.now() };
      fragments = (await getJson<{ fragments: TimelineFragment[] }>(`video-streams/${encodeURIComponent(name)}/fragments?startMs=${startMs}&endMs=${endMs}`)).fragments;
      drawTimeline();
      if (!thumbnailsShown && fragments.length > 0) {
        thumbnailsShown = true;
        await loadThumbnails();
      }
    } catch (error) {
      fail('Cannot load the timeline', error);
    }
  };

  const loadThumbnails = async () => {
    const startMs = fragments[0]!.producerTimestampMs;
    const endMs = fragments.at(-1)!.producerTimestampMs + fragments.at(-1)!.durationMs;
    const samplingMs = Math.max(MIN_SAMPLING_MS, Math.floor((endMs - startMs) / THUMBNAILS));
    const answer = (await (
      await playback('getImages', { StreamName: name, ImageSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: startMs / 1000, EndTimestamp: endMs / 1000, SamplingInterval: samplingMs, Format: 'JPEG', WidthPixels: 160, MaxResults: THUMBNAILS })
    ).json()) as { Images?: { TimeStamp: number; ImageContent?: string }[] };
    thumbnails.replaceChildren(
      ...(answer.Images ?? [])
        .filter((image) => image.ImageContent)
        .map((image) => {
          const atMs = Math.round(image.TimeStamp * 1000);
          return el('button', { type: 'button', class: 'thumbnail', title: `Replay from ${clock(atMs)}`, onclick: () => (select(atMs), void start('ON_DEMAND', atMs)) }, el('img', { src: `data:image/jpeg;base64,${image.ImageContent}`, alt: clock(atMs) }), el('span', {}, clock(atMs)));
        }),
    );
  };

  const downloadClip = async () => {
    const range = selected ?? { startMs: Date.now() - CLIP_SPAN_MS, endMs: Date.now() };
    try {
      const response = await playback('getClip', { StreamName: name, ClipFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: range.startMs / 1000, EndTimestamp: range.endMs / 1000 } } });
      const url = URL.createObjectURL(await response.blob());
      const link = el('a', { href: url, download: `${name}-${new Date(range.startMs).toISOString().replace(/[:.]/g, '-')}.mp4` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      fail('Cannot download the clip', error);
    }
  };

  void start('LIVE');
  void offerWebRtc();
  void loadTimeline();
  const timer = window.setInterval(() => void loadTimeline(), TIMELINE_REFRESH_MS);
  return () => {
    disposed = true;
    window.clearInterval(timer);
    hls?.destroy();
    stopWebRtc?.();
  };
};
