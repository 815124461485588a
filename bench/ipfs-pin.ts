/**
 * MB/s pinned: what KuboPinner.pin costs end to end against the embedded endpoint, i.e. kubo-rpc-client's
 * multipart upload over loopback HTTP, the Kubo-compatible chunking and hashing, the block writes to
 * blockstore-fs and the recursive pin. Each pin gets fresh random bytes, so nothing is deduplicated.
 *
 * MB is 10^6 bytes of payload (the ciphertext), not of DAG: the figure is "how fast can hot copies be made".
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEmbeddedKuboApi } from '../lib/adapters/ipfs/embedded-kubo-api.js';
import { KuboPinner } from '../lib/adapters/ipfs/kubo-pinner.js';
import { type Series, series } from './stats.js';

export interface IpfsPinBenchOptions {
  /** Payload size of each pin, bytes. Default: a small record, the MQTT maximum, a large upload. */
  sizes?: number[];
  /** Payload bytes pinned per size and repetition. Default 16 MiB. */
  bytesPerRun?: number;
  /**
   * Cap on pins per repetition. Default 400: small pins cost a few ms each (three files written per pin:
   * the block, its reference count and the pin), so 16 MiB of 4 KiB pins would take minutes.
   */
  maxPinsPerRun?: number;
  /** Repetitions per size; the figures are medians. Default 3. */
  reps?: number;
  /** Pins in flight at once, as a drain with several workers would have. Default 4. */
  concurrency?: number;
  onProgress?: (msg: string) => void;
}

export interface IpfsPinFigures {
  sizeBytes: number;
  pinsPerRun: number;
  /** Payload MB (10^6 bytes) pinned per second. */
  mbPerSec: Series;
  pinsPerSec: Series;
}

export interface IpfsPinReport {
  endpoint: 'embedded-kubo-api';
  concurrency: number;
  results: IpfsPinFigures[];
}

export async function measureIpfsPin(opts: IpfsPinBenchOptions = {}): Promise<IpfsPinReport> {
  const sizes = opts.sizes ?? [4 * 1024, 128 * 1024, 2 * 1024 * 1024];
  const bytesPerRun = opts.bytesPerRun ?? 16 * 1024 * 1024;
  const reps = opts.reps ?? 3;
  const concurrency = opts.concurrency ?? 4;
  const dir = mkdtempSync(join(tmpdir(), 'iot-notary-bench-ipfs-'));
  const api = await startEmbeddedKuboApi({ repoDir: dir });
  try {
    const pinner = new KuboPinner({ url: api.url, timeoutMs: 120_000 });
    // One pin first, so connection set-up and module warm-up are not in the first figure.
    await pinner.pin(new Uint8Array(randomBytes(1024)));
    const results: IpfsPinFigures[] = [];
    for (const size of sizes) {
      const pins = Math.max(concurrency, Math.min(opts.maxPinsPerRun ?? 400, Math.ceil(bytesPerRun / size)));
      const mb: number[] = [];
      const rate: number[] = [];
      for (let r = 0; r < reps; r++) {
        const payloads = Array.from({ length: pins }, () => new Uint8Array(randomBytes(size)));
        let next = 0;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            for (let i = next++; i < pins; i = next++) await pinner.pin(payloads[i] as Uint8Array);
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        mb.push((pins * size) / 1e6 / seconds);
        rate.push(pins / seconds);
        opts.onProgress?.(`ipfs pin ${size} B x ${pins}: ${(mb.at(-1) ?? 0).toFixed(1)} MB/s`);
      }
      results.push({ sizeBytes: size, pinsPerRun: pins, mbPerSec: series(mb), pinsPerSec: series(rate) });
    }
    return { endpoint: 'embedded-kubo-api', concurrency, results };
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
