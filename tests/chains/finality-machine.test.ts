/** The confirmation / reorganisation state machine, transition by transition. Pure: no chain involved. */
import { describe, expect, it } from 'vitest';
import {
  type FinalityConfig,
  type FinalityState,
  inclusionDelay,
  type LookupObservation,
  resubmitted,
  stepFinality,
  submittedState,
} from '../../lib/anchor/finality-machine.js';

const cfg: FinalityConfig = { confirmations: 3, dropAfterMs: 60_000, stuckAfterMs: 600_000, pollMs: 5_000 };
const payload = new Uint8Array([1, 2, 3]);
const start = (): FinalityState =>
  submittedState({ chainId: 'evm:1', txId: '0xaa', payload, submittedAt: 1_000, cfg });

const found = (
  confirmations: number,
  blockHash?: string,
  height?: number,
  data = payload,
): LookupObservation => ({
  kind: 'found',
  tx: {
    data,
    confirmations,
    ...(blockHash === undefined ? {} : { blockHash }),
    ...(height === undefined ? {} : { height }),
  },
});
const notFound: LookupObservation = { kind: 'not-found' };

describe('the finality machine', () => {
  it('submitted → anchored → final, then polling stops', () => {
    let s = start();
    expect(s.phase).toBe('submitted');
    expect(s.nextCheckAt).toBe(6_000);

    let step = stepFinality(s, found(0), cfg, 2_000);
    expect(step.state.phase).toBe('submitted');
    expect(step.action.kind).toBe('none');
    s = step.state;

    step = stepFinality(s, found(1, 'h1', 10), cfg, 3_000);
    expect(step.state.phase).toBe('anchored');
    expect(step.state.block).toEqual({ height: 10, hash: 'h1' });
    expect(step.events.map((e) => e.kind)).toEqual(['anchored']);
    expect(inclusionDelay(step.state)).toBe(2_000);
    s = step.state;

    step = stepFinality(s, found(2, 'h1', 10), cfg, 4_000);
    expect(step.state.phase).toBe('anchored');
    s = step.state;

    step = stepFinality(s, found(3, 'h1', 10), cfg, 5_000);
    expect(step.state.phase).toBe('final');
    expect(step.state.finalAt).toBe(5_000);
    expect(step.state.nextCheckAt).toBeUndefined();
    expect(step.events.map((e) => e.kind)).toEqual(['final']);

    // Looking again changes nothing but the count.
    const again = stepFinality(step.state, found(9, 'h1', 10), cfg, 9_000);
    expect(again.state.phase).toBe('final');
    expect(again.state.finalAt).toBe(5_000);
    expect(again.events).toEqual([]);
  });

  it('N = 1 makes an anchor final in its first block', () => {
    const step = stepFinality(start(), found(1, 'h'), { ...cfg, confirmations: 1 }, 2_000);
    expect(step.state.phase).toBe('final');
  });

  it('not found just after submission is patience, not a drop (load-balanced RPC)', () => {
    const step = stepFinality(start(), notFound, cfg, 30_000);
    expect(step.state.phase).toBe('submitted');
    expect(step.action.kind).toBe('none');
  });

  it('never seen for dropAfterMs → dropped, resubmit', () => {
    const step = stepFinality(start(), notFound, cfg, 61_000);
    expect(step.state.phase).toBe('dropped');
    expect(step.action).toEqual({ kind: 'resubmit', reason: 'dropped' });
  });

  it('seen in the pool, then gone: the grace counts from the last sighting', () => {
    const seen = stepFinality(start(), found(0), cfg, 50_000).state;
    expect(stepFinality(seen, notFound, cfg, 100_000).state.phase).toBe('submitted');
    expect(stepFinality(seen, notFound, cfg, 110_000).action).toEqual({
      kind: 'resubmit',
      reason: 'dropped',
    });
  });

  it('in a block, then not found: reorganised out → resubmit at once', () => {
    const anchored = stepFinality(start(), found(1, 'h1', 10), cfg, 2_000).state;
    const step = stepFinality(anchored, notFound, cfg, 2_500);
    expect(step.state.phase).toBe('dropped');
    expect(step.state.reorgs).toBe(1);
    expect(step.state.block).toBeUndefined();
    expect(step.action).toEqual({ kind: 'resubmit', reason: 'reorganised' });
  });

  it('same transaction in another block: a survived reorg, confirmations start over', () => {
    const a = stepFinality(start(), found(2, 'h1', 10), cfg, 2_000).state;
    const step = stepFinality(a, found(1, 'h2', 11), cfg, 3_000);
    expect(step.state.phase).toBe('anchored');
    expect(step.state.block).toEqual({ height: 11, hash: 'h2' });
    expect(step.state.reorgs).toBe(1);
    expect(step.state.anchoredAt).toBe(2_000);
    expect(step.events.map((e) => e.kind)).toEqual(['reorg']);
    expect(step.action.kind).toBe('none');
  });

  it('without block hashes, a changed height is the reorg signal', () => {
    const a = stepFinality(start(), found(1, undefined, 10), cfg, 2_000).state;
    expect(stepFinality(a, found(1, undefined, 12), cfg, 3_000).state.reorgs).toBe(1);
  });

  it('back in the pool after a block: submitted again, reorg counted', () => {
    const a = stepFinality(start(), found(2, 'h1', 10), cfg, 2_000).state;
    const step = stepFinality(a, found(0), cfg, 3_000);
    expect(step.state.phase).toBe('submitted');
    expect(step.state.reorgs).toBe(1);
    expect(step.state.anchoredAt).toBeUndefined();
    expect(step.events.map((e) => e.kind)).toEqual(['back-to-pool']);
  });

  it('a final anchor that moves or vanishes is reported loudly', () => {
    const fin = stepFinality(start(), found(3, 'h1', 10), cfg, 2_000).state;
    expect(fin.phase).toBe('final');
    const moved = stepFinality(fin, found(1, 'h9', 10), cfg, 3_000);
    expect(moved.state.phase).toBe('anchored');
    expect(moved.action).toEqual({ kind: 'alert', reason: 'reorg-after-final' });
    const gone = stepFinality(fin, notFound, cfg, 3_000);
    expect(gone.state.phase).toBe('dropped');
    expect(gone.action).toEqual({ kind: 'resubmit', reason: 'reorganised-after-final' });
  });

  it('pending for stuckAfterMs → alert (a fee too low is not fixed by waiting)', () => {
    const step = stepFinality(start(), found(0), cfg, 700_000);
    expect(step.state.phase).toBe('submitted');
    expect(step.action).toEqual({ kind: 'alert', reason: 'stuck' });
  });

  it('other data under this txId → mismatch, a stop state', () => {
    const step = stepFinality(start(), found(5, 'h', 1, new Uint8Array([9])), cfg, 2_000);
    expect(step.state.phase).toBe('mismatch');
    expect(step.action).toEqual({ kind: 'alert', reason: 'mismatch' });
    expect(stepFinality(step.state, found(6, 'h', 1), cfg, 3_000).state.phase).toBe('mismatch');
  });

  it('a failed lookup concludes nothing; the error stays visible until the next success', () => {
    const a = stepFinality(start(), found(1, 'h1', 10), cfg, 2_000).state;
    const err = stepFinality(a, { kind: 'error', code: 'rpc-unavailable', message: 'down' }, cfg, 3_000);
    expect(err.state.phase).toBe('anchored');
    expect(err.state.lastError).toEqual({ code: 'rpc-unavailable', message: 'down', at: 3_000 });
    expect(err.state.nextCheckAt).toBe(8_000);
    expect(stepFinality(err.state, found(2, 'h1', 10), cfg, 4_000).state.lastError).toBeUndefined();
  });

  it('resubmitted() starts the new transaction over and keeps the history', () => {
    const a = stepFinality(start(), found(1, 'h1', 10), cfg, 2_000).state;
    const d = stepFinality(a, notFound, cfg, 3_000).state;
    const r = resubmitted(d, '0xbb', 4_000, cfg);
    expect(r).toMatchObject({ txId: '0xbb', phase: 'submitted', attempt: 2, submittedAt: 4_000, reorgs: 1 });
    expect(r.block).toBeUndefined();
    expect(r.anchoredAt).toBeUndefined();
    expect(stepFinality(r, found(3, 'h5', 12), cfg, 5_000).state.phase).toBe('final');
  });
});
