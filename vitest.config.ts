import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `fovea` and `fovea/node` resolve to the source (as tsconfig's paths and the demo's Vite
  // config do), so code that imports the package, like examples/, runs in tests against the
  // very modules the tests import, without a build.
  resolve: {
    alias: [
      { find: /^fovea$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^fovea\/node$/, replacement: fileURLToPath(new URL('./src/node.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Each test file creates its own GPU device; software Vulkan is CPU-bound, so files run
    // one or two at a time.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  },
});
