/**
 * The bench modules at toy sizes: each returns a positive figure and the report has its sections. No timing
 * thresholds: speed is what BENCHMARKS.md reports, never what a test on a shared machine asserts.
 */
import { describe, expect, it } from 'vitest';
import { measureIndexPuts, measureObjectPuts } from '../../bench/components.js';
import { measureIngest, packetBytesFor } from '../../bench/ingest.js';
import { machineInfo } from '../../bench/machine.js';
import { measureBuildAndProofs, measureVerifyInclusion } from '../../bench/merkle.js';
import { measureProofBundleChecks } from '../../bench/proof-bundle.js';
import { measureRawBroker } from '../../bench/raw-broker.js';
import { type BenchFigures, renderReport } from '../../bench/report.js';
import { sha256MBPerSec, sha256SmallCallsPerSec } from '../../bench/sha256.js';
import { measureSignatureChecks } from '../../bench/signatures.js';
import { median, series } from '../../bench/stats.js';

const positive = (n: number) => expect(n).toBeGreaterThan(0);

describe('bench helpers', () => {
  it('takes medians of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });

  it('sizes the plaintext so the envelope hits the target', () => {
    // 103 fixed header bytes + a 15-character id + 16-byte tag.
    expect(packetBytesFor(1024, 'bench-1000-0001')).toBe(1024 - 103 - 15 - 16);
    // Envelope v2: 200 fixed header bytes (algorithm, key id and signature added).
    expect(packetBytesFor(1024, 'bench-1000-0001', true)).toBe(1024 - 200 - 15 - 16);
  });
});

describe('bench modules at toy sizes', () => {
  it('raw broker: messages get through and the rate is positive', async () => {
    const r = await measureRawBroker({
      publishers: 2,
      messages: 50,
      payloadBytes: 1024,
      maxInFlight: 10,
      warmMessages: 2,
      reps: 1,
    });
    positive(r.msgsPerSec.median);
    positive(r.mbPerSec.median);
  });

  it.each([
    ['presealed', true],
    ['presealed', false],
    ['live', true],
  ] as const)('ingest (%s, signed=%s): every record is stored and acked', async (mode, signed) => {
    const r = await measureIngest({
      signed,
      devices: 2,
      records: 50,
      envelopeBytes: 1024,
      durableWrites: false,
      mode,
      maxInFlight: 10,
      warmRecordsPerDevice: 2,
      reps: 1,
    });
    expect(r.records).toBe(50);
    expect(r.signed).toBe(signed);
    positive(r.recordsPerSec.median);
    // The devices' thread and the main thread both did work that the figures account for.
    positive(r.cpu.clientUs.median);
    positive(r.cpu.mainUs.median);
    expect(r.cpu.otherUs.median).toBeGreaterThanOrEqual(0);
    // Readings packets fill the target up to one sample (about 60 bytes) short.
    expect(r.meanEnvelopeBytes).toBeGreaterThan(1024 - 100);
    expect(r.meanEnvelopeBytes).toBeLessThanOrEqual(1024);
  });

  it('signature checks: every verifier passes every valid signature of both algorithms', async () => {
    const rows = await measureSignatureChecks({ coreChecks: 5, nodeChecks: 20, poolThreads: [1], reps: 1 });
    expect(rows.map((r) => `${r.alg}/${r.verifier}/${r.threads}`)).toEqual([
      'ed25519/core/0',
      'ed25519/inline/0',
      'ed25519/pool/1',
      'p256/core/0',
      'p256/inline/0',
      'p256/pool/1',
    ]);
    for (const r of rows) positive(r.perSec.median);
  });

  it('storage steps', async () => {
    positive(
      (await measureObjectPuts({ bodyBytes: 512, count: 20, devices: 2, durable: false, reps: 1 })).perSec
        .median,
    );
    positive((await measureIndexPuts({ count: 50, devices: 2, reps: 1 })).perSec.median);
  });

  it('merkle build, proofs and verification', () => {
    const b = measureBuildAndProofs(1000, 1);
    expect(b.nodeHashes).toBe(999);
    positive(b.totalMs.median);
    const v = measureVerifyInclusion(1000, 100, 1);
    positive(v.perSec.median);
    expect(v.meanPathLength).toBeGreaterThan(9);
    expect(v.meanPathLength).toBeLessThanOrEqual(10);
    positive(measureProofBundleChecks(1000, 256, 10, 1).perSec.median);
  });

  it('sha-256 limits', async () => {
    positive((await sha256SmallCallsPerSec(1000, 1)).median);
    positive((await sha256MBPerSec(64 * 1024, 1024 * 1024, 1)).median);
  });
});

describe('report', () => {
  const s = series([2, 1, 3]);
  const figures: BenchFigures = {
    startedAt: new Date('2026-01-01T00:00:00Z'),
    finishedAt: new Date('2026-01-01T00:02:00Z'),
    command: 'npm run bench',
    machine: machineInfo('.'),
    publishers: 4,
    raw: [{ publishers: 4, messages: 100, payloadBytes: 1024, msgsPerSec: series([1000]), mbPerSec: s }],
    ingest: [
      {
        devices: 4,
        records: 100,
        durableWrites: true,
        mode: 'presealed',
        signed: true,
        targetEnvelopeBytes: 1024,
        meanEnvelopeBytes: 1000,
        recordsPerSec: series([600]),
        mbPerSec: s,
        resent: 0,
        cpu: {
          clientUs: series([50]),
          mainUs: series([100]),
          otherUs: series([150]),
          backendCores: series([1.5]),
        },
      },
      {
        devices: 4,
        records: 100,
        durableWrites: true,
        mode: 'presealed',
        signed: false,
        targetEnvelopeBytes: 1024,
        meanEnvelopeBytes: 1000,
        recordsPerSec: series([800]),
        mbPerSec: s,
        resent: 0,
        cpu: {
          clientUs: series([50]),
          mainUs: series([100]),
          otherUs: series([50]),
          backendCores: series([1.2]),
        },
      },
    ],
    signatures: {
      rows: [
        { alg: 'ed25519', verifier: 'pool', threads: 1, checks: 100, perSec: series([9000, 10_000, 11_000]) },
      ],
      runtimeThreads: 1,
    },
    components: [{ label: 'SqliteObjectStore.put', perSec: s }],
    merkle: {
      build: { leaves: 1_000_000, buildMs: s, proofsMs: s, totalMs: series([1500]), nodeHashes: 999_999 },
      sha256Calls: series([1_000_000]),
    },
    verify: {
      inclusion: { treeSize: 1_000_000, perSec: s, meanPathLength: 20 },
      bundle: { treeSize: 1_000_000, envelopeBytes: 1160, pathLength: 20, perSec: s },
    },
    sha256: { largeBufferBytes: 64 * 1024 * 1024, large: series([2000]), chunk64KiB: s },
  };
  const md = renderReport(figures);

  it('has the machine, the command and every section', () => {
    expect(md).toContain('`npm run bench`');
    expect(md).toContain('| Machine |  |');
    expect(md).toContain('## How to read this');
    for (const h of [
      '| Goal | Target | Measured (median) | Met |',
      '| Payload | Publishers | Messages | msg/s | MB/s | msg/s per run |',
      '| Envelope | Mode | Signing | Devices | Records | rec/s | MB/s | Raw msg/s | Ingest / raw | rec/s per run | Resent |',
      '| Algorithm | Verifier | Checks per run | checks/s | checks/s per run |',
      '| Envelopes | Signed rec/s (per run) | Unsigned rec/s (per run) | Signed / unsigned | Met |',
      '| Step | calls/s | calls/s per run |',
      '| Step | Median | Per run |',
      '| Check | per second | Per run | vs raw limit |',
      '| Limit | MB/s | Per run |',
    ]) {
      expect(md).toContain(h);
    }
  });

  it('judges the goals from the figures', () => {
    expect(md).toContain(
      '| Ingest, durable, 1 KiB envelopes, signed (v2), vs raw broker | ≥ 50% | 60% (600 rec/s) | **yes** |',
    );
    // 600 / 800 = 75%: below the 85% goal, and the report says so.
    expect(md).toContain(
      '| Ingest, durable, 1 KiB envelopes, signed vs unsigned (same run) | ≥ 85% | 75% (600 vs 800 rec/s) | **no** |',
    );
    expect(md).toContain(
      '| Ed25519 | `createVerifierPool`: node:crypto in 1 worker thread (the runtime default here) | 100 | 10,000 | 9,000 / 10,000 / 11,000 |',
    );
    // CPU per record bounds the ratio: (50+100+50)/(50+100+150) = 67% here, 150/250 = 60% without the devices.
    expect(md).toContain(
      '| 1 KiB, pre-sealed, durable=true | signed (v2) | 50 | 100 | 150 | 1.50 | 67% | 60% |',
    );
    expect(md).toContain('| 1 KiB, pre-sealed, durable=true | unsigned (v1) | 50 | 100 | 50 | 1.20 |  |  |');
    expect(md).toMatch(
      /Merkle build \+ every inclusion proof, 1,000,000 leaves \| < 2,000 ms \| 1,500 ms \| \*\*yes\*\*/,
    );
  });

  it('leaves out what was not measured', () => {
    const partial = renderReport({
      ...figures,
      raw: undefined,
      ingest: undefined,
      components: undefined,
      signatures: undefined,
    });
    expect(partial).not.toContain('## 1. Raw broker');
    expect(partial).not.toContain('## 2. Ingest');
    expect(partial).not.toContain('## Device signatures');
    expect(partial).toContain('## 3. Merkle');
  });
});
