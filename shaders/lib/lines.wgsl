// Lines along one axis, each taken by a team of TEAM invocations (src/runtime/shape.ts's
// lineTeam), and the combination of the members' maxima or sums (team_combine). The input is
// viewed as [outer, len, inner] (the axis in the middle): line l starts at
// (l / inner)·len·inner + l % inner, and member k of its team walks values k, k + TEAM, ...
// (stride TEAM·inner). A team per line rather than an invocation: a GPU's driver ends a dispatch
// in which one invocation walks millions of values, as a hang. The including shader declares
// `override WG` and `override TEAM` (powers of two, TEAM ≤ WG), and dispatches
// grid1d(lines, WG / TEAM) workgroups for line_member's layout.

struct LineMember {
  // The line, where it starts, and this member's first value along it.
  line: u32,
  first: u32,
  k: u32,
  // False for teams past the last line (they still take part in the workgroup's barriers).
  live: bool,
}

fn line_member(wid: vec3u, nwg: vec3u, lid: u32, lines: u32, len: u32, inner: u32) -> LineMember {
  let line = group_index(wid, nwg) * (WG / TEAM) + lid / TEAM;
  return LineMember(line, (line / inner) * len * inner + line % inner, lid % TEAM, line < lines);
}

// Where this member's team keeps its first value in a workgroup array.
fn team_lead(lid: u32) -> u32 {
  return lid - lid % TEAM;
}

var<workgroup> team_partial: array<f32, WG>;

// The team's maximum (max_not_sum) or sum of v, to each member. Every invocation of the
// workgroup calls it (it holds barriers).
fn team_combine(lid: u32, v: f32, max_not_sum: bool) -> f32 {
  if (TEAM == 1u) { return v; }
  team_partial[lid] = v;
  for (var width = TEAM / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid % TEAM < width) {
      let a = team_partial[lid];
      let b = team_partial[lid + width];
      team_partial[lid] = select(a + b, max(a, b), max_not_sum);
    }
  }
  workgroupBarrier();
  let r = team_partial[team_lead(lid)];
  // Before team_partial is written again.
  workgroupBarrier();
  return r;
}
