/**
 * Standard normal distribution functions in double precision: the CDF and its upper tail (Hart's
 * rational approximation as given by West, 2005: ~1e-16 absolute, ~1e-10 relative in the far
 * tails), the quantile (Wichura's AS241, ~1e-16 relative), the bivariate upper-orthant probability,
 * and truncated-normal moments. The copula, probability compensation and the statistical tests all
 * lean on these, so they are far more accurate than any sampling error they could cause.
 */

const SQRT_2PI = 2.5066282746310002;

/** Returns P(Z <= -absX) for absX >= 0; both tails are built from it so neither loses precision. */
function lowerTail(absX: number): number {
  if (absX > 38) return 0;
  const e = Math.exp(-0.5 * absX * absX);
  if (absX < 7.07106781186547) {
    let num = 3.52624965998911e-2 * absX + 0.700383064443688;
    num = num * absX + 6.37396220353165;
    num = num * absX + 33.912866078383;
    num = num * absX + 112.079291497871;
    num = num * absX + 221.213596169931;
    num = num * absX + 220.206867912376;
    let den = 8.83883476483184e-2 * absX + 1.75566716318264;
    den = den * absX + 16.064177579207;
    den = den * absX + 86.7807322029461;
    den = den * absX + 296.564248779674;
    den = den * absX + 637.333633378831;
    den = den * absX + 793.826512519948;
    den = den * absX + 440.413735824752;
    return (e * num) / den;
  }
  let b = absX + 0.65;
  b = absX + 4 / b;
  b = absX + 3 / b;
  b = absX + 2 / b;
  b = absX + 1 / b;
  return e / b / SQRT_2PI;
}

/** Returns Phi(x) = P(Z <= x) for a standard normal Z. */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const t = lowerTail(Math.abs(x));
  return x > 0 ? 1 - t : t;
}

/** Returns the upper tail P(Z > x) = 1 - Phi(x), accurate far into the tail. */
export function normalSf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const t = lowerTail(Math.abs(x));
  return x < 0 ? 1 - t : t;
}

/** Returns the standard normal density at x. */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / SQRT_2PI;
}

const A = [3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987, 67265.7709270087, 33430.57558358813, 2509.0809287301227];
const B = [1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271, 28729.085735721943, 5226.495278852854];
const C = [1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684, 0.2417807251774506, 0.022723844989269184, 0.0007745450142783414];
const D = [1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457, 0.0005475938084995345, 1.0507500716444169e-09];
const E = [6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124, 0.0012426609473880784, 2.7115555687434876e-05, 2.0103343992922881e-07];
const F = [1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133, 1.8463183175100548e-05, 1.421511758316446e-07, 2.0442631033899397e-15];

function poly(c: readonly number[], x: number): number {
  let v = c[c.length - 1]!;
  for (let i = c.length - 2; i >= 0; i--) v = v * x + c[i]!;
  return v;
}

/** Returns Phi^-1(p), the standard normal quantile (-Infinity at 0, +Infinity at 1). */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * poly(A, r)) / poly(B, r);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let v: number;
  if (r <= 5) {
    r -= 1.6;
    v = poly(C, r) / poly(D, r);
  } else {
    r -= 5;
    v = poly(E, r) / poly(F, r);
  }
  return q < 0 ? -v : v;
}

/** Returns the threshold t with P(Z > t) = p (so a latent Gaussian above t fires with probability p). */
export function upperQuantile(p: number): number {
  return -normalQuantile(p);
}

/** Returns P(X > h, Y > k) for standard normals X, Y with correlation rho (1-D quadrature of the conditional tail). */
export function bivariateUpper(h: number, k: number, rho: number): number {
  if (!(rho >= -1 && rho <= 1)) throw new Error(`bivariateUpper: correlation ${rho} is outside [-1, 1]`);
  if (h === Infinity || k === Infinity) return 0;
  if (h === -Infinity) return normalSf(k);
  if (k === -Infinity) return normalSf(h);
  if (rho === 1) return normalSf(Math.max(h, k));
  if (rho === -1) return Math.max(0, normalSf(h) - normalCdf(k));
  // P = integral over x > h of phi(x) * P(Y > k | X = x), with Y | X = x ~ N(rho x, 1 - rho^2).
  const s = Math.sqrt(1 - rho * rho);
  const lo = Math.max(h, -9);
  const hi = Math.max(lo, 9);
  if (hi <= lo) return 0;
  // Composite Gauss-Legendre on many panels: the integrand is smooth but steep when |rho| is near 1.
  const panels = Math.max(64, Math.ceil(Math.min(4000, 64 / s)));
  const w = (hi - lo) / panels;
  let total = 0;
  for (let p = 0; p < panels; p++) {
    const a = lo + p * w;
    for (let g = 0; g < GL_X.length; g++) {
      const x = a + 0.5 * w * (GL_X[g]! + 1);
      total += 0.5 * w * GL_W[g]! * normalPdf(x) * normalSf((k - rho * x) / s);
    }
  }
  return total;
}

// 8-point Gauss-Legendre nodes and weights on [-1, 1].
const GL_X = [-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498, 0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363];
const GL_W = [0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620, 0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763];

/** Returns the correlation of the firing indicators 1[X > h] and 1[Y > k] for latent correlation rho. */
export function indicatorCorrelation(h: number, k: number, rho: number): number {
  const p = normalSf(h);
  const q = normalSf(k);
  const denom = Math.sqrt(p * (1 - p) * q * (1 - q));
  if (!(denom > 0)) return 0;
  return (bivariateUpper(h, k, rho) - p * q) / denom;
}

/** Returns P(mu + sigma Z > 0): the chance that relu(mu + sigma Z) is positive. */
export function positiveChance(mu: number, sigma: number): number {
  if (sigma === 0) return mu > 0 ? 1 : 0;
  return normalCdf(mu / sigma);
}

/** Returns E[X | X > 0] and sd(X | X > 0) for X = mu + sigma Z (the magnitude of a feature that fired). */
export function positivePartMoments(mu: number, sigma: number): { mean: number; std: number } {
  if (sigma === 0) return { mean: mu, std: 0 };
  const a = -mu / sigma;
  const tail = normalSf(a);
  if (!(tail > 0)) return { mean: NaN, std: NaN };
  const lambda = normalPdf(a) / tail;
  const mean = mu + sigma * lambda;
  const variance = sigma * sigma * (1 + a * lambda - lambda * lambda);
  return { mean, std: Math.sqrt(Math.max(0, variance)) };
}

// Phi-bar on a grid over [-8, 8], for the squeeze in belowSf (computed once; never modified).
const GRID_LO = -8;
const GRID_PER_UNIT = 64;
const GRID = Float64Array.from({ length: 16 * GRID_PER_UNIT + 1 }, (_, j) => normalSf(GRID_LO + j / GRID_PER_UNIT));

/**
 * Returns x < Phi-bar(c), usually from a table: Phi-bar decreases, so for c in a grid cell
 * [c_j, c_j+1] it lies between the cell's end values, and only an x inside that bracket needs the
 * function itself. The answer is the one normalSf would give; this is just faster.
 */
export function belowSf(x: number, c: number): boolean {
  const pos = (c - GRID_LO) * GRID_PER_UNIT;
  if (pos >= 0 && pos < GRID.length - 1) {
    const j = Math.floor(pos);
    if (x < GRID[j + 1]!) return true;
    if (x >= GRID[j]!) return false;
  }
  return x < normalSf(c);
}
