// Library build: ESM bundles for Node and browsers, with the WGSL sources inlined by
// import.meta.glob (the same mechanism vitest and the demo use). Types come from tsc.
import { defineConfig } from 'vite';
import pkg from './package.json' with { type: 'json' };

const external = [/^node:/, ...Object.keys(pkg.dependencies ?? {})];

export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: {
      entry: { index: 'src/index.ts' },
      formats: ['es'],
    },
    rollupOptions: { external },
  },
});
