/**
 * Anchoring of statements (key events, device heads) in the same batches as records, over the real local
 * adapters: leaves in acceptance order (receivedAt; within one millisecond key events, records, heads), the
 * tree over their leaf hashes, every leaf placed exactly once, and resumption of a batch a crash left
 * unplaced from its typed (v2) leaves list.
 *
 * The statements' leaf bytes are opaque here (tests/adapters/statement-store.conformance.ts fixtures):
 * anchoring never parses a leaf, it hashes nothing but what the queues name.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AnchorDeps,
  anchorPending,
  type BatchLeaves,
  batchLeavesKey,
  batchTreeKey,
  type LeafRef,
  newBatchId,
} from '../../lib/anchor/anchor-pending.js';
import { encodeTreeObject, readInclusionPath } from '../../lib/anchor/tree-object.js';
import { fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { buildTree, verifyInclusion } from '../../lib/core/merkle.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { StatementEntry } from '../../lib/ports.js';
import { headEntry, keyEventEntry } from '../adapters/statement-store.conformance.js';
import { FailingChain } from '../support/chain-doubles.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

describe('anchorPending with statements', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let device: TestDevice;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    device = new TestDevice('dev-a');
    await provisionLegacyDevices(stack.index, ['dev-a']);
  });
  afterEach(async () => {
    await stack.close();
  });

  const deps = (over: Partial<AnchorDeps> = {}): AnchorDeps => ({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    chains: [stack.ledger],
    clock: clock.now,
    maxBatchSize: 1000,
    ...over,
  });

  /** Ingests one record of `device` now; returns its id and leaf hash. */
  async function record(): Promise<{ ref: LeafRef; hash: string }> {
    const r = device.seal();
    const out = await ingestEnvelope(
      {
        objects: stack.objects,
        index: stack.index,
        clock: clock.now,
        limits: { maxClockSkewMs: 60_000 },
        origin: testOrigin(stack.index),
      },
      { deviceId: device.deviceId, bytes: r.envelope, via: 'inline' },
    );
    expect(out.status).toBe('stored');
    return { ref: { type: 'record', id: `dev-a.${r.seq}` }, hash: toHex(r.recordHash) };
  }
  async function statement(s: StatementEntry): Promise<{ ref: LeafRef; hash: string }> {
    expect((await stack.statements.putStatement(s)).outcome).toBe('created');
    return { ref: { type: 'statement', id: s.statementId }, hash: s.leafHash };
  }
  const leavesOf = async (batchId: string): Promise<BatchLeaves> =>
    JSON.parse(new TextDecoder().decode((await stack.objects.get(batchLeavesKey(batchId))) as Uint8Array));
  /** Where each leaf was placed, as the stores say. */
  async function placementOf(ref: LeafRef): Promise<{ batchId: string; leafIndex: number } | undefined> {
    if (ref.type === 'record') {
      const [deviceId, seq] = ref.id.split('.') as [string, string];
      return (await stack.index.getRecord(deviceId, Number(seq)))?.batch;
    }
    const [deviceId, leafHash] = ref.id.split(':') as [string, string];
    return (await stack.statements.getStatement(deviceId, leafHash))?.batch;
  }

  it('merges records and statements by receivedAt; within one ms key events, then records, then heads', async () => {
    const t = clock.now();
    // Accepted in this order over time, and three in the same millisecond at t + 2.
    const register = await statement(keyEventEntry('dev-a', 'register', 'k1', t));
    clock.advance(1);
    const r0 = await record(); // t + 1
    clock.advance(1);
    const r1 = await record(); // t + 2
    const head = await statement(headEntry('dev-a', 2, t, { receivedAt: t + 2 }));
    const rotate = await statement(keyEventEntry('dev-a', 'rotate', 'k2', t + 2));
    clock.advance(5);
    const r2 = await record(); // t + 7
    const order = [register, r0, rotate, r1, head, r2];

    const report = await anchorPending(deps());
    expect(report.failures).toEqual([]);
    const batchId = report.batch?.batchId as string;
    expect(await leavesOf(batchId)).toEqual({
      v: 2,
      batchId,
      root: report.batch?.root,
      size: 6,
      leaves: order.map((l) => l.ref),
    });
    const tree = buildTree(order.map((l) => fromHex(l.hash) as Uint8Array));
    expect(report.batch?.root).toBe(toHex(tree.root));
    for (const [i, l] of order.entries()) {
      expect(await placementOf(l.ref)).toEqual({ batchId, leafIndex: i });
      // Each leaf's inclusion path, read from the stored tree, proves it under the anchored root.
      const path = await readInclusionPath(stack.objects, batchTreeKey(batchId), 6, i);
      expect(
        verifyInclusion({
          index: i,
          size: 6,
          leafHash: fromHex(l.hash) as Uint8Array,
          proof: path,
          root: tree.root,
        }).ok,
      ).toBe(true);
    }
    expect(await stack.index.countPending()).toBe(0);
    expect(await stack.statements.countPending()).toBe(0);
    expect(await stack.index.getBatch(batchId)).toMatchObject({ state: 'final', size: 6 });
  });

  it('takes the oldest maxBatchSize leaves of both queues together; the rest wait for the next batch', async () => {
    const t = clock.now();
    const a = await statement(headEntry('dev-a', 0, t, { receivedAt: t }));
    clock.advance(1);
    const b = await record();
    const c = await statement(keyEventEntry('dev-b', 'register', 'k', t + 1));
    clock.advance(1);
    const d = await statement(headEntry('dev-a', 1, t, { receivedAt: t + 2 }));
    const e = await record();

    const first = await anchorPending(deps({ maxBatchSize: 3 }));
    const firstLeaves = await leavesOf(first.batch?.batchId as string);
    expect(firstLeaves.v === 2 && firstLeaves.leaves).toEqual([a.ref, c.ref, b.ref]);
    expect(await stack.index.countPending()).toBe(1);
    expect(await stack.statements.countPending()).toBe(1);
    clock.advance(1000);
    const second = await anchorPending(deps({ maxBatchSize: 3 }));
    const secondLeaves = await leavesOf(second.batch?.batchId as string);
    expect(secondLeaves.v === 2 && secondLeaves.leaves).toEqual([e.ref, d.ref]);
    expect(await placementOf(d.ref)).toEqual({ batchId: second.batch?.batchId, leafIndex: 1 });
  });

  it('a statements-only queue makes a batch of statements', async () => {
    const h = await statement(headEntry('dev-a', 4, clock.now()));
    const report = await anchorPending(deps());
    expect(report.batch?.size).toBe(1);
    expect(report.batch?.root).toBe(h.hash);
    expect(await placementOf(h.ref)).toEqual({ batchId: report.batch?.batchId, leafIndex: 0 });
  });

  it('a crash before placement: the next cycle places every leaf of the v2 list exactly once', async () => {
    const t = clock.now();
    const leaves = [
      await statement(keyEventEntry('dev-a', 'register', 'k1', t)),
      await record(),
      await statement(headEntry('dev-a', 1, t, { receivedAt: t })),
      await record(),
    ];
    // What a crash between steps 2 and 3 leaves: tree, v2 leaves list and batch entry, nothing placed, and
    // one of the leaves (a statement) placed already by a cycle that got that far.
    const tree = buildTree(leaves.map((l) => fromHex(l.hash) as Uint8Array));
    const root = toHex(tree.root);
    const batchId = newBatchId(clock.now(), root);
    const treeBytes = encodeTreeObject(tree);
    await stack.objects.put(batchTreeKey(batchId), treeBytes, { sha256: sha256(treeBytes) });
    const doc: BatchLeaves = { v: 2, batchId, root, size: 4, leaves: leaves.map((l) => l.ref) };
    const docBytes = utf8(JSON.stringify(doc));
    await stack.objects.put(batchLeavesKey(batchId), docBytes, { sha256: sha256(docBytes) });
    await stack.index.putBatch({
      batchId,
      root,
      size: 4,
      createdAt: clock.now(),
      state: 'built',
      treeKey: batchTreeKey(batchId),
      anchors: [],
    });
    const [deviceId, leafHash] = (leaves[2]?.ref.id ?? '').split(':') as [string, string];
    await stack.statements.assignToBatch([{ deviceId, leafHash, batchId, leafIndex: 2 }]);
    // A statement accepted after the crash belongs to the next batch, not this one.
    clock.advance(10);
    const late = await statement(headEntry('dev-a', 2, t, { receivedAt: clock.now() }));

    clock.advance(1000);
    const report = await anchorPending(deps());
    expect(report.resumed).toEqual([batchId]);
    for (const [i, l] of leaves.entries())
      expect(await placementOf(l.ref)).toEqual({ batchId, leafIndex: i });
    expect(report.batch?.size).toBe(1);
    expect(await placementOf(late.ref)).toEqual({ batchId: report.batch?.batchId, leafIndex: 0 });
    expect(await stack.index.getBatch(batchId)).toMatchObject({ state: 'final' });
    expect(await stack.index.countPending()).toBe(0);
    expect(await stack.statements.countPending()).toBe(0);
  });

  it('a chain failure holds the mixed batch built; the next cycle anchors it without a second tree', async () => {
    await statement(keyEventEntry('dev-a', 'register', 'k1', clock.now()));
    await record();
    const chain = new FailingChain(stack.ledger);
    chain.failNext = 'before';
    const first = await anchorPending(deps({ chains: [chain] }));
    expect(first.failures).toHaveLength(1);
    // Placed already: neither queue offers them to another batch.
    expect(await stack.statements.countPending()).toBe(0);
    expect(await stack.index.countPending()).toBe(0);
    const second = await anchorPending(deps({ chains: [chain] }));
    expect(second.resumed).toEqual([first.batch?.batchId]);
    expect(second.batch).toBeUndefined();
    expect(await stack.index.getBatch(first.batch?.batchId as string)).toMatchObject({ state: 'final' });
  });

  it('refuses to resume a batch whose leaves list disagrees with it, placing nothing', async () => {
    const a = await record();
    const tree = buildTree([fromHex(a.hash) as Uint8Array]);
    const root = toHex(tree.root);
    const batchId = newBatchId(clock.now(), root);
    const doc: BatchLeaves = {
      v: 2,
      batchId,
      root,
      size: 2,
      leaves: [a.ref, { type: 'statement', id: 'nope' }],
    };
    const docBytes = utf8(JSON.stringify(doc));
    await stack.objects.put(batchLeavesKey(batchId), docBytes, { sha256: sha256(docBytes) });
    await stack.index.putBatch({
      batchId,
      root,
      size: 2,
      createdAt: clock.now(),
      state: 'built',
      treeKey: batchTreeKey(batchId),
      anchors: [],
    });
    await expect(anchorPending(deps())).rejects.toThrow(/malformed statement id "nope"/);
    expect(await placementOf(a.ref)).toBeUndefined();
  });
});
