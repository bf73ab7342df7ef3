// A walk over a broadcast output's elements i, i + step, i + 2·step, … (a grid-stride loop, see
// strideGrid in src/runtime/device.ts), keeping each element's coordinates over the runs of axes
// in Params (rank, shape): the step is added digit by digit, carrying, rather than each index
// divided down anew, as integer division is slow on a CPU adapter. Operands' offsets come from
// the coordinates and their strides (0 on a broadcast axis). Loops run over all MAX_RUNS runs,
// those past the rank left alone, so a compiler can unroll them and keep the digits in registers.

const MAX_RUNS = 8u;

fn walk_size(d: u32) -> u32 {
  return params.shape[d / 4u][d % 4u];
}

// The coordinates of element v, innermost run last.
fn walk_digits(v: u32) -> array<u32, MAX_RUNS> {
  var out: array<u32, MAX_RUNS>;
  var rest = v;
  for (var k = 0u; k < MAX_RUNS; k++) {
    let d = MAX_RUNS - 1u - k;
    if (d < params.rank) {
      let size = walk_size(d);
      out[d] = rest % size;
      rest = rest / size;
    }
  }
  return out;
}

// A walk: the coordinates of its element, and the digits of its step.
struct Walk {
  coord: array<u32, MAX_RUNS>,
  inc: array<u32, MAX_RUNS>,
}

// The walk from element i by `step` (the step's digits only where there is a next element: a CPU
// adapter's layout; a GPU's takes one element per invocation).
fn walk_start(i: u32, step: u32) -> Walk {
  var w: Walk;
  w.coord = walk_digits(i);
  if (i + step < params.n) { w.inc = walk_digits(step); }
  return w;
}

// The walk moved on by its step (the next element within the output).
fn walk_next(w: ptr<function, Walk>) {
  var carry = 0u;
  for (var k = 0u; k < MAX_RUNS; k++) {
    let d = MAX_RUNS - 1u - k;
    if (d < params.rank) {
      let size = walk_size(d);
      let c = (*w).coord[d] + (*w).inc[d] + carry;
      carry = select(0u, 1u, c >= size);
      (*w).coord[d] = select(c, c - size, c >= size);
    }
  }
}

// The offset of coordinates `coord` in an operand of `strides`.
fn walk_offset(coord: array<u32, MAX_RUNS>, strides: array<vec4<u32>, 2>) -> u32 {
  var at = 0u;
  for (var d = 0u; d < MAX_RUNS; d++) {
    if (d < params.rank) { at += coord[d] * strides[d / 4u][d % 4u]; }
  }
  return at;
}
