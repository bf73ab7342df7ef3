// The op functions, and the table of every op definition. The table's type requires each op
// to state a gradient rule (or why it has none), so a missing rule fails to type-check.
import type { OpDef } from '../runtime/op.js';
import { addOp, affineOp, divOp, mulOp, reluGradOp, reluOp, subOp } from './elementwise.js';
import { absOp, clampMaskOp, clampOp, hardsigmoidOp, hardshrinkOp, hardswishOp, hardswishSlopeOp, xlogxOp, shrinkMaskOp, softshrinkOp, thresholdMaskOp, thresholdOp, eluOp, eluSlopeOp, expOp, expm1Op, softplusOp, softplusSlopeOp, leakyReluOp, leakyReluSlopeOp, logOp, maximumOp, maxShareOp, minimumOp, normalCdfOp, powOp, sigmoidOp, signOp, sqrtOp, tanhOp } from './math.js';
import { binaryCrossEntropyGradOp, binaryCrossEntropyOp } from './losses.js';
import { matmulOp } from './matmul.js';
import { reshapeOp } from './reshape.js';
import { amaxOp, amaxWeightsOp, sumOp } from './reduce.js';
import { col2imOp, im2colOp } from './im2col.js';
import { depthwiseConv2dOp, depthwiseInputGradOp, depthwiseWeightGradChunksOp, depthwiseWeightGradOp } from './depthwise.js';
import { maxPool2dArgmaxOp, maxPool2dBackwardOp, maxPool2dOp, maxPool2dPickOp } from './maxpool.js';
import { softmaxCrossEntropyBackwardOp, softmaxCrossEntropyOp, softmaxCrossEntropyRowsOp, softmaxCrossEntropyScaleOp } from './softmax_cross_entropy.js';
import { pickOp, placeOp } from './cross_entropy.js';
import { logSoftmaxOp, logSumExpOp, softmaxOp } from './softmax.js';
import { argmaxOp } from './argmax.js';
import { affineTransformOp } from './affine_transform.js';
import { gridSampleBucketsOp, gridSampleGridGradOp, gridSampleInputGradOp, gridSampleOp } from './grid_sample.js';
import { gatherBackwardOp, gatherBucketsOp, gatherOp } from './gather.js';
import { eqOp, geOp, gtOp, leOp, ltOp, neOp, whereOp } from './compare.js';
import { dropoutMaskOp } from './dropout.js';
import { randomOp } from './random.js';
import { batchNormGradInputOp, batchNormGradSumsOp, batchNormOp, batchNormStatsGradOp, batchNormStatsOp, chunksOp, gradChunksOp } from './batchnorm.js';
import { transposeOp } from './transpose.js';
import { concatOp, narrowBackwardOp, narrowOp } from './slice.js';

export { add, sub, mul, div, relu, affine, scale, neg } from './elementwise.js';
export { exp, expm1, log, sqrt, sigmoid, tanh, leakyRelu, elu, selu, gelu, silu, softplus, mish, hardtanh, relu6, hardsigmoid, hardswish, logsigmoid, softsign, tanhshrink, prelu, softshrink, hardshrink, threshold, celu, glu, abs, clamp, maximum, minimum, pow } from './math.js';
export { sum, mean, max, min, sumTo, broadcastTo } from './reduce.js';
export { eq, ne, lt, le, gt, ge, where } from './compare.js';
export { variance, std, vectorNorm, normalize, cosineSimilarity, pairwiseDistance, type VarianceOptions, type VectorNormOptions, type NormalizeOptions, type PairwiseDistanceOptions } from './norms.js';
export { matmul, type MatmulOptions } from './matmul.js';
export { linear } from './linear.js';
export { conv2d, type Conv2dOptions, type PaddingMode } from './conv2d.js';
export { convTranspose2d, type ConvTranspose2dOptions } from './conv_transpose2d.js';
export { adaptiveAvgPool2d, interpolate, type InterpolateMode, type InterpolateOptions } from './resample.js';
export { pad, type PadMode, type PadOptions } from './pad.js';
export { permute, pixelShuffle, pixelUnshuffle } from './permute.js';
export { mseLoss, l1Loss, smoothL1Loss, huberLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits, klDiv, poissonNllLoss, gaussianNllLoss, type LossOptions, type Reduction } from './losses.js';
export { marginRankingLoss, hingeEmbeddingLoss, softMarginLoss, multiLabelSoftMarginLoss, cosineEmbeddingLoss, tripletMarginLoss, multiMarginLoss, type TripletMarginOptions, type MultiMarginOptions } from './margin_losses.js';
export { im2col, col2im, type Window, type Pair } from './im2col.js';
export { adaptiveMaxPool2d, maxPool2d, maxPool2dBackward, type MaxPool2dOptions, type MaxPool2dWindowOptions } from './maxpool.js';
export { avgPool2d, type AvgPool2dOptions } from './avgpool.js';
export { softmaxCrossEntropy, softmaxCrossEntropyBackward, type SoftmaxCrossEntropyOptions } from './softmax_cross_entropy.js';
export { crossEntropy, nllLoss, type CrossEntropyOptions, type NllLossOptions } from './cross_entropy.js';
export { softmax, softmin, logSoftmax, logSumExp } from './softmax.js';
export { argmax, argmin } from './argmax.js';
export { affineTransform, type AffineTransformOptions } from './affine_transform.js';
export { affineGrid, gridSample, type GridSampleOptions } from './grid_sample.js';
export { dropout, dropout2d, type DropoutOptions } from './dropout.js';
export { randomUniform, randomNormal, rrelu, type RandomTensorOptions, type RReluOptions } from './random.js';
export { batchNorm, type BatchNormOptions } from './batchnorm.js';
export { groupNorm, instanceNorm, layerNorm, type GroupNormOptions, type InstanceNormOptions, type LayerNormOptions } from './layernorm.js';
export { gather } from './gather.js';
export { transpose } from './permute.js';
export { narrow, concat, stack } from './slice.js';

/**
 * Every op definition by name, exported as `ops`: `rt.record(ops.name, inputs, attrs)` records one
 * directly, as the tests do for kernels no public function runs alone (narrow_backward,
 * max_pool2d_pick) and to check record's own argument errors.
 */
export const ops = {
  add: addOp,
  sub: subOp,
  mul: mulOp,
  div: divOp,
  relu: reluOp,
  relu_grad: reluGradOp,
  affine: affineOp,
  exp: expOp,
  expm1: expm1Op,
  log: logOp,
  xlogx: xlogxOp,
  bce: binaryCrossEntropyOp,
  bce_grad: binaryCrossEntropyGradOp,
  sqrt: sqrtOp,
  sigmoid: sigmoidOp,
  tanh: tanhOp,
  leaky_relu: leakyReluOp,
  leaky_relu_slope: leakyReluSlopeOp,
  elu: eluOp,
  elu_slope: eluSlopeOp,
  normal_cdf: normalCdfOp,
  softplus: softplusOp,
  softplus_slope: softplusSlopeOp,
  abs: absOp,
  sign: signOp,
  clamp: clampOp,
  clamp_mask: clampMaskOp,
  hardsigmoid: hardsigmoidOp,
  hardswish: hardswishOp,
  hardswish_slope: hardswishSlopeOp,
  softshrink: softshrinkOp,
  hardshrink: hardshrinkOp,
  shrink_mask: shrinkMaskOp,
  threshold: thresholdOp,
  threshold_mask: thresholdMaskOp,
  maximum: maximumOp,
  minimum: minimumOp,
  max_share: maxShareOp,
  pow: powOp,
  sum: sumOp,
  amax: amaxOp,
  amax_weights: amaxWeightsOp,
  reshape: reshapeOp,
  matmul: matmulOp,
  im2col: im2colOp,
  col2im: col2imOp,
  depthwise_conv2d: depthwiseConv2dOp,
  depthwise_conv2d_input_grad: depthwiseInputGradOp,
  depthwise_conv2d_weight_grad: depthwiseWeightGradOp,
  depthwise_conv2d_weight_grad_chunks: depthwiseWeightGradChunksOp,
  max_pool2d: maxPool2dOp,
  max_pool2d_argmax: maxPool2dArgmaxOp,
  max_pool2d_backward: maxPool2dBackwardOp,
  max_pool2d_pick: maxPool2dPickOp,
  softmax: softmaxOp,
  log_softmax: logSoftmaxOp,
  log_sum_exp: logSumExpOp,
  softmax_cross_entropy: softmaxCrossEntropyOp,
  softmax_cross_entropy_rows: softmaxCrossEntropyRowsOp,
  softmax_cross_entropy_backward: softmaxCrossEntropyBackwardOp,
  softmax_cross_entropy_scale: softmaxCrossEntropyScaleOp,
  pick: pickOp,
  place: placeOp,
  argmax: argmaxOp,
  affine_transform: affineTransformOp,
  grid_sample: gridSampleOp,
  grid_sample_buckets: gridSampleBucketsOp,
  grid_sample_grid_grad: gridSampleGridGradOp,
  grid_sample_input_grad: gridSampleInputGradOp,
  eq: eqOp,
  ne: neOp,
  lt: ltOp,
  le: leOp,
  gt: gtOp,
  ge: geOp,
  where: whereOp,
  gather: gatherOp,
  gather_backward: gatherBackwardOp,
  gather_buckets: gatherBucketsOp,
  transpose: transposeOp,
  narrow: narrowOp,
  narrow_backward: narrowBackwardOp,
  concat: concatOp,
  dropout_mask: dropoutMaskOp,
  random: randomOp,
  batch_norm: batchNormOp,
  batch_norm_chunks: chunksOp,
  batch_norm_stats: batchNormStatsOp,
  batch_norm_stats_grad: batchNormStatsGradOp,
  batch_norm_grad_chunks: gradChunksOp,
  batch_norm_grad_sums: batchNormGradSumsOp,
  batch_norm_grad_input: batchNormGradInputOp,
} satisfies Record<string, OpDef<any>>;
