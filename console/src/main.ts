// The console's entry: hash routes (#/, #/data/<stream>, #/video/<stream>) to pages.

import { dataStreamPage } from './data-page.js';
import { el } from './dom.js';
import { overviewPage } from './overview.js';
import type { Page } from './page.js';
import { videoStreamPage } from './video-page.js';

const ROUTES: [RegExp, Page][] = [
  [/^#\/data\/(.+)$/, dataStreamPage],
  [/^#\/video\/(.+)$/, videoStreamPage],
  [/^/, overviewPage],
];

let dispose: (() => void) | undefined;

function route(): void {
  dispose?.();
  const main = document.getElementById('main')!;
  const root = el('div', { class: 'page' });
  main.replaceChildren(root);
  const hash = location.hash;
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    dispose = page(root, decodeURIComponent(match[1] ?? ''));
    return;
  }
}

window.addEventListener('hashchange', route);
route();
