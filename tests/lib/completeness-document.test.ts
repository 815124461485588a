/**
 * The completeness document as the server assembles it (lib/verify/completeness-document.ts), over the real
 * local adapters, judged by the pure offline `checkCompleteness`: a complete history, records dropped after
 * the last kept one and in the middle (the dishonest operator deletes index rows behind the store's back),
 * no head yet, a head still queued, the range rules and the time-range resolution.
 */
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { toHex } from '../../lib/core/bytes.js';
import { CompletenessDocument, checkCompleteness } from '../../lib/core/completeness.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { NotaryError } from '../../lib/core/errors.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { acceptHead } from '../../lib/devices/device-keys.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { buildCompletenessDocument, type CompletenessQuery } from '../../lib/verify/completeness-document.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { testOrigin } from '../support/origin.js';
import { testClock } from '../support/test-device.js';

const DEVICE = 'dev-c';

describe('completeness documents', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let key: SigningKey;
  const master = new Uint8Array(randomBytes(32));
  let prevHash: Uint8Array;
  let nextSeq: number;
  const T0 = 1_700_000_000_000;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    key = generateSigningKey('ed25519');
    prevHash = ZERO_HASH;
    nextSeq = 0;
    await provisionDevice(
      { devices: stack.index, statements: stack.statements, vault: stack.vault, clock: clock.now },
      {
        deviceId: DEVICE,
        masterKey: Buffer.from(master).toString('base64'),
        actor: 'op',
        signingKey: { alg: 'ed25519', publicKey: key.publicKey },
      },
    );
    clock.advance(10);
  });
  afterEach(async () => {
    await stack.close();
  });

  /** Seals and ingests the next `n` signed records, device time T0 + seq * 1000. */
  async function records(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const seq = nextSeq++;
      const timestamp = T0 + seq * 1000;
      const sealed = sealRecord({
        recordKey: deriveRecordKey(master, DEVICE, timestamp, seq),
        deviceId: DEVICE,
        seq,
        timestamp,
        prevHash,
        nonce: new Uint8Array(randomBytes(12)),
        plaintext: new TextEncoder().encode(`reading ${seq}`),
        signer: signerOf(key),
      });
      prevHash = sealed.recordHash;
      const out = await ingestEnvelope(
        {
          objects: stack.objects,
          index: stack.index,
          clock: clock.now,
          limits: { maxClockSkewMs: 60_000 },
          origin: testOrigin(stack.index),
        },
        { deviceId: DEVICE, bytes: sealed.envelope, via: 'inline' },
      );
      expect(out.status).toBe('stored');
      clock.advance(1);
    }
  }
  /** The device signs a head of everything it has sealed so far, at device time T0 + nextSeq * 1000. */
  async function head(): Promise<void> {
    const bytes = signHead(
      { deviceId: DEVICE, count: nextSeq, lastHash: prevHash, time: T0 + nextSeq * 1000 - 500 },
      signerOf(key),
    ).bytes;
    const out = await acceptHead(
      { devices: stack.index, statements: stack.statements, clock: clock.now, maxClockSkewMs: 1e15 },
      { deviceId: DEVICE, bytes },
    );
    expect(out.status).toBe('stored');
    clock.advance(1);
  }
  const anchor = () =>
    anchorPending({
      index: stack.index,
      statements: stack.statements,
      objects: stack.objects,
      chains: [stack.ledger],
      clock: clock.now,
      maxBatchSize: 100_000,
    });
  const build = (q: CompletenessQuery) =>
    buildCompletenessDocument(
      {
        index: stack.index,
        statements: stack.statements,
        objects: stack.objects,
        chains: new Map([[stack.ledger.chainId, stack.ledger]]),
        requiredConfirmations: () => 1,
      },
      DEVICE,
      q,
    );
  const check = async (doc: CompletenessDocument) => {
    // What the API sends, byte for byte, parsed back the way an offline verifier reads it.
    const parsed = CompletenessDocument.parse(JSON.parse(JSON.stringify(doc)));
    const ledgerKey = (await stack.ledger.describe()).publicKey;
    return checkCompleteness(parsed, {
      trustedLedgerKeys: [ledgerKey],
      trustedDeviceKeys: [{ deviceId: DEVICE, keyId: toHex(key.keyId) }],
    });
  };
  /** What a dishonest operator holding DATA_DIR does: delete index rows behind the store's back. */
  function dropRecords(seqs: number[]): void {
    const db = new DatabaseSync(stack.indexPath);
    db.exec('PRAGMA busy_timeout = 5000');
    for (const s of seqs) db.prepare('DELETE FROM records WHERE device_id = ? AND seq = ?').run(DEVICE, s);
    db.close();
  }

  it('a whole history up to an anchored head is complete, with every leaf included and anchored', async () => {
    await records(6);
    await head();
    await anchor();
    const doc = await build({ by: 'seq' });
    expect(doc.range).toEqual({ fromSeq: 0, toSeq: 5 });
    expect(doc.records).toHaveLength(6);
    expect(doc.keyEvents).toHaveLength(1);
    expect(Object.keys(doc.batches)).toHaveLength(1);
    const c = await check(doc);
    expect(c).toMatchObject({ status: 'verified', outcome: 'complete', missing: [], chainBreaks: [] });
    expect(c.head).toMatchObject({ status: 'ok', count: 6 });
    expect(c.origins).toMatchObject({ proven: 6, invalid: 0 });
    // Without the device key pinned, the same document is complete but origin only unpinned.
    const ledgerKey = (await stack.ledger.describe()).publicKey;
    const unpinned = checkCompleteness(doc, { trustedLedgerKeys: [ledgerKey] });
    expect(unpinned.status).toBe('unpinned');
    expect(unpinned.origins.unpinned).toBe(6);
  });

  it('records dropped after the last kept one, and in the middle, are named missing', async () => {
    await records(8);
    await head();
    await anchor();
    dropRecords([6, 7, 3]);
    const c = await check(await build({ by: 'seq' }));
    expect(c.outcome).toBe('incomplete');
    expect(c.missing).toEqual([
      { fromSeq: 3, toSeq: 3 },
      { fromSeq: 6, toSeq: 7 },
    ]);
    // A sub-range that avoids the holes is still complete: it ends at the head, which covers it.
    const sub = await check(await build({ by: 'seq', fromSeq: 4, toSeq: 5 }));
    expect(sub.range).toEqual({ fromSeq: 4, toSeq: 7 });
    expect(sub.missing).toEqual([{ fromSeq: 6, toSeq: 7 }]);
  });

  it('ends at the earliest head covering toSeq; the latest head inside when none covers it yet', async () => {
    await records(3);
    await head(); // count 3
    await records(3);
    await head(); // count 6
    await records(2); // 6, 7: after every head
    await anchor();
    expect((await build({ by: 'seq', toSeq: 1 })).range).toEqual({ fromSeq: 0, toSeq: 2 });
    expect((await build({ by: 'seq', toSeq: 4 })).range).toEqual({ fromSeq: 0, toSeq: 5 });
    const beyond = await build({ by: 'seq', toSeq: 7 });
    expect(beyond.range).toEqual({ fromSeq: 0, toSeq: 5 });
    expect((await check(beyond)).outcome).toBe('complete');
    // By default: up to the latest head or the highest stored seq, whichever is higher.
    expect((await build({ by: 'seq' })).range).toEqual({ fromSeq: 0, toSeq: 5 });
    // Nothing covers seqs 6..7 and no head lies inside: the document ends at the last record, unproven.
    const tail = await build({ by: 'seq', fromSeq: 6, toSeq: 7 });
    expect(tail.head).toBeUndefined();
    expect(tail.range).toEqual({ fromSeq: 6, toSeq: 7 });
    expect((await check(tail)).outcome).toBe('unproven');
  });

  it('a head still queued makes the document pending, and the check unproven until it is anchored', async () => {
    await records(2);
    await anchor();
    await head();
    const doc = await build({ by: 'seq' });
    expect(doc.head?.batchId).toBeUndefined();
    const c = await check(doc);
    expect(c.status).toBe('pending');
    expect(c.outcome).toBe('unproven');
    await anchor();
    expect((await check(await build({ by: 'seq' }))).outcome).toBe('complete');
  });

  it('refuses ranges wider than 10000 records and reversed ranges; an unknown device is not found', async () => {
    await records(1);
    const err = async (q: CompletenessQuery, code: string, device = DEVICE) => {
      const e = await buildCompletenessDocument(
        {
          index: stack.index,
          statements: stack.statements,
          objects: stack.objects,
          chains: new Map(),
          requiredConfirmations: () => 1,
        },
        device,
        q,
      ).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(NotaryError);
      expect((e as NotaryError).code).toBe(code);
      return e as NotaryError;
    };
    const wide = await err({ by: 'seq', fromSeq: 0, toSeq: 10_000 }, 'range-too-wide');
    expect(wide.details).toMatchObject({ fromSeq: 0, toSeq: 10_000, max: 10_000 });
    await err({ by: 'seq', fromSeq: 5, toSeq: 4 }, 'bad-request');
    await err({ by: 'time', from: 10, to: 10 }, 'bad-request');
    await err({ by: 'seq' }, 'device-not-found', 'nobody');
    // 10000 records exactly (0..9999) is allowed: the document just holds the one present.
    expect((await build({ by: 'seq', fromSeq: 0, toSeq: 9_999 })).range).toEqual({ fromSeq: 0, toSeq: 0 });
  });

  it('a time range resolves to seqs from the records and the heads around it', async () => {
    await records(4); // device times T0 .. T0 + 3000
    await head(); // count 4, time T0 + 3500
    await records(3); // T0 + 4000 .. T0 + 6000
    await head(); // count 7, time T0 + 6500
    await anchor();
    // [T0 + 1000, T0 + 3000): seqs 1..2 stored; the head before `to` says nothing more.
    expect((await build({ by: 'time', from: T0 + 1000, to: T0 + 3000 })).range).toEqual({
      fromSeq: 1,
      toSeq: 3,
    });
    // Records 5 and 6 dropped: the head signed before `to` still says 7 were sealed.
    dropRecords([5, 6]);
    const doc = await build({ by: 'time', from: T0 + 4000, to: T0 + 7000 });
    expect(doc.range).toEqual({ fromSeq: 4, toSeq: 6 });
    expect((await check(doc)).missing).toEqual([{ fromSeq: 5, toSeq: 6 }]);
    // Every record of a window dropped: the heads before `from` and `to` still bound it.
    dropRecords([4]);
    const emptied = await build({ by: 'time', from: T0 + 3600, to: T0 + 7000 });
    expect(emptied.range).toEqual({ fromSeq: 4, toSeq: 6 });
    expect((await check(emptied)).missing).toEqual([{ fromSeq: 4, toSeq: 6 }]);
  });
});
