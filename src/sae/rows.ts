/**
 * Per-row work on a [rows, n] weight matrix (norms, row dot products, row scaling) as sparse kernels
 * over a diagonal pattern: `sddmm(diagonal, a, b)` gives each row's a[j] . b[j] and `spmm(diagonal
 * with values s, x)` adds s[j] * x[j] to each row, so a wide decoder's per-row passes run in the
 * backend's threaded code instead of JavaScript loops.
 */
import { emptySparse, type SparseRows } from "../tensor/kernels.js";

/** Returns the [rows, rows] diagonal pattern (values zeroed, for the caller to set). */
export function diagonalPattern(rows: number): SparseRows {
  const s = emptySparse(rows, rows, rows);
  for (let j = 0; j <= rows; j++) s.rowPtr[j] = j;
  for (let j = 0; j < rows; j++) s.colIdx[j] = j;
  s.nnz = rows;
  return s;
}
