/**
 * Repetition and summary for the benches. Medians, not means: on a shared machine one run that lost the CPU
 * to a neighbour should not move the figure.
 */
import { performance } from 'node:perf_hooks';

export interface Series {
  /** Per-second rate of each repetition, in run order. */
  runs: number[];
  median: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >>> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function series(runs: number[]): Series {
  return { runs, median: median(runs) };
}

/** Runs `fn` and returns its result with the wall time it took. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

export const MiB = 1024 * 1024;

/** Bytes per second as MB/s (10^6), the unit disks and networks are quoted in. */
export const mbPerSec = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
export const perSec = (count: number, ms: number): number => count / (ms / 1000);

/** A progress line on stderr, so stdout stays clean for whoever pipes the bench. */
export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
