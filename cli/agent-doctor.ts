// `rivulet agent doctor`: what video capture can use on this device — the GStreamer version, the
// H.264 encoders and source elements installed, the V4L2 cameras with their formats, libcamera —
// and, given a config, which pipeline each configured camera would run. It only looks: exit 0.

import { discoverCameras, bestFormat } from '../hardware/camera/discovery.js';
import { availableEncoders, gstreamerVersion, hasElement, SOURCE_ELEMENTS } from '../video/gstreamer/encoders.js';
import { ENCODERS } from '../video/gstreamer/pipeline.js';
import { captureSourceFor, capturePipelineFor } from '../agent/video/camera-source.js';
import { loadAgentConfig } from '../agent/config.js';

/** The doctor's report, for people. */
export async function doctorReport(configFile?: string): Promise<string> {
  const out: string[] = [];
  const [version, encoders, elements, discovery] = await Promise.all([
    gstreamerVersion(),
    availableEncoders(),
    Promise.all(SOURCE_ELEMENTS.map(async (name) => [name, await hasElement(name)] as const)),
    discoverCameras(),
  ]);
  out.push(`GStreamer: ${version ?? 'not found (install gstreamer1.0-tools and the plugin packages)'}`);
  out.push(`H.264 encoders: ${ENCODERS.map((name) => `${name} ${encoders.includes(name) ? 'yes' : 'no'}`).join(', ')}`);
  out.push(`sources: ${elements.map(([name, present]) => `${name} ${present ? 'yes' : 'no'}`).join(', ')}`);
  out.push(`libcamera: ${discovery.libcamera ? 'yes (libcamerasrc)' : 'no'}`);
  out.push(`V4L2 cameras (${discovery.tool ?? 'neither v4l2-ctl nor gst-device-monitor-1.0 is installed'}): ${discovery.devices.length === 0 ? 'none' : ''}`);
  for (const device of discovery.devices) {
    out.push(`  ${device.path}  ${device.name}  → would use ${bestFormat(device)}`);
    for (const format of device.formats) {
      const sizes = format.sizes.map((size) => `${size.width}x${size.height}${size.fps.length ? `@${Math.max(...size.fps)}` : ''}`);
      out.push(`    ${format.fourcc} (${format.description})${sizes.length ? `: ${sizes.join(' ')}` : ''}`);
    }
  }
  if (configFile) {
    const config = await loadAgentConfig(configFile);
    out.push(`cameras in ${config.file}: ${config.cameras.length === 0 ? 'none' : ''}`);
    for (const camera of config.cameras) {
      try {
        out.push(`  ${camera.name} → ${camera.stream}: ${capturePipelineFor(camera, captureSourceFor(camera.source, discovery.devices), encoders).description}`);
      } catch (error) {
        out.push(`  ${camera.name} → ${camera.stream}: cannot capture: ${(error as Error).message}`);
      }
    }
  }
  return out.join('\n') + '\n';
}
