// What the page says when it cannot run: no WebGPU in this browser, no adapter, no device, or
// not a secure context. Plain words and what to do, instead of a blank page.
import type { AdapterReport } from 'fovea';

const BROWSERS = [
  'Chrome or Edge 113 or newer on Windows, macOS or ChromeOS; Chrome 121 or newer on Android.',
  'Chrome on Linux: turn on chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan, or start it with --enable-unsafe-webgpu --enable-features=Vulkan.',
  'Firefox 141 or newer on Windows; elsewhere Firefox Nightly, or set dom.webgpu.enabled to true in about:config.',
  'Safari 26 or newer (macOS, iOS, iPadOS); older Safari: turn on the WebGPU feature flag (Develop › Feature Flags).',
];

/** Why WebGPU cannot even be tried here, or undefined. */
export function webgpuUnavailable(): string | undefined {
  if (!window.isSecureContext) {
    return `WebGPU is only offered to secure pages, and this page was opened over plain http from ${location.host}. Open it over https, or from localhost (npm run demo serves it on localhost).`;
  }
  if (!('gpu' in navigator) || !navigator.gpu) return 'This browser does not offer WebGPU (navigator.gpu is missing).';
  return undefined;
}

/** Fills the notice with the problem and what to do about it. */
export function showUnavailable(notice: HTMLElement, problem: string, detail?: string): void {
  const h = document.createElement('h2');
  h.textContent = 'This demo needs WebGPU';
  const p = document.createElement('p');
  p.textContent = problem;
  const what = document.createElement('p');
  what.textContent = 'The network trains and runs in WebGPU compute shaders on your GPU, so it needs a browser with WebGPU:';
  const ul = document.createElement('ul');
  for (const b of BROWSERS) {
    const li = document.createElement('li');
    li.textContent = b;
    ul.append(li);
  }
  const hint = document.createElement('p');
  hint.textContent =
    'If your browser has WebGPU but no adapter is found, the GPU may be blocklisted or hardware acceleration turned off (Chrome: Settings › System › "Use graphics acceleration when available"; chrome://gpu shows the WebGPU status).';
  notice.replaceChildren(h, p, what, ul, hint);
  if (detail) {
    const pre = document.createElement('pre');
    pre.textContent = detail;
    notice.append(pre);
  }
  notice.hidden = false;
}

/** "nvidia ampere (…)"; for a CPU adapter, also that a GPU would be much faster. */
export function describeAdapter(a: AdapterReport): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const more = [a.device, a.description].filter(Boolean).join(', ');
  const cpu = a.software ? ': a CPU adapter (WebGPU in software), so training is slow; on a GPU it runs tens of times faster' : '';
  return `${more ? `${name} (${more})` : name}${cpu}`;
}
