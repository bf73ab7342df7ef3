// PyTorch's 2-D convolutions and poolings take an unbatched image [C, H, W] as a batch of one;
// these do too.
import { DeviceLimitError, ShapeError } from '../runtime/errors.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';

/**
 * `f` of the image x [C, H, W] as the batch [1, C, H, W], its result without the batch axis. A
 * refusal, which names the batch's shape, says it is the image's.
 */
export function asBatchOfOne(x: Tensor, f: (batch: Tensor) => Tensor): Tensor {
  let y: Tensor;
  try {
    y = f(x.reshape(1, ...x.shape));
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    const Cls = e instanceof DeviceLimitError ? DeviceLimitError : ShapeError;
    throw new Cls(e.op, `${e.detail} (the image ${fmt(x.shape)} taken as a batch of one)`, e.shapes);
  }
  return y.reshape(...y.shape.slice(1));
}
