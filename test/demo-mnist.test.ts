// The demo's MNIST download (demo/src/mnist.ts) when the server's Content-Length is smaller than
// the body, as it is for a gzip-encoded response (the header counts compressed bytes).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fetchBytes, loadMnist } from '../demo/src/mnist.js';

function idx(kind: 'images' | 'labels', count: number): Uint8Array {
  const header = kind === 'images' ? [0, 0, 8, 3, 0, 0, 0, count, 0, 0, 0, 28, 0, 0, 0, 28] : [0, 0, 8, 1, 0, 0, 0, count];
  const body = new Uint8Array(kind === 'images' ? count * 784 : count).map((_, i) => (kind === 'images' ? i % 256 : i % 10));
  return Uint8Array.from([...header, ...body]);
}

afterEach(() => vi.unstubAllGlobals());

describe('loadMnist', () => {
  it('assembles a body longer than its Content-Length, whatever the chunk boundaries', async () => {
    const files: Record<string, Uint8Array> = {
      'train-images-idx3-ubyte': idx('images', 3),
      'train-labels-idx1-ubyte': idx('labels', 3),
      't10k-images-idx3-ubyte': idx('images', 2),
      't10k-labels-idx1-ubyte': idx('labels', 2),
    };
    vi.stubGlobal('fetch', async (url: string) => {
      const bytes = files[url.slice(url.lastIndexOf('/') + 1)]!;
      const chunk = 100;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.slice(i, i + chunk));
          c.close();
        },
      });
      // A compressed length: a few hundred bytes for the whole file.
      return new Response(stream, { headers: { 'content-length': String(Math.floor(bytes.length / 3) + 7) } });
    });
    const { train, test } = await loadMnist(() => undefined);
    expect([train.images.count, train.labels.length, test.images.count, test.labels.length]).toEqual([3, 3, 2, 2]);
    expect(Array.from(train.images.pixels.subarray(0, 300))).toEqual(Array.from(files['train-images-idx3-ubyte']!.subarray(16, 316)));
    expect(Array.from(train.images.pixels)).toEqual(Array.from(files['train-images-idx3-ubyte']!.subarray(16)));
  });

  it('keeps every byte of a body longer than both the header and the expected size', async () => {
    const body = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
    vi.stubGlobal('fetch', async () => {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < body.length; i += 64) c.enqueue(body.slice(i, i + 64));
          c.close();
        },
      });
      return new Response(stream, { headers: { 'content-length': '300' } });
    });
    let reported = 0;
    const got = await fetchBytes({ url: 'x', name: 'x', bytes: 10 }, (n) => (reported += n));
    expect(Array.from(got)).toEqual(Array.from(body));
    expect(reported).toBe(1000);
  });
});
