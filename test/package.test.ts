// The package as npm publishes it: `npm pack` (package.json "files": dist, shaders, README and
// the docs and examples it links to),
// installed from the tarball into another project, gives the `fovea` command (bin) and both
// entry points ('fovea', 'fovea/node') at run time and to TypeScript, and nothing else is
// packed (no tests, sources or demo).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const dir = mkdtempSync(join(tmpdir(), 'fovea-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

it('installs from its tarball into another project: npx fovea, the API and its types work there', () => {
  // dist/ is built by pretest; packing must not build again.
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as { files: { path: string }[] }[];
  const paths = packed[0]!.files.map((f) => f.path);
  expect(paths).toContain('dist/cli.js');
  expect(paths).toContain('dist/types/index.d.ts');
  expect(paths).toEqual(expect.arrayContaining(['docs/embedding.md', 'examples/README.md', 'examples/embed-node.mjs']));
  expect(paths.filter((p) => !/^(dist\/|shaders\/|docs\/|examples\/|README\.md$|package\.json$|LICENSE$)/.test(p))).toEqual([]);

  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // The dependencies come from npm's cache where the project's own install left them.
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, `fovea-${version}.tgz`), '@types/node@22'], app);
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
}, 180_000);
