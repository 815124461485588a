/** The IPFS pin bench at toy sizes, and its BENCHMARKS.md section. No timing thresholds, as for every bench. */
import { describe, expect, it } from 'vitest';
import { measureIpfsPin } from '../../bench/ipfs-pin.js';
import { machineInfo } from '../../bench/machine.js';
import { renderReport } from '../../bench/report.js';

describe('bench: MB/s pinned', () => {
  it('measures positive rates per size and reports them in their own section', async () => {
    const r = await measureIpfsPin({
      sizes: [1024, 300_000],
      bytesPerRun: 64 * 1024,
      maxPinsPerRun: 8,
      reps: 1,
      concurrency: 2,
    });
    expect(r.results.map((x) => x.sizeBytes)).toEqual([1024, 300_000]);
    for (const x of r.results) {
      expect(x.mbPerSec.median).toBeGreaterThan(0);
      expect(x.pinsPerSec.median).toBeGreaterThan(0);
    }
    const md = renderReport({
      startedAt: new Date(0),
      finishedAt: new Date(1000),
      command: 'npm run bench -- --only ipfs',
      machine: machineInfo('.'),
      publishers: 4,
      ipfs: r,
    });
    expect(md).toContain('## 6. IPFS hot copies: MB/s pinned');
    expect(md).toContain('| Payload | Pins per run | MB/s pinned | pins/s | MB/s per run |');
    expect(md).toMatch(/\| 1 KiB \| \d+ \| [\d.,]+ \|/);
    expect(
      renderReport({
        startedAt: new Date(0),
        finishedAt: new Date(0),
        command: 'x',
        machine: machineInfo('.'),
        publishers: 1,
      }),
    ).not.toContain('IPFS');
  });
});
