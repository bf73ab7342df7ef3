// A running sum that keeps about f32 precision over millions of terms, for an invocation that
// adds up a long run (a reduction's share, a softmax line, a batch of losses). Pairwise-like
// blocks: s0 takes 4 terms, s1 4 blocks of s0, s2 4 of s1, ... up to s8, which takes blocks of
// 4^8 terms; at the end they are added smallest first. A plain running sum loses log2(n) bits
// (2e-4 relative error for two million times 0.1), and stops growing at 2^24 once its terms
// are 1. Blocks of 4, not 16 or 32: four equal values add up exactly, sixteen 0.1s already
// round (1.5e-7). No compensation (Kahan, Neumaier): WGSL lets compilers reassociate float
// arithmetic, and one that does (NVIDIA's) folds the error terms of such error-free
// transformations to zero. A blocked sum needs only that each addition is about as accurate
// as IEEE's.

struct BlockedSum {
  s0: f32, s1: f32, s2: f32, s3: f32, s4: f32, s5: f32, s6: f32, s7: f32, s8: f32,
  // Terms added so far.
  c: u32,
}

fn blocked_add(acc: ptr<function, BlockedSum>, v: f32) {
  (*acc).s0 += v;
  (*acc).c++;
  let c = (*acc).c;
  // Every 4^k terms, block k - 1 is full: carry it up, lowest first. Nested, so that three terms
  // in four test one condition (the nine tests side by side ran 40% slower on lavapipe).
  if ((c & 0x3u) == 0u) {
    (*acc).s1 += (*acc).s0; (*acc).s0 = 0.0;
    if ((c & 0xfu) == 0u) {
      (*acc).s2 += (*acc).s1; (*acc).s1 = 0.0;
      if ((c & 0x3fu) == 0u) {
        (*acc).s3 += (*acc).s2; (*acc).s2 = 0.0;
        if ((c & 0xffu) == 0u) {
          (*acc).s4 += (*acc).s3; (*acc).s3 = 0.0;
          if ((c & 0x3ffu) == 0u) {
            (*acc).s5 += (*acc).s4; (*acc).s4 = 0.0;
            if ((c & 0xfffu) == 0u) {
              (*acc).s6 += (*acc).s5; (*acc).s5 = 0.0;
              if ((c & 0x3fffu) == 0u) {
                (*acc).s7 += (*acc).s6; (*acc).s6 = 0.0;
                if ((c & 0xffffu) == 0u) {
                  (*acc).s8 += (*acc).s7; (*acc).s7 = 0.0;
                }
              }
            }
          }
        }
      }
    }
  }
}

fn blocked_total(acc: BlockedSum) -> f32 {
  return (((((((acc.s0 + acc.s1) + acc.s2) + acc.s3) + acc.s4) + acc.s5) + acc.s6) + acc.s7) + acc.s8;
}
