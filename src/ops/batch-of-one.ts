// PyTorch's 2-D convolutions and poolings take an unbatched image [C, H, W] as a batch of one;
// these do too.
import type { Tensor } from '../runtime/tensor.js';

/** `f` of the image x [C, H, W] as the batch [1, C, H, W], its result without the batch axis. */
export function asBatchOfOne(x: Tensor, f: (batch: Tensor) => Tensor): Tensor {
  const y = f(x.reshape(1, ...x.shape));
  return y.reshape(...y.shape.slice(1));
}
