/**
 * The machine's SHA-256 limits through node:crypto `hash` (the call lib/core/hash.ts makes): calls per second
 * on the 65-byte input of a Merkle node, and MB/s on large buffers. Every Merkle and ingest figure is judged
 * against these, because they are what no code of ours can beat.
 */
import { hash, randomBytes } from 'node:crypto';
import { mbPerSec, perSec, type Series, series, timed } from './stats.js';

/** A Merkle node's hash input: 0x01 | left | right. */
export const NODE_INPUT_BYTES = 65;

export async function sha256SmallCallsPerSec(calls: number, reps: number): Promise<Series> {
  const input = randomBytes(NODE_INPUT_BYTES);
  const runs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const { ms } = await timed(() => {
      let sink = 0;
      for (let i = 0; i < calls; i++) {
        input[0] = i & 0xff;
        sink ^= (hash('sha256', input, 'buffer') as Buffer)[0] as number;
      }
      return sink;
    });
    runs.push(perSec(calls, ms));
  }
  return series(runs);
}

/** MB/s hashing `total` bytes in chunks of `chunkBytes` (one `hash` call per chunk). */
export async function sha256MBPerSec(chunkBytes: number, total: number, reps: number): Promise<Series> {
  const buf = randomBytes(chunkBytes);
  const n = Math.max(1, Math.round(total / chunkBytes));
  const runs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const { ms } = await timed(() => {
      let sink = 0;
      for (let i = 0; i < n; i++) sink ^= (hash('sha256', buf, 'buffer') as Buffer)[0] as number;
      return sink;
    });
    runs.push(mbPerSec(n * chunkBytes, ms));
  }
  return series(runs);
}
