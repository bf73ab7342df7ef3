// Library build: ESM bundles for Node and browsers, with the WGSL sources inlined by
// import.meta.glob (the same mechanism vitest and the demo use). Types come from tsc.
// Entries: `index` (browser-safe library), `node` (Node-only: files, checkpoints) and `cli`
// (the `fovea` command, given a shebang and made executable here).
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { defineConfig } from 'vite';
import pkg from './package.json' with { type: 'json' };

const external = [/^node:/, ...Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })];

export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: {
      entry: { index: 'src/index.ts', node: 'src/node.ts', cli: 'src/cli.ts' },
      formats: ['es'],
    },
    // NOTE: the bundler keeps src/cli.ts's `#!/usr/bin/env node` line at the top of cli.js
    // (adding a banner as well would put a second one on line 2, a syntax error).
    rollupOptions: { external },
  },
  plugins: [
    {
      name: 'fovea-cli-executable',
      apply: 'build',
      async writeBundle(options) {
        await chmod(join(options.dir ?? 'dist', 'cli.js'), 0o755);
      },
    },
  ],
});
