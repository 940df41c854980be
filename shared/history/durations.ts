/**
 * Job durations per hour as a histogram, so the per-name charts can show
 * p50 / p95 / p99 over 7 and 30 days without keeping every duration twice:
 * stats_hourly.duration_hist holds DURATION_BUCKETS counts, bucket 0 for
 * durations under 1 ms, bucket i ≥ 1 for [2^((i-1)/4), 2^(i/4)) ms (four
 * buckets per doubling, so a percentile read back is within 19 % of the
 * true value, and usually much closer), the last bucket open-ended (≥ 4.7 h).
 * Hours add up bucket by bucket, so any range of hours, queues or names
 * merges exactly.
 */
export const DURATION_BUCKETS = 96;
const PER_DOUBLING = 4;

/** The bucket a duration in ms falls in. */
export function durationBucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  const i = 1 + Math.floor(Math.log2(ms) * PER_DOUBLING);
  return Math.min(DURATION_BUCKETS - 1, i);
}

/** The lower and upper bound, in ms, of bucket i (the last one's upper bound is its lower bound doubled). */
export function bucketBounds(i: number): [number, number] {
  if (i <= 0) return [0, 1];
  const lo = 2 ** ((i - 1) / PER_DOUBLING);
  const hi = i >= DURATION_BUCKETS - 1 ? lo * 2 : 2 ** (i / PER_DOUBLING);
  return [lo, hi];
}

export function emptyHistogram(): number[] {
  return new Array<number>(DURATION_BUCKETS).fill(0);
}

/** Adds b into a (bucket by bucket); a shorter array counts as zeros. */
export function addHistogram(a: number[], b: readonly number[]): number[] {
  for (let i = 0; i < DURATION_BUCKETS; i++) a[i] = (a[i] ?? 0) + (b[i] ?? 0);
  return a;
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram, interpolated within its bucket
 * on a log scale; null when it counts nothing.
 */
export function histogramQuantile(hist: readonly number[], q: number): number | null {
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i] ?? 0;
    if (c === 0) continue;
    if (seen + c >= rank) {
      const [lo, hi] = bucketBounds(i);
      const f = (rank - seen) / c;
      if (i === 0) return f * hi;
      return lo * (hi / lo) ** f;
    }
    seen += c;
  }
  return bucketBounds(hist.length - 1)[1];
}
