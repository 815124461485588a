/**
 * Verification (lib/verify) over the real local adapters, with tampering done the way an attacker with disk
 * access would do it: bytes changed in the object files, rows changed in the SQLite file, ledger replaced.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { anchorPending, batchTreeKey } from '../../lib/anchor/anchor-pending.js';
import { nodeOffset, pathPositions } from '../../lib/anchor/tree-object.js';
import { fromBase64, fromHex, toBase64, toHex } from '../../lib/core/bytes.js';
import { NotaryError } from '../../lib/core/errors.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { Chain, RecordEntry } from '../../lib/ports.js';
import { findDeviceGaps, MAX_GAP_RECORDS } from '../../lib/verify/device-gaps.js';
import { type VerifyDeps, verifyRecord } from '../../lib/verify/record-proof.js';
import { flipByte } from '../support/bytes.js';
import { FailingChain } from '../support/chain-doubles.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { editObject } from '../support/object-db.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

let stack: LocalStack;
let clock: ReturnType<typeof testClock>;
let dev: TestDevice;

beforeEach(async () => {
  clock = testClock();
  stack = await openLocalStack({ clock: clock.now });
  dev = new TestDevice('dev-v');
  await provisionLegacyDevices(stack.index, ['dev-v', 'dev-w']);
});
afterEach(async () => {
  await stack.close();
});

async function ingest(envelope: Uint8Array, deviceId = 'dev-v'): Promise<void> {
  const out = await ingestEnvelope(
    {
      objects: stack.objects,
      index: stack.index,
      clock: clock.now,
      limits: { maxClockSkewMs: 60_000 },
      origin: testOrigin(stack.index),
    },
    { deviceId, bytes: envelope, via: 'inline' },
  );
  expect(out.status).toBe('stored');
  clock.advance(1);
}

const anchor = (chains: readonly Chain[] = [stack.ledger]) =>
  anchorPending({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    chains,
    clock: clock.now,
    maxBatchSize: 1000,
  });

const record = async (seq: number, deviceId = 'dev-v'): Promise<RecordEntry> => {
  const r = await stack.index.getRecord(deviceId, seq);
  if (!r) throw new Error(`no record ${deviceId}.${seq}`);
  return r;
};

/** Rewrites one record row in the SQLite file directly, as someone with access to the disk could. */
function editIndexRow(deviceId: string, seq: number, set: { header?: string; record_hash?: string }): void {
  const db = new DatabaseSync(stack.indexPath);
  try {
    for (const [col, value] of Object.entries(set)) {
      db.prepare(`UPDATE records SET ${col} = ? WHERE device_id = ? AND seq = ?`).run(value, deviceId, seq);
    }
  } finally {
    db.close();
  }
}

function editFile(key: string, edit: (bytes: Uint8Array) => Uint8Array): void {
  editObject(stack.objectsDb, key, edit);
}

describe('verifyRecord', () => {
  const verifyDeps = (chains: Chain[] = [stack.ledger]): VerifyDeps => ({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    chains: new Map(chains.map((c) => [c.chainId, c])),
    clock: clock.now,
    requiredConfirmations: () => 1,
  });
  const codes = (r: { reasons: { code: string }[] }) => r.reasons.map((x) => x.code).sort();

  /** Five records of one device and two of another, anchored in one batch. */
  async function anchoredFleet(): Promise<string> {
    const other = new TestDevice('dev-w');
    for (let i = 0; i < 5; i++) await ingest(dev.seal().envelope);
    for (let i = 0; i < 2; i++) await ingest(other.seal().envelope, 'dev-w');
    const report = await anchor();
    return report.batch?.batchId as string;
  }

  it('verifies an anchored record: header, object, inclusion and anchor all check out', async () => {
    const batchId = await anchoredFleet();
    const rec = await record(2);
    const report = await verifyRecord(verifyDeps(), 'dev-v.2');
    expect(report).toMatchObject({
      status: 'verified',
      recordId: 'dev-v.2',
      deviceId: 'dev-v',
      seq: 2,
      recordHash: rec.recordHash,
      batchId,
      reasons: [],
      checks: {
        header: 'ok',
        object: 'ok',
        inclusion: 'ok',
        anchors: [{ chainId: stack.ledger.chainId, status: 'ok', confirmations: 1, height: 0 }],
      },
    });
    for (const id of ['dev-v.0', 'dev-v.4', 'dev-w.0', 'dev-w.1']) {
      expect((await verifyRecord(verifyDeps(), id)).status).toBe('verified');
    }
  });

  it('is pending while the record waits in the queue', async () => {
    await ingest(dev.seal().envelope);
    const report = await verifyRecord(verifyDeps(), 'dev-v.0');
    expect(report.status).toBe('pending');
    expect(codes(report)).toEqual(['not-yet-anchored']);
    expect(report.checks).toMatchObject({ header: 'ok', object: 'ok', inclusion: 'pending', anchors: [] });
    expect(report.batchId).toBeUndefined();
  });

  it('is pending while the batch is built but not yet on any chain', async () => {
    await ingest(dev.seal().envelope);
    await ingest(dev.seal().envelope);
    const chain = new FailingChain(stack.ledger);
    chain.failNext = 'before';
    await anchor([chain]);
    const report = await verifyRecord(verifyDeps(), 'dev-v.1');
    expect(report.status).toBe('pending');
    expect(codes(report)).toEqual(['anchor-not-submitted']);
    expect(report.checks.inclusion).toBe('ok');
  });

  it('is tampered when one ciphertext byte of the stored object is flipped', async () => {
    await anchoredFleet();
    const rec = await record(3);
    editFile(rec.objectKey, (b) => flipByte(b, b.length - 5));
    const report = await verifyRecord(verifyDeps(), 'dev-v.3');
    expect(report.status).toBe('tampered');
    expect(codes(report)).toEqual(['ciphertext-hash-mismatch']);
    expect(report.checks.object).toBe('mismatch');
    expect((await verifyRecord(verifyDeps(), 'dev-v.2')).status).toBe('verified');
  });

  it('is tampered when one header byte of the stored object is flipped', async () => {
    await anchoredFleet();
    const rec = await record(1);
    editFile(rec.objectKey, (b) => flipByte(b, 30));
    const report = await verifyRecord(verifyDeps(), 'dev-v.1');
    expect(report.status).toBe('tampered');
    expect(codes(report)).toEqual(['object-header-mismatch']);
  });

  it('is tampered when the header in the index is altered', async () => {
    await anchoredFleet();
    const rec = await record(1);
    const header = fromBase64(rec.header) as Uint8Array;
    editIndexRow('dev-v', 1, { header: toBase64(flipByte(header, header.length - 40)) });
    const report = await verifyRecord(verifyDeps(), 'dev-v.1');
    expect(report.status).toBe('tampered');
    // The altered header no longer hashes to the record hash, matches no stored object and is in no tree;
    // and the object key (records/<device>/<hash of the header>, bound in a v2 bundle) no longer fits it.
    expect(codes(report)).toEqual([
      'inclusion-proof-invalid',
      'object-header-mismatch',
      'record-fields-mismatch',
      'record-hash-mismatch',
    ]);
    expect(report.checks).toMatchObject({ header: 'invalid', object: 'mismatch', inclusion: 'invalid' });
  });

  it('is tampered when header and record hash in the index are both swapped for a forged record', async () => {
    await anchoredFleet();
    // A record sealed with the device's own key, at the same seq: everything matches but the batch tree.
    const forged = dev.seal({ seq: 1, prevHash: fromHex((await record(0)).recordHash) as Uint8Array });
    editIndexRow('dev-v', 1, { header: toBase64(forged.headerBytes), record_hash: toHex(forged.recordHash) });
    editFile((await record(1)).objectKey, () => forged.envelope);
    const report = await verifyRecord(verifyDeps(), 'dev-v.1');
    expect(report.status).toBe('tampered');
    expect(codes(report)).toContain('inclusion-proof-invalid');
    expect(report.checks.inclusion).toBe('invalid');
  });

  it('is tampered when the tree object is altered on the record’s path', async () => {
    const batchId = await anchoredFleet();
    const rec = await record(2);
    const leafIndex = rec.batch?.leafIndex as number;
    const first = pathPositions(7, leafIndex)[0] as { level: number; index: number };
    editFile(batchTreeKey(batchId), (b) => flipByte(b, nodeOffset(7, first.level, first.index) + 3));
    const report = await verifyRecord(verifyDeps(), 'dev-v.2');
    expect(report.status).toBe('tampered');
    expect(codes(report)).toEqual(['inclusion-proof-invalid']);
    expect(report.checks.inclusion).toBe('invalid');
  });

  it('is tampered when the tree object is cut short', async () => {
    const batchId = await anchoredFleet();
    editFile(batchTreeKey(batchId), (b) => b.subarray(0, 40));
    const report = await verifyRecord(verifyDeps(), 'dev-v.2');
    expect(report.status).toBe('tampered');
    expect(codes(report)).toEqual(['inclusion-proof-invalid']);
  });

  it('is missing when the stored object is deleted', async () => {
    await anchoredFleet();
    await stack.objects.delete((await record(4)).objectKey);
    const report = await verifyRecord(verifyDeps(), 'dev-v.4');
    expect(report.status).toBe('missing');
    expect(codes(report)).toEqual(['object-missing']);
    expect(report.checks).toMatchObject({ header: 'ok', object: 'missing', inclusion: 'ok' });
  });

  it('is tampered when the chain no longer has the anchor transaction', async () => {
    await anchoredFleet();
    // The same ledger key over an empty file: same chain id, none of its history.
    const replaced = new EmbeddedLedger(
      join(stack.dir, 'replaced', 'ledger.jsonl'),
      join(stack.dir, 'secrets', 'ledger-ed25519.pk8'),
    );
    try {
      expect(replaced.chainId).toBe(stack.ledger.chainId);
      const report = await verifyRecord(verifyDeps([replaced]), 'dev-v.0');
      expect(report.status).toBe('tampered');
      expect(codes(report)).toEqual(['anchor-tx-not-found']);
      expect(report.checks.anchors).toMatchObject([{ status: 'not-found' }]);
    } finally {
      replaced.close();
    }
  });

  it('names unknown and malformed record ids with their error codes', async () => {
    await expect(verifyRecord(verifyDeps(), 'dev-v.0')).rejects.toMatchObject({ code: 'record-not-found' });
    await expect(verifyRecord(verifyDeps(), 'no-seq-here')).rejects.toBeInstanceOf(NotaryError);
    await expect(verifyRecord(verifyDeps(), 'no-seq-here')).rejects.toMatchObject({ code: 'bad-request' });
  });
});

describe('findDeviceGaps', () => {
  const gaps = (q: { fromSeq?: number; toSeq?: number } = {}, deviceId = 'dev-v') =>
    findDeviceGaps({ index: stack.index, objects: stack.objects, statements: stack.statements }, deviceId, q);

  it('reports nothing for a complete, linked history', async () => {
    for (let i = 0; i < 4; i++) await ingest(dev.seal().envelope);
    expect(await gaps()).toEqual({
      deviceId: 'dev-v',
      fromSeq: 0,
      toSeq: 3,
      highestSeq: 3,
      received: 4,
      gaps: [],
    });
  });

  it('reports sequence numbers never received, inside the range and up to an explicit toSeq', async () => {
    const sealed = Array.from({ length: 7 }, () => dev.seal());
    for (const r of sealed) if (r.seq !== 3 && r.seq !== 4) await ingest(r.envelope);
    expect(await gaps()).toMatchObject({
      highestSeq: 6,
      received: 5,
      gaps: [{ kind: 'not-received', fromSeq: 3, toSeq: 4 }],
    });
    expect((await gaps({ toSeq: 9 })).gaps).toEqual([
      { kind: 'not-received', fromSeq: 3, toSeq: 4 },
      { kind: 'not-received', fromSeq: 7, toSeq: 9 },
    ]);
    expect((await gaps({ fromSeq: 5, toSeq: 6 })).gaps).toEqual([]);
  });

  it('reports a record whose prevHash does not link to the record before it', async () => {
    const r0 = dev.seal();
    const r1 = dev.seal();
    const r2 = dev.seal({ prevHash: r0.recordHash });
    const r3 = dev.seal();
    for (const r of [r0, r1, r2, r3]) await ingest(r.envelope);
    const expected = {
      kind: 'chain-break',
      seq: 2,
      prevHash: toHex(r0.recordHash),
      expectedPrevHash: toHex(r1.recordHash),
    };
    expect((await gaps()).gaps).toEqual([expected]);
    // The link into the range is checked against the record just before it.
    expect((await gaps({ fromSeq: 2 })).gaps).toEqual([expected]);
    expect((await gaps({ fromSeq: 3 })).gaps).toEqual([]);
  });

  it('reports records whose stored object is gone, in seq order with the other gaps', async () => {
    const sealed = Array.from({ length: 5 }, () => dev.seal());
    for (const r of sealed) if (r.seq !== 2) await ingest(r.envelope);
    await stack.objects.delete((await record(1)).objectKey);
    await stack.objects.delete((await record(4)).objectKey);
    expect((await gaps()).gaps).toEqual([
      { kind: 'object-missing', seq: 1, recordId: 'dev-v.1' },
      { kind: 'not-received', fromSeq: 2, toSeq: 2 },
      { kind: 'object-missing', seq: 4, recordId: 'dev-v.4' },
    ]);
  });

  it('a device with no records has no highest seq and no gaps unless a range is asked for', async () => {
    expect(await gaps({}, 'dev-none')).toEqual({
      deviceId: 'dev-none',
      fromSeq: 0,
      toSeq: -1,
      highestSeq: null,
      received: 0,
      gaps: [],
    });
    expect((await gaps({ toSeq: 2 }, 'dev-none')).gaps).toEqual([
      { kind: 'not-received', fromSeq: 0, toSeq: 2 },
    ]);
  });

  it('answers a range of any width: the work is bounded by the records in it, not by its span', async () => {
    expect(MAX_GAP_RECORDS).toBe(100_000);
    await ingest(dev.seal().envelope);
    const top = Number.MAX_SAFE_INTEGER;
    expect(await gaps({ toSeq: top })).toEqual({
      deviceId: 'dev-v',
      fromSeq: 0,
      toSeq: top,
      highestSeq: 0,
      received: 1,
      gaps: [{ kind: 'not-received', fromSeq: 1, toSeq: top }],
    });
  });

  it('past maxRecords records, answers up to the last one examined and says where to go on', async () => {
    const sealed = Array.from({ length: 7 }, () => dev.seal());
    for (const r of sealed) if (r.seq !== 3 && r.seq !== 4) await ingest(r.envelope);
    const few = (q: { fromSeq?: number; toSeq?: number }) =>
      findDeviceGaps(
        { index: stack.index, objects: stack.objects, statements: stack.statements },
        'dev-v',
        q,
        3,
      );
    const first = await few({});
    expect(first).toEqual({
      deviceId: 'dev-v',
      fromSeq: 0,
      toSeq: 2,
      highestSeq: 6,
      received: 3,
      gaps: [],
      nextFromSeq: 3,
    });
    expect(await few({ fromSeq: 3 })).toEqual({
      deviceId: 'dev-v',
      fromSeq: 3,
      toSeq: 6,
      highestSeq: 6,
      received: 2,
      gaps: [{ kind: 'not-received', fromSeq: 3, toSeq: 4 }],
    });
    // Exactly maxRecords records and nothing after them in the range: complete, no nextFromSeq.
    expect(await few({ fromSeq: 2, toSeq: 5 })).not.toHaveProperty('nextFromSeq');
  });

  it('refuses fromSeq greater than toSeq with bad-request', async () => {
    await expect(gaps({ fromSeq: 5, toSeq: 4 })).rejects.toMatchObject({
      code: 'bad-request',
      message: 'fromSeq (5) is greater than toSeq (4)',
    });
    await expect(gaps({ fromSeq: 4, toSeq: 4 })).resolves.toMatchObject({ received: 0 });
  });
});
