/**
 * The figures the Lambda edges report (lib/metrics.ts), computed from plain outcomes and reports: which
 * device-message outcome counts in which record metric, and what an anchor tick reports.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CycleReport, createAnchorCycle } from '../../lib/anchor/anchor-cycle.js';
import { anchorMetrics } from '../../lib/anchor/anchor-metrics.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { outcomeMetric } from '../../lib/ingest/ingest-handler.js';
import { headEntry } from '../adapters/statement-store.conformance.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

describe('record metrics by device-message outcome', () => {
  it('counts records stored and duplicate, and every refused message', () => {
    expect(outcomeMetric({ status: 'stored', recordId: 'd.1', seq: 1 })).toBe('RecordsStored');
    expect(outcomeMetric({ status: 'duplicate', recordId: 'd.1', seq: 1 })).toBe('RecordsDuplicate');
    expect(outcomeMetric({ status: 'rejected', code: 'bad-envelope', reason: 'x' })).toBe('RecordsRefused');
    expect(outcomeMetric({ status: 'dropped', code: 'unknown-topic', reason: 'x' })).toBe('RecordsRefused');
    expect(outcomeMetric({ status: 'granted', seq: 3 })).toBeUndefined();
  });

  it('a head or key rotation stored is not a record stored; one refused is a refused message', () => {
    expect(outcomeMetric({ status: 'stored', kind: 'head', statementId: 'd:ab' })).toBeUndefined();
    expect(outcomeMetric({ status: 'duplicate', kind: 'key', statementId: 'd:ab' })).toBeUndefined();
    // What ingest answers for a head it refuses: the ack's fields beside the refusal.
    const refusedHead = {
      kind: 'head',
      leafHash: 'ab',
      status: 'rejected',
      code: 'bad-signature',
      reason: 'x',
    };
    expect(outcomeMetric(refusedHead as Parameters<typeof outcomeMetric>[0])).toBe('RecordsRefused');
  });
});

describe('anchor tick metrics', () => {
  const base = (over: Partial<CycleReport>): CycleReport =>
    ({
      resumed: [],
      anchors: [],
      failures: [],
      poll: { events: [], changed: [] },
      plan: { pending: 0 },
      ...over,
    }) as unknown as CycleReport;

  it('reports the backlog, its age and failures on every tick, batch figures only with a batch', () => {
    const now = 1_000_000;
    expect(
      anchorMetrics(
        base({ plan: { pending: 7 } as CycleReport['plan'], oldestPendingAt: now - 90_500 }),
        now,
      ),
    ).toEqual([
      ['Backlog', 7],
      ['BacklogAge', 90.5],
      ['AnchorFailures', 0],
    ]);
    const failed = base({
      plan: { pending: 4 } as CycleReport['plan'],
      batch: {
        batchId: 'b',
        size: 4,
        root: 'r',
        createdAt: now,
        inlineParts: 0,
        oldestReceivedAt: now - 12_000,
      },
      failures: [
        { batchId: 'b', chainId: 'evm:1', message: 'down' },
        { batchId: 'b', chainId: 'bigbang:main', message: 'down' },
      ] as CycleReport['failures'],
    });
    // Built, not anchored everywhere: no time to anchor yet.
    expect(anchorMetrics(failed, now)).toEqual([
      ['Backlog', 4],
      ['BacklogAge', 0],
      ['BatchSize', 4],
      ['AnchorFailures', 2],
    ]);
    const anchored = base({
      plan: { pending: 4 } as CycleReport['plan'],
      batch: {
        batchId: 'b',
        size: 4,
        root: 'r',
        createdAt: now,
        inlineParts: 0,
        oldestReceivedAt: now - 12_000,
        anchoredAt: now + 3_000,
      },
    });
    expect(anchorMetrics(anchored, now)).toContainEqual(['TimeToAnchor', 15]);
  });
});

describe('the backlog a tick leaves behind, over the local stores', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  const device = new TestDevice('dev-m');
  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    await provisionLegacyDevices(stack.index, ['dev-m']);
  });
  afterEach(async () => {
    await stack.close();
  });

  it('is as old as the oldest leaf still queued, a head as much as a record', async () => {
    const cycle = createAnchorCycle({
      index: stack.index,
      statements: stack.statements,
      objects: stack.objects,
      chains: [
        {
          chain: stack.ledger,
          budget: { maxTxPerSecond: Infinity, maxTokensPerDay: Infinity, inclusionMs: 0 },
          finality: { confirmations: 1, pollMs: 1_000, dropAfterMs: 60_000, stuckAfterMs: 600_000 },
        },
      ],
      clock: clock.now,
      policy: { targetMaxTimeToAnchorMs: 60_000, maxBatchSize: 1000, minIntervalMs: 1_000 },
    });
    const r = device.seal();
    const stored = await ingestEnvelope(
      {
        objects: stack.objects,
        index: stack.index,
        clock: clock.now,
        limits: { maxClockSkewMs: 60_000 },
        origin: testOrigin(stack.index),
      },
      { deviceId: 'dev-m', bytes: r.envelope, via: 'inline' },
    );
    expect(stored.status).toBe('stored');
    const first = await cycle.run({ force: true });
    expect(first.batch?.size).toBe(1);
    expect(first.oldestPendingAt).toBeUndefined();

    // A head arrives after the batch; the next tick is not due, so it stays queued.
    clock.advance(2_000);
    const head = headEntry('dev-m', 1, clock.now() - 1_550);
    expect(head.receivedAt).toBe(clock.now() - 1_500);
    expect((await stack.statements.putStatement(head)).outcome).toBe('created');
    const second = await cycle.run({ gate: true });
    expect(second.notDue).toBe(true);
    expect(second.oldestPendingAt).toBe(head.receivedAt);
    expect(anchorMetrics(second, clock.now())).toEqual([
      ['Backlog', 1],
      ['BacklogAge', 1.5],
      ['AnchorFailures', 0],
    ]);
  });
});
