// Step-level differences between two pipeline versions, and a line diff for queries.

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** [{name, change: "added"|"removed"|"changed"|"same", before, after, fields}] by step. */
export function diffVersions(older, newer) {
  const before = new Map(older.steps.map((st) => [st.name, st]));
  const after = new Map(newer.steps.map((st) => [st.name, st]));
  const out = [];
  for (const st of newer.steps) {
    const old = before.get(st.name);
    if (!old) { out.push({ name: st.name, change: "added", after: st, fields: [] }); continue; }
    const fields = [...new Set([...Object.keys(old.config), ...Object.keys(st.config)])]
      .filter((k) => !same(old.config[k], st.config[k]));
    out.push({ name: st.name, change: fields.length ? "changed" : "same", before: old, after: st, fields });
  }
  for (const st of older.steps) {
    if (!after.has(st.name)) out.push({ name: st.name, change: "removed", before: st, fields: [] });
  }
  return out;
}

/** Lines of `a` and `b` marked " " (both), "-" (only a) or "+" (only b): LCS, fine for SQL. */
export function diffLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(["-", x[i++]]);
    else out.push(["+", y[j++]]);
  }
  while (i < n) out.push(["-", x[i++]]);
  while (j < m) out.push(["+", y[j++]]);
  return out;
}
