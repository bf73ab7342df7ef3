// A running sum that keeps about f32 precision over millions of terms, for kernels where one
// invocation adds up a long run (a softmax line, a batch of losses): the same blocks as
// reduce.wgsl's (s0 takes 4 terms, s1 4 blocks of s0, ... s8 blocks of 4^8 terms, added
// smallest first at the end). A plain running sum loses log2(n) bits, and stops growing at
// 2^24 once its terms are 1: softmax over a line of 2^24 equal values was off by 19%.

struct BlockedSum {
  s0: f32, s1: f32, s2: f32, s3: f32, s4: f32, s5: f32, s6: f32, s7: f32, s8: f32,
  // Terms added so far.
  c: u32,
}

fn blocked_add(acc: ptr<function, BlockedSum>, v: f32) {
  (*acc).s0 += v;
  (*acc).c++;
  let c = (*acc).c;
  // Every 4^k terms, block k - 1 is full: carry it up, lowest first (nested, as in reduce.wgsl).
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
