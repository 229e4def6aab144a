// gst-launch descriptions of capture pipelines, built from options (pure: no GStreamer here).
// Every pipeline ends the same way: H.264 in AVC form, one access unit per buffer, muxed by
// matroskamux into an appsink. The appsink's buffers carry no timestamps or flags through
// gstreamer-superficial, so the Matroska stream is what carries them: the agent parses it back
// into frames (video/mkv/stream-reader.ts) and cuts its own fragments.

/** Where frames come from. */
export type CaptureSource =
  /** A V4L2 device; `format` is what it is asked for (discovery knows what it offers). */
  | { type: 'v4l2'; device: string; format: 'h264' | 'mjpeg' | 'raw' }
  | { type: 'libcamera'; cameraName?: string }
  /** An RTSP camera sending H.264: passed through, never re-encoded. */
  | { type: 'rtsp'; url: string }
  /** videotestsrc: tests and demos; `numBuffers` ends the stream (EOS) after that many frames. */
  | { type: 'test'; pattern?: string; numBuffers?: number };

/** H.264 encoders the agent knows how to drive, best first after passthrough. */
export const ENCODERS = ['v4l2h264enc', 'x264enc'] as const;
export type EncoderName = (typeof ENCODERS)[number];
/** What turns the source into H.264: nothing (it already is) or an encoder element. */
export type EncoderChoice = 'passthrough' | EncoderName;

/** Options of {@link buildCapturePipeline}. */
export interface CapturePipelineOptions {
  source: CaptureSource;
  encoder: EncoderChoice;
  width?: number;
  height?: number;
  fps?: number;
  /** The encoder's keyframe interval is fps × this, so every fragment starts on a keyframe. */
  fragmentSeconds: number;
  /** The appsink's name; "sink" unless given. */
  sinkName?: string;
  /** Also deliver raw I420 frames of this size to a second appsink (WebRTC live view). */
  raw?: RawBranchOptions;
}

/** The raw branch of a split pipeline: I420 frames scaled to width × height. */
export interface RawBranchOptions {
  width: number;
  height: number;
  /** The appsink's name; "raw" unless given. */
  sinkName?: string;
}

/** The default frame rate when none is configured (also what the keyframe interval assumes). */
export const DEFAULT_FPS = 15;

/** Sources that deliver H.264 already. */
export function deliversH264(source: CaptureSource): boolean {
  return source.type === 'rtsp' || (source.type === 'v4l2' && source.format === 'h264');
}

/**
 * The encoder to use: passthrough for H.264 sources; otherwise `requested` if it is available, or
 * the best available one (hardware before software). Throws when nothing can encode.
 */
export function chooseEncoder(source: CaptureSource, requested: 'auto' | EncoderChoice, available: readonly string[]): EncoderChoice {
  if (deliversH264(source)) {
    if (requested !== 'auto' && requested !== 'passthrough') throw new Error(`encoder ${requested}: the ${source.type} source already delivers H.264, which is passed through`);
    return 'passthrough';
  }
  if (requested === 'passthrough') throw new Error(`encoder passthrough: the ${source.type} source does not deliver H.264`);
  if (requested !== 'auto') {
    if (!available.includes(requested)) throw new Error(`encoder ${requested} is not installed (found: ${available.join(', ') || 'none'})`);
    return requested;
  }
  const best = ENCODERS.find((name) => available.includes(name));
  if (!best) throw new Error(`no H.264 encoder found (looked for ${ENCODERS.join(', ')}); install gstreamer1.0-plugins-ugly for x264enc`);
  return best;
}

/** The whole gst-launch description. */
export function buildCapturePipeline(options: CapturePipelineOptions): string {
  const fps = options.fps ?? DEFAULT_FPS;
  const keyframeInterval = Math.max(1, Math.round(fps * options.fragmentSeconds));
  const raw = `video/x-raw${size(options)}${rate(options)}`;
  const source = options.source;
  let head: string[];
  switch (source.type) {
    case 'v4l2': {
      const caps = source.format === 'h264' ? `video/x-h264${size(options)}${rate(options)}` : source.format === 'mjpeg' ? `image/jpeg${size(options)}${rate(options)}` : raw;
      head = [`v4l2src device=${quote(source.device)}`, caps];
      if (source.format === 'mjpeg') head.push('jpegdec');
      break;
    }
    case 'libcamera':
      head = [source.cameraName ? `libcamerasrc camera-name=${quote(source.cameraName)}` : 'libcamerasrc', raw];
      break;
    case 'rtsp':
      // TCP: interleaved RTP survives NAT and lossy links better than UDP for a recorder.
      head = [`rtspsrc location=${quote(source.url)} protocols=tcp latency=200`, 'rtph264depay'];
      break;
    case 'test':
      // is-live paces frames at the frame rate, like a camera; its rate is always set so the
      // keyframe interval matches it.
      head = [`videotestsrc is-live=true${source.pattern ? ` pattern=${quote(source.pattern)}` : ''}${source.numBuffers !== undefined ? ` num-buffers=${source.numBuffers}` : ''}`, `video/x-raw${size(options)},framerate=${fps}/1`];
      break;
  }
  const encode = encoderElements(options.encoder, keyframeInterval);
  // A live camera paces itself; only the test source is drained as fast as it comes.
  const sync = source.type === 'test' ? 'false' : 'true';
  // One Cluster per frame: the agent learns a Cluster is complete only when the next one starts,
  // so the muxer's default GOP-long clusters would hold every frame back by a GOP.
  const tail = ['h264parse', 'video/x-h264,stream-format=avc,alignment=au', 'matroskamux streamable=true max-cluster-duration=1', `appsink name=${options.sinkName ?? 'sink'} sync=${sync}`];
  if (!options.raw) return [...head, ...encode, ...tail].join(' ! ');
  // The tee splits after the source (or its decoder): recording keeps its own queue, so a slow
  // live view never holds it back.
  return `${[...head, 'tee name=split', 'queue', ...encode, ...tail].join(' ! ')} split. ! ${rawBranch(options.raw, deliversH264(source)).join(' ! ')}`;
}

/**
 * The live-view branch: a one-buffer leaky queue and a dropping appsink, so frames the consumer
 * cannot take are dropped at once instead of piling up latency. H.264 sources are decoded first,
 * behind a plain queue: dropping compressed frames would smear the picture until the next keyframe.
 */
function rawBranch(raw: RawBranchOptions, h264: boolean): string[] {
  return [
    ...(h264 ? ['queue', 'h264parse', 'avdec_h264'] : []),
    'queue leaky=downstream max-size-buffers=1',
    'videoscale',
    'videoconvert',
    `video/x-raw,format=I420,width=${raw.width},height=${raw.height}`,
    `appsink name=${raw.sinkName ?? 'raw'} drop=true max-buffers=2 sync=false`,
  ];
}

function encoderElements(encoder: EncoderChoice, keyframeInterval: number): string[] {
  switch (encoder) {
    case 'passthrough':
      return [];
    case 'v4l2h264enc':
      // The Pi's stateful encoder repeats SPS/PPS on every IDR only when told to; h264parse needs them.
      return ['videoconvert', `v4l2h264enc extra-controls="controls,repeat_sequence_header=1,h264_i_frame_period=${keyframeInterval}"`, 'video/x-h264,level=(string)4'];
    case 'x264enc':
      return ['videoconvert', 'video/x-raw,format=I420', `x264enc tune=zerolatency bframes=0 key-int-max=${keyframeInterval} speed-preset=ultrafast`];
  }
}

function size(options: CapturePipelineOptions): string {
  return `${options.width !== undefined ? `,width=${options.width}` : ''}${options.height !== undefined ? `,height=${options.height}` : ''}`;
}

function rate(options: CapturePipelineOptions): string {
  return options.fps !== undefined ? `,framerate=${options.fps}/1` : '';
}

/** A property value as gst-launch reads it: double-quoted, with quotes and backslashes escaped. */
function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}
