// A seeded generator that reproduces PyTorch's CPU generator (mt19937) and the way PyTorch
// 1.13 turns its output into uniform floats and permutations, so `seed 1` initialises the seed
// CNN's parameters exactly as `torch.manual_seed(1); CNN()` does, and shuffles as its
// DataLoader does.
import { shown } from '../runtime/options.js';

const N = 624;
const M = 397;

/** The 32-bit Mersenne Twister, as std::mt19937 / at::mt19937. */
export class MT19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    const s = this.state;
    s[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = s[i - 1]! ^ (s[i - 1]! >>> 30);
      // 1812433253 · prev + i, modulo 2³², without losing bits to float rounding.
      s[i] = (((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i) >>> 0;
    }
  }

  /** An independent generator in this one's state: both draw the same numbers from here on. */
  clone(): MT19937 {
    const c = new MT19937(0);
    c.state.set(this.state);
    c.index = this.index;
    return c;
  }

  /** Next 32 random bits. */
  next(): number {
    const s = this.state;
    if (this.index >= N) {
      for (let i = 0; i < N; i++) {
        const y = (s[i]! & 0x80000000) | (s[(i + 1) % N]! & 0x7fffffff);
        s[i] = s[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = s[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** 64 random bits as a BigInt (two draws, the first as the high word, as PyTorch's random64). */
  next64(): bigint {
    const hi = BigInt(this.next());
    const lo = BigInt(this.next());
    return (hi << 32n) | lo;
  }
}

/** Refuses a seed that is not an integer from 0 to 2^53 − 1 (a RangeError naming `who`). */
export function checkSeed(who: string, seed: unknown): asserts seed is number {
  if (!Number.isSafeInteger(seed) || (seed as number) < 0) throw new RangeError(`${who}: the seed must be an integer from 0 to 2^53 − 1, got ${shown(seed)}`);
}

/** PyTorch's generator: `new TorchGenerator(1)` behaves as after `torch.manual_seed(1)`. */
export class TorchGenerator {
  private mt: MT19937;
  /** The second value of the last float64 Box–Muller pair, kept for the next normal draw (PyTorch's next_double_normal_sample). */
  private nextNormal: number | undefined;

  constructor(seed: number) {
    this.mt = new MT19937(seed);
  }

  /** An independent generator in this one's state (PyTorch's get_state/set_state, in one). */
  clone(): TorchGenerator {
    const c = new TorchGenerator(0);
    c.mt = this.mt.clone();
    c.nextNormal = this.nextNormal;
    return c;
  }

  /**
   * Takes `other`'s state, as `g.set_state(other.get_state())`: both draw the same numbers from
   * here on. For a generator that others hold (a Trainer's), to start its draws over.
   */
  setState(other: TorchGenerator): this {
    this.mt = other.mt.clone();
    this.nextNormal = other.nextNormal;
    return this;
  }

  /**
   * Fills `out` as `torch.randn` (`normal_(mean, std)`) fills a float32 tensor on the CPU: 16
   * values or more by PyTorch's vectorised Box–Muller, over 16-value blocks of uniform floats
   * (the last block drawn anew over the last 16 values where 16 does not divide the size), each
   * of its f32 steps rounded as there (2π as an f32, as its AVX2 kernel has it): 5 values in 6
   * the same bits, the others an ulp or two off (2^-23 near 0), where its SLEEF log, cos and sin
   * round otherwise than JavaScript's; fewer by its float64 Box–Muller (the same bits), whose second value waits in
   * the generator for the next draw.
   */
  normal(out: Float32Array, mean = 0, std = 1): Float32Array {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.standardNormal() * std + mean;
      return out;
    }
    const f = Math.fround;
    const twoPi = f(2 * Math.PI);
    const block = (o: number) => {
      for (let j = 0; j < 8; j++) {
        const radius = f(Math.sqrt(f(-2 * f(Math.log(f(1 - out[o + j]!))))));
        const theta = f(twoPi * out[o + j + 8]!);
        // (radius·cos)·std + mean as one fused multiply-add: the product of two f32s is exact in float64.
        out[o + j] = f(radius * f(Math.cos(theta))) * std + mean;
        out[o + j + 8] = f(radius * f(Math.sin(theta))) * std + mean;
      }
    };
    this.uniform(out, 0, 1);
    for (let o = 0; o + 16 <= n; o += 16) block(o);
    if (n % 16) {
      this.uniform(out.subarray(n - 16), 0, 1);
      block(n - 16);
    }
    return out;
  }

  /** One standard normal value by PyTorch's float64 Box–Muller (normal_distribution<double>). */
  private standardNormal(): number {
    if (this.nextNormal !== undefined) {
      const v = this.nextNormal;
      this.nextNormal = undefined;
      return v;
    }
    // uniform_real_distribution<double>: 53 random bits of a 64-bit draw.
    const uniform = () => Number(this.mt.next64() & ((1n << 53n) - 1n)) * 2 ** -53;
    const u1 = uniform();
    const u2 = uniform();
    const radius = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.nextNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }

  /**
   * Fills `out` as `tensor.uniform_(from, to)` does for float32 on the CPU: 24 random bits
   * scaled in float64, then rounded to float32.
   */
  uniform(out: Float32Array, from: number, to: number): Float32Array {
    const f = Math.fround(from);
    // The width in f32, as uniform_real's `to - from` of two floats (then x·width + from fused).
    const width = Math.fround(Math.fround(to) - f);
    for (let i = 0; i < out.length; i++) {
      const x = (this.mt.next() & 0xffffff) / 0x1000000;
      out[i] = x * width + f;
    }
    return out;
  }

  /** `torch.empty((), dtype=torch.int64).random_().item()`: a non-negative 63-bit integer. */
  randomInt64(): bigint {
    return this.mt.next64() % (1n << 63n);
  }

  /** `torch.randperm(n, generator=this)` on the CPU. */
  randperm(n: number): Uint32Array {
    const r = new Uint32Array(n);
    for (let i = 0; i < n; i++) r[i] = i;
    for (let i = 0; i < n - 1; i++) {
      const z = this.mt.next() % (n - i);
      const sav = r[i]!;
      r[i] = r[z + i]!;
      r[z + i] = sav;
    }
    return r;
  }

  /**
   * The order in which a PyTorch 1.13 DataLoader with shuffle=True visits n samples in its
   * next epoch: the iterator draws a base seed, the sampler draws the seed of a fresh
   * generator, and that generator draws randperm(n).
   */
  epochPermutation(n: number): Uint32Array {
    this.randomInt64(); // _BaseDataLoaderIter's base seed (for workers)
    const seed = this.randomInt64();
    // NOTE: Generator.manual_seed keeps the low 32 bits for mt19937.
    return new TorchGenerator(Number(seed & 0xffffffffn)).randperm(n);
  }
}

/**
 * Bound of PyTorch's default weight init, kaiming_uniform_(a=√5): gain·√(3/fan_in) with
 * gain = √(2/(1+a²)), computed in the same float64 order as torch.nn.init.
 */
export function kaimingUniformBound(fanIn: number): number {
  const gain = Math.sqrt(2.0 / (1 + Math.sqrt(5) ** 2));
  const std = gain / Math.sqrt(fanIn);
  return Math.sqrt(3.0) * std;
}
