// What the console's browser tests share: headless Debian chromium through playwright-core, a
// page that records every console error and page error (the tests fail on any), screenshots
// under test-artifacts/console/, and a live camera: gst-launch encoding in real time into one
// PutMedia session, so the stream grows by a one-second fragment every second.

import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openPutMedia } from '../../agent/video/put-media-client.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];
export const SCREENSHOTS = join('test-artifacts', 'console');

/** A chromium page with the errors it reported so far. */
export interface ConsolePage {
  page: Page;
  errors: string[];
  screenshot(name: string): Promise<void>;
}

/** Launches chromium and opens one page (phone-sized when asked); closed when the test ends. */
export async function openConsole(t: ExecutionContext, url: string, viewport = { width: 1200, height: 900 }, credentials?: { username: string; password: string }): Promise<ConsolePage> {
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport, ...(credentials ? { httpCredentials: credentials } : {}) });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  await page.goto(url);
  await mkdir(SCREENSHOTS, { recursive: true });
  return { page, errors, screenshot: async (name) => void (await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })) };
}

/** Encodes a 320×240 test pattern in real time (1 s GOPs) and streams it into PutMedia until stopped. */
export async function startLiveCamera(endpoint: string, streamName: string): Promise<{ stop(): Promise<void> }> {
  const session = await openPutMedia({ endpoint, streamName });
  const acks = (async () => {
    for await (const _ack of session);
  })();
  const gst = spawn(
    'gst-launch-1.0',
    ['-q', 'videotestsrc', 'is-live=true', 'pattern=ball', '!', 'video/x-raw,width=320,height=240,framerate=30/1,format=I420', '!', 'x264enc', 'tune=zerolatency', 'bframes=0', 'key-int-max=30', 'threads=1', '!', 'h264parse', '!', 'matroskamux', 'streamable=true', '!', 'fdsink', 'fd=1'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const writing = (async () => {
    for await (const chunk of gst.stdout) await session.write(chunk as Buffer);
  })();
  return {
    async stop() {
      gst.kill('SIGINT');
      await writing.catch(() => {});
      await session.end();
      await acks;
    },
  };
}
