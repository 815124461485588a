/**
 * `npm run soak` at toy sizes (SOAK_QUICK: small limits, so both refusals happen): the runtime process is
 * attacked while devices publish, nothing legitimate is lost, the refusals show on both sides, and the
 * section lands in BENCHMARKS.md without disturbing the rest. No memory or speed thresholds: those figures
 * are what the soak reports, and the broker tests (tests/e2e/broker-limits.test.ts) bound memory.
 */
import { describe, expect, it } from 'vitest';
import {
  existingSoakSection,
  measureSoak,
  refusalsFromLog,
  SOAK_BEGIN,
  SOAK_END,
  SOAK_QUICK,
  soakSection,
  spliceSoakSection,
} from '../../bench/soak.js';

describe('soak', () => {
  it('attacks the runtime process while devices publish, and loses no record', async () => {
    const f = await measureSoak(SOAK_QUICK, 'npm run soak -- --quick');
    expect(f.fleet).toMatchObject({ lost: 0, outboxLeft: 0, ok: true, errors: [] });
    expect(f.fleet.storedOnServer).toBe(f.fleet.created);
    expect(f.flood.sockets).toBeGreaterThan(0);
    expect(f.flood.closedByServer).toBe(f.flood.sockets);
    // 40 sockets against a cap of 10: the rest are refused at accept.
    expect(f.storm.closedByServer).toBeGreaterThanOrEqual(30);
    expect(f.serverRefusals['frame-too-large']).toBe(f.flood.sockets);
    expect(f.serverRefusals['too-many-pending']).toBeGreaterThanOrEqual(30);
    for (const m of [f.quiet.startMiB, f.quiet.peakMiB, f.flood.peakMiB, f.storm.peakMiB, f.afterMiB])
      expect(m).toBeGreaterThan(0);

    const section = soakSection([{ label: 'this checkout', figures: f }], 1);
    expect(section.startsWith(SOAK_BEGIN)).toBe(true);
    expect(section.endsWith(SOAK_END)).toBe(true);
    expect(section).toContain('| **Records lost** (must be 0) | **0** |');
  }, 180_000);

  it('puts its section before the method notes, replaces it on the next run, and a bench run keeps it', () => {
    const bench = '# Benchmarks\n\n## 1. Raw broker\n\nfigures\n\n## Method notes\n\nnotes\n';
    const first = spliceSoakSection(bench, `${SOAK_BEGIN}\nold\n${SOAK_END}`);
    expect(first).toBe(
      `# Benchmarks\n\n## 1. Raw broker\n\nfigures\n\n${SOAK_BEGIN}\nold\n${SOAK_END}\n\n## Method notes\n\nnotes\n`,
    );
    const second = spliceSoakSection(first, `${SOAK_BEGIN}\nnew\n${SOAK_END}`);
    expect(second).toBe(first.replace('old', 'new'));
    // A fresh bench report has no soak section; the old one is carried into it.
    const kept = existingSoakSection(second);
    expect(kept).toBe(`${SOAK_BEGIN}\nnew\n${SOAK_END}`);
    expect(spliceSoakSection(bench, kept as string)).toBe(second);
  });

  it("sums the runtime's refusal summaries from its log", () => {
    const log = [
      '{"level":"warn","msg":"broker refused unauthenticated connections","refused":{"too-many-pending":3}}',
      'not json',
      '{"level":"warn","msg":"broker refused unauthenticated connections","refused":{"too-many-pending":2,"connect-timeout":1}}',
      '{"level":"warn","msg":"something else","refused":{"too-many-pending":100}}',
    ].join('\n');
    expect(refusalsFromLog(log)).toEqual({ 'too-many-pending': 5, 'connect-timeout': 1 });
  });
});
