/**
 * Anchoring (lib/anchor/anchor-pending.ts) over the real local adapters: one batch per cycle, its root, the
 * placement of every record, and recovery from a cycle that stopped halfway.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import {
  type AnchorDeps,
  anchorPending,
  type BatchLeaves,
  batchLeavesKey,
  batchTreeKey,
  newBatchId,
} from '../../lib/anchor/anchor-pending.js';
import { encodeTreeObject } from '../../lib/anchor/tree-object.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { fromHex, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { buildTree } from '../../lib/core/merkle.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { Chain, RecordEntry } from '../../lib/ports.js';
import { expectBytes } from '../support/bytes.js';
import { FailingChain } from '../support/chain-doubles.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

describe('anchorPending', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let devices: TestDevice[];
  const extraLedgers: EmbeddedLedger[] = [];

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    devices = [new TestDevice('dev-a'), new TestDevice('dev-b')];
    await provisionLegacyDevices(stack.index, ['dev-a', 'dev-b']);
  });
  afterEach(async () => {
    for (const l of extraLedgers.splice(0)) l.close();
    await stack.close();
  });

  const deps = (chains: readonly Chain[] = [stack.ledger], maxBatchSize = 1000): AnchorDeps => ({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    chains,
    clock: clock.now,
    maxBatchSize,
  });

  /** Ingests `n` records round-robin over the devices, one ms apart; returns their ids in arrival order. */
  async function ingest(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const dev = devices[i % devices.length] as TestDevice;
      const r = dev.seal();
      const out = await ingestEnvelope(
        {
          objects: stack.objects,
          index: stack.index,
          clock: clock.now,
          limits: { maxClockSkewMs: 60_000 },
          origin: testOrigin(stack.index),
        },
        { deviceId: dev.deviceId, bytes: r.envelope, via: 'inline' },
      );
      expect(out.status).toBe('stored');
      ids.push(`${dev.deviceId}.${r.seq}`);
      clock.advance(1);
    }
    return ids;
  }

  const entryOf = async (recordId: string): Promise<RecordEntry> => {
    const [deviceId, seq] = recordId.split('.') as [string, string];
    const e = await stack.index.getRecord(deviceId, Number(seq));
    if (!e) throw new Error(`no record ${recordId}`);
    return e;
  };
  const rootOver = async (recordIds: string[]) =>
    buildTree(
      await Promise.all(recordIds.map(async (id) => fromHex((await entryOf(id)).recordHash) as Uint8Array)),
    );
  const leavesOf = async (batchId: string): Promise<BatchLeaves> =>
    JSON.parse(new TextDecoder().decode((await stack.objects.get(batchLeavesKey(batchId))) as Uint8Array));
  /** Record ids of a leaves list written by this version (v2: typed leaves). */
  const recordIdsOf = async (batchId: string): Promise<string[]> => {
    const doc = await leavesOf(batchId);
    if (doc.v !== 2) throw new Error(`batch ${batchId} has a v${doc.v} leaves list`);
    return doc.leaves.map((l) => {
      if (l.type !== 'record') throw new Error(`batch ${batchId} has a ${l.type} leaf`);
      return l.id;
    });
  };
  const allBatches = async () => (await stack.index.listBatches({ limit: 100 })).items;

  it('puts every queued record in one batch whose root is the Merkle root of their hashes in order', async () => {
    const ids = await ingest(8);
    const report = await anchorPending(deps());
    expect(report.resumed).toEqual([]);
    expect(report.failures).toEqual([]);
    const batchId = report.batch?.batchId as string;
    expect(report.batch).toMatchObject({ size: 8 });

    const leaves = await leavesOf(batchId);
    expect(leaves).toEqual({
      v: 2,
      batchId,
      size: 8,
      root: report.batch?.root,
      leaves: ids.map((id) => ({ type: 'record', id })),
    });
    const tree = await rootOver(ids);
    expect(report.batch?.root).toBe(toHex(tree.root));
    expectBytes(await stack.objects.get(batchTreeKey(batchId)), encodeTreeObject(tree));

    for (const [i, id] of ids.entries()) expect((await entryOf(id)).batch).toEqual({ batchId, leafIndex: i });
    expect(await stack.index.countPending()).toBe(0);

    // The ledger's entry is final as soon as it is written (one confirmation): the look right after the
    // submit settles it, and the batch is final within the cycle.
    const batch = await stack.index.getBatch(batchId);
    expect(batch).toMatchObject({
      root: toHex(tree.root),
      size: 8,
      state: 'final',
      treeKey: batchTreeKey(batchId),
    });
    expect(batch?.anchors).toEqual(report.anchors);
    expect(report.anchors).toEqual([
      {
        chainId: stack.ledger.chainId,
        txId: expect.any(String),
        submittedAt: clock.now(),
        kind: 'root',
        phase: 'final',
        attempt: 1,
        reorgs: 0,
        confirmations: 1,
        seenAt: clock.now(),
        block: { height: 0 },
        anchoredAt: clock.now(),
        finalAt: clock.now(),
        // The signed entry is kept with the anchor, so a ledger that loses it can be given it back.
        ledgerEntry: expect.objectContaining({ height: 0, hash: report.anchors[0]?.txId }),
      },
    ]);
    expect(await stack.index.listAnchorsDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    const tx = await stack.ledger.lookup(report.anchors[0]?.txId as string);
    expectBytes(tx?.data, encodeAnchorPayload({ root: tree.root, treeSize: 8 }));
    expect(report.anchors[0]?.ledgerEntry).toEqual(tx?.evidence?.entry);
  });

  it('a cycle with nothing queued does nothing', async () => {
    await ingest(2);
    await anchorPending(deps());
    const second = await anchorPending(deps());
    expect(second).toEqual({ resumed: [], anchors: [], failures: [] });
    expect(await stack.index.listUnanchored()).toEqual([]);
    expect(await allBatches()).toHaveLength(1);
    expect(stack.ledger.height).toBe(1);
  });

  it('takes at most maxBatchSize records per cycle, oldest first', async () => {
    const ids = await ingest(5);
    const first = await anchorPending(deps([stack.ledger], 3));
    expect(await recordIdsOf(first.batch?.batchId as string)).toEqual(ids.slice(0, 3));
    expect(await stack.index.countPending()).toBe(2);
    clock.advance(1000);
    const second = await anchorPending(deps([stack.ledger], 3));
    expect(await recordIdsOf(second.batch?.batchId as string)).toEqual(ids.slice(3));
    expect(second.batch?.root).toBe(toHex((await rootOver(ids.slice(3))).root));
    expect(await stack.index.countPending()).toBe(0);
    expect(stack.ledger.height).toBe(2);
  });

  it('a chain failure leaves the batch built; the next cycle finishes it without a second batch', async () => {
    const ids = await ingest(4);
    const chain = new FailingChain(stack.ledger);
    chain.failNext = 'before';
    const first = await anchorPending(deps([chain]));
    const batchId = first.batch?.batchId as string;
    expect(first.anchors).toEqual([]);
    expect(first.failures).toEqual([{ batchId, chainId: stack.ledger.chainId, message: expect.any(String) }]);
    expect(await stack.index.getBatch(batchId)).toMatchObject({ state: 'built', anchors: [] });
    expect((await stack.index.listUnanchored()).map((b) => b.batchId)).toEqual([batchId]);
    // The records are already placed, so they cannot be taken into another batch.
    expect(await stack.index.countPending()).toBe(0);
    expect(stack.ledger.height).toBe(0);

    // A record that arrives meanwhile goes into a new batch, after the old one is finished.
    const [late] = await ingest(1);
    clock.advance(1000);
    const second = await anchorPending(deps([chain]));
    expect(second.resumed).toEqual([batchId]);
    expect(second.failures).toEqual([]);
    expect(second.batch?.size).toBe(1);
    expect(await recordIdsOf(second.batch?.batchId as string)).toEqual([late]);
    expect(await stack.index.getBatch(batchId)).toMatchObject({ state: 'final', root: first.batch?.root });
    expect(await stack.index.listUnanchored()).toEqual([]);
    expect((await allBatches()).map((b) => b.batchId).sort()).toEqual(
      [batchId, second.batch?.batchId].sort(),
    );
    for (const [i, id] of ids.entries()) expect((await entryOf(id)).batch).toEqual({ batchId, leafIndex: i });
    expect(stack.ledger.height).toBe(2);
  });

  it('a submit whose answer was lost is retried under the same dedup key: one transaction, not two', async () => {
    await ingest(3);
    const chain = new FailingChain(stack.ledger);
    chain.failNext = 'after';
    const first = await anchorPending(deps([chain]));
    const batchId = first.batch?.batchId as string;
    expect(first.failures).toHaveLength(1);
    expect(stack.ledger.height).toBe(1);
    const second = await anchorPending(deps([chain]));
    expect(second.resumed).toEqual([batchId]);
    expect(stack.ledger.height).toBe(1);
    const batch = await stack.index.getBatch(batchId);
    expect(batch?.state).toBe('final');
    const tx = await stack.ledger.lookup(batch?.anchors[0]?.txId as string);
    expectBytes(
      tx?.data,
      encodeAnchorPayload({ root: fromHex(batch?.root as string) as Uint8Array, treeSize: 3 }),
    );
  });

  it('a batch stored before its records were placed gets them placed on restart (a v1 leaves list)', async () => {
    const ids = await ingest(5);
    // What a crash between steps 2 and 3 leaves: tree, leaves list and batch entry, records still queued;
    // here with the leaves list of the version before statements, which must still resume.
    const pending = await stack.index.listPending(100);
    expect(pending.map((r) => r.recordId)).toEqual(ids);
    const tree = buildTree(pending.map((r) => fromHex(r.recordHash) as Uint8Array));
    const root = toHex(tree.root);
    const batchId = newBatchId(clock.now(), root);
    const treeBytes = encodeTreeObject(tree);
    await stack.objects.put(batchTreeKey(batchId), treeBytes, { sha256: sha256(treeBytes) });
    const leaves: BatchLeaves = { v: 1, batchId, root, size: 5, records: ids };
    const leavesBytes = utf8(JSON.stringify(leaves));
    await stack.objects.put(batchLeavesKey(batchId), leavesBytes, { sha256: sha256(leavesBytes) });
    expect(
      await stack.index.putBatch({
        batchId,
        root,
        size: 5,
        createdAt: clock.now(),
        state: 'built',
        treeKey: batchTreeKey(batchId),
        anchors: [],
      }),
    ).toBe('created');
    expect(await stack.index.countPending()).toBe(5);

    clock.advance(1000);
    const report = await anchorPending(deps());
    expect(report.resumed).toEqual([batchId]);
    expect(report.batch).toBeUndefined();
    expect(await allBatches()).toHaveLength(1);
    expect(await stack.index.countPending()).toBe(0);
    for (const [i, id] of ids.entries()) expect((await entryOf(id)).batch).toEqual({ batchId, leafIndex: i });
    expect(await stack.index.getBatch(batchId)).toMatchObject({ state: 'final' });
    expect(stack.ledger.height).toBe(1);
  });

  it('with two chains, a batch is anchored only once both have it; a failed one is retried alone', async () => {
    await ingest(2);
    const second = new EmbeddedLedger(
      join(stack.dir, 'ledger2', 'l.jsonl'),
      join(stack.dir, 'secrets', 'l2.pk8'),
    );
    extraLedgers.push(second);
    expect(second.chainId).not.toBe(stack.ledger.chainId);
    const flaky = new FailingChain(second);
    flaky.failNext = 'before';
    const r1 = await anchorPending(deps([stack.ledger, flaky]));
    const batchId = r1.batch?.batchId as string;
    expect(r1.failures.map((f) => f.chainId)).toEqual([second.chainId]);
    const built = await stack.index.getBatch(batchId);
    expect(built?.state).toBe('built');
    expect(built?.anchors.map((a) => a.chainId)).toEqual([stack.ledger.chainId]);

    const r2 = await anchorPending(deps([stack.ledger, flaky]));
    expect(r2.resumed).toEqual([batchId]);
    expect(r2.anchors.map((a) => a.chainId)).toEqual([second.chainId]);
    const done = await stack.index.getBatch(batchId);
    expect(done?.state).toBe('final');
    expect(done?.anchors.map((a) => a.chainId).sort()).toEqual([stack.ledger.chainId, second.chainId].sort());
    expect(stack.ledger.height).toBe(1);
    expect(second.height).toBe(1);
  });
});
