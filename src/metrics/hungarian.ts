/**
 * Linear sum assignment (the Hungarian algorithm, in its shortest-augmenting-path form with row and
 * column potentials, O(n^2 m) for n <= m). It plays the role of scipy's `linear_sum_assignment`,
 * which SAELens's MCC uses: minimum total cost over one-to-one matchings of the smaller side.
 */

/** A one-to-one matching: pair i joins row rowInd[i] to column colInd[i], sorted by row. */
export interface Assignment {
  rowInd: Int32Array;
  colInd: Int32Array;
  /** Sum of cost[rowInd[i], colInd[i]]. */
  totalCost: number;
}

/**
 * Returns the minimum-cost matching of a [rows, cols] cost matrix (row-major). Every row is matched
 * when rows <= cols, every column otherwise; as scipy, pairs come sorted by row index.
 */
export function linearSumAssignment(cost: ArrayLike<number>, rows: number, cols: number): Assignment {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new Error(`linearSumAssignment: bad shape [${rows}, ${cols}]`);
  }
  if (cost.length !== rows * cols) {
    throw new Error(`linearSumAssignment: cost has ${cost.length} entries, expected ${rows * cols} for [${rows}, ${cols}]`);
  }
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i]!)) throw new Error(`linearSumAssignment: cost entry ${i} is ${cost[i]}, not finite`);
  }
  if (rows === 0 || cols === 0) return { rowInd: new Int32Array(0), colInd: new Int32Array(0), totalCost: 0 };
  // The core needs at least as many columns as rows; otherwise solve the transpose.
  const transposed = rows > cols;
  const n = transposed ? cols : rows;
  const m = transposed ? rows : cols;
  const at = transposed ? (i: number, j: number) => cost[j * cols + i]! : (i: number, j: number) => cost[i * cols + j]!;
  const colOfRow = solve(n, m, at);
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) pairs.push(transposed ? [colOfRow[i]!, i] : [i, colOfRow[i]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const rowInd = new Int32Array(pairs.length);
  const colInd = new Int32Array(pairs.length);
  let totalCost = 0;
  pairs.forEach(([r, c], k) => {
    rowInd[k] = r;
    colInd[k] = c;
    totalCost += cost[r * cols + c]!;
  });
  return { rowInd, colInd, totalCost };
}

/** Returns, for each of n rows, its column in a minimum-cost matching (n <= m). */
function solve(n: number, m: number, at: (i: number, j: number) => number): Int32Array {
  // 1-based arrays with index 0 as the virtual start column, as in the classic formulation.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const rowOfCol = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    rowOfCol[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = rowOfCol[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = at(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[rowOfCol[j]!]! += delta;
          v[j]! -= delta;
        } else {
          minv[j]! -= delta;
        }
      }
      j0 = j1;
    } while (rowOfCol[j0] !== 0);
    do {
      const j1 = way[j0]!;
      rowOfCol[j0] = rowOfCol[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const colOfRow = new Int32Array(n);
  for (let j = 1; j <= m; j++) if (rowOfCol[j]! > 0) colOfRow[rowOfCol[j]! - 1] = j - 1;
  return colOfRow;
}

/** Returns the number of inner-loop steps the exact algorithm needs at most, min(r,c)^2 * max(r,c). */
export function assignmentWork(rows: number, cols: number): number {
  const n = Math.min(rows, cols);
  return n * n * Math.max(rows, cols);
}

/**
 * Returns a greedy matching (repeatedly take the cheapest remaining pair), for matrices too large
 * for the exact algorithm; it is not optimal, and results built on it say so. To stay within memory
 * on wide matrices it ranks each row's `candidates` cheapest columns first, then finishes any row
 * left over with a scan of the free columns.
 */
export function greedyAssignment(cost: ArrayLike<number>, rows: number, cols: number, candidates = 16): Assignment {
  const transposed = rows > cols;
  const n = transposed ? cols : rows;
  const m = transposed ? rows : cols;
  const at = transposed ? (i: number, j: number) => cost[j * cols + i]! : (i: number, j: number) => cost[i * cols + j]!;
  const k = Math.min(m, Math.max(1, candidates));
  const pairs: number[] = [];
  for (let i = 0; i < n; i++) {
    const best: number[] = [];
    for (let j = 0; j < m; j++) {
      if (best.length === k && at(i, j) >= at(i, best[k - 1]!)) continue;
      let p = best.length === k ? k - 1 : best.length;
      if (best.length < k) best.push(j);
      while (p > 0 && at(i, best[p - 1]!) > at(i, j)) {
        best[p] = best[p - 1]!;
        p--;
      }
      best[p] = j;
    }
    for (const j of best) pairs.push(i, j);
  }
  const order = Array.from({ length: pairs.length / 2 }, (_, q) => q);
  order.sort((a, b) => at(pairs[2 * a]!, pairs[2 * a + 1]!) - at(pairs[2 * b]!, pairs[2 * b + 1]!) || a - b);
  const colOfRow = new Int32Array(n).fill(-1);
  const colUsed = new Uint8Array(m);
  for (const q of order) {
    const i = pairs[2 * q]!;
    const j = pairs[2 * q + 1]!;
    if (colOfRow[i]! >= 0 || colUsed[j]) continue;
    colOfRow[i] = j;
    colUsed[j] = 1;
  }
  for (let i = 0; i < n; i++) {
    if (colOfRow[i]! >= 0) continue;
    let bj = -1;
    for (let j = 0; j < m; j++) if (!colUsed[j] && (bj < 0 || at(i, j) < at(i, bj))) bj = j;
    colOfRow[i] = bj;
    colUsed[bj] = 1;
  }
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push(transposed ? [colOfRow[i]!, i] : [i, colOfRow[i]!]);
  out.sort((a, b) => a[0] - b[0]);
  let totalCost = 0;
  for (const [r, c] of out) totalCost += cost[r * cols + c]!;
  return { rowInd: Int32Array.from(out, (p) => p[0]), colInd: Int32Array.from(out, (p) => p[1]), totalCost };
}
