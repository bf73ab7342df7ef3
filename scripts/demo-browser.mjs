// The built demo in Debian's Chromium, for the demo's browser tests and its training benchmark:
// builds demo/ with Vite, serves demo/dist on a free localhost port, and launches Chromium
// headless with WebGPU on SwiftShader (a real GPU is not needed, and never used, by these flags).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { build, preview } from 'vite';

const CHROMIUM = '/usr/bin/chromium';
const DEMO_CONFIG = join(resolve(import.meta.dirname, '..'), 'demo/vite.config.ts');

// WebGPU on SwiftShader AND canvases that draw. Without --use-angle=vulkan compute still works
// but 2D canvases read back zeros and nothing shows in screenshots; with ANGLE on SwiftShader
// instead, WebGPU canvases stay blank.
const FLAGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-angle=vulkan',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Builds the demo and serves the static site; resolves to its address and the server. */
export async function serveDemo() {
  await build({ configFile: DEMO_CONFIG, logLevel: 'warn' });
  const server = await preview({ configFile: DEMO_CONFIG, preview: { host: '127.0.0.1', port: 0 }, logLevel: 'warn' });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview reported no local address for the demo');
  return { url, server };
}

/** Headless Chromium with WebGPU on SwiftShader. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the demo's browser tests and npm run bench:demo drive Debian's Chromium. Install it with: bash scripts/setup-system.sh --test`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}
