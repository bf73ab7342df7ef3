// In-memory files for the seeded fuzz tests of the file-reading entry points (readModelSpec,
// readOptimizerState, readIdxFile): they read through readFileChecked, which is given these
// files instead, since disk I/O would cost more than parsing. vi.mock is hoisted per test file,
// so each file that reads through it declares the mock itself, as one line calling serveMemFiles:
//
//   vi.mock('../src/model/files.js', async (importOriginal) => (await import('./fuzz/mem-files.js')).serveMemFiles(await importOriginal()));
import type * as Files from '../../src/model/files.js';
import { embed } from './property.js';

/** In-memory files by path, served by readFileChecked (files elsewhere are read from disk as usual). */
const memFiles = new Map<string, Uint8Array>();

/** The module src/model/files.ts with readFileChecked serving memFiles first: what the mock factory returns. */
export function serveMemFiles(real: typeof Files): typeof Files {
  return { ...real, readFileChecked: async (...args: Parameters<typeof real.readFileChecked>) => memFiles.get(args[0]) ?? real.readFileChecked(...args) };
}

/** Runs `f` with `bytes` as the file at `path` (as a view at an odd offset, as embed gives). */
export async function withFile<R>(path: string, bytes: Uint8Array, f: () => Promise<R>): Promise<R> {
  memFiles.set(path, embed(bytes));
  try {
    return await f();
  } finally {
    memFiles.delete(path);
  }
}
