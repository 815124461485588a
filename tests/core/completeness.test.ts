/**
 * The completeness document (docs/completeness.md): truncation after the head, a dropped record, reordering,
 * a head that disagrees, unproven ranges, trust roots, and no unbound fields. Documents are built from
 * lib/core by tests/support/proof-builder.ts, as the backend assembles them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../lib/core/bytes.js';
import {
  type CompletenessDocument,
  type CompletenessOptions,
  checkCompleteness,
  CompletenessDocument as Schema,
} from '../../lib/core/completeness.js';
import { generateSigningKey } from '../../lib/core/device-signature.js';
import type { SealedRecord } from '../../lib/core/envelope.js';
import { compact, registerEvent, revokeEvent, SignedDevice, TestLog } from '../support/proof-builder.js';

/** The exhaustive byte-change tests try every position; on a busy 2-core machine that takes minutes. */
const EXHAUSTIVE_TIMEOUT_MS = 600_000;

function check(doc: CompletenessDocument, opts: CompletenessOptions = {}) {
  return checkCompleteness(Schema.parse(JSON.parse(compact(doc))), opts);
}

/** A device registered, 8 records in three batches, then a head over all 8. */
function scenario() {
  const log = new TestLog();
  const dev = new SignedDevice('dev-c');
  const reg = dev.registration();
  const recs: SealedRecord[] = [];
  const seal = () => {
    const r = dev.seal();
    recs.push(r);
    return r.headerBytes;
  };
  log.commit([reg, seal(), seal(), seal()]);
  log.commit([seal(), seal(), seal()]);
  const last = [seal(), seal()];
  const head = dev.head();
  log.commit([...last, head]);
  const opts: CompletenessOptions = {
    trustedLedgerKeys: [log.ledgers[0]?.publicKeyBase64 as string],
    trustedDeviceKeys: [{ deviceId: 'dev-c', keyId: toHex(dev.key.keyId) }],
  };
  const doc = (
    records = recs.map((r) => r.headerBytes),
    extra: Partial<Parameters<TestLog['completeness']>[0]> = {},
  ) => log.completeness({ deviceId: 'dev-c', fromSeq: 0, records, head, keyEvents: [reg], ...extra });
  return { log, dev, reg, recs, head, opts, doc };
}

describe('checkCompleteness', () => {
  it('every record of the range, linked, up to a head signed by the pinned device key: complete', () => {
    const { doc, opts } = scenario();
    const d = doc();
    expect(d.range).toEqual({ fromSeq: 0, toSeq: 7 });
    expect(check(d, opts)).toMatchObject({
      status: 'verified',
      outcome: 'complete',
      missing: [],
      chainBreaks: [],
      head: { status: 'ok', count: 8, origin: { verdict: 'proven' } },
      origins: { proven: 8, unpinned: 0, 'not-proven': 0, invalid: 0, unsigned: 0 },
      reasons: [],
    });
    // A later start: the range is fromSeq..head count - 1, and record fromSeq's own link is not judged.
    const { recs, log, head, reg } = scenario();
    const tail = log.completeness({
      deviceId: 'dev-c',
      fromSeq: 5,
      records: recs.slice(5).map((r) => r.headerBytes),
      head,
      keyEvents: [reg],
    });
    const pins = { trustedLedgerKeys: [log.ledgers[0]?.publicKeyBase64 as string] };
    expect(check(tail, pins)).toMatchObject({
      status: 'unpinned',
      outcome: 'complete',
      range: { fromSeq: 5, toSeq: 7 },
    });
  });

  it('truncation: records dropped after the last one kept are missing up to the head', () => {
    const { doc, recs, opts } = scenario();
    const c = check(doc(recs.slice(0, 6).map((r) => r.headerBytes)), opts);
    expect(c).toMatchObject({
      status: 'verified',
      outcome: 'incomplete',
      missing: [{ fromSeq: 6, toSeq: 7 }],
      chainBreaks: [],
    });
    expect(c.reasons.map((r) => r.code)).toEqual(['record-missing']);
  });

  it('a record dropped in the middle is missing; a record replaced is a chain break', () => {
    const { doc, recs, opts, dev, log } = scenario();
    const dropped = check(doc(recs.filter((r) => r.header.seq !== 3).map((r) => r.headerBytes)), opts);
    expect(dropped).toMatchObject({
      outcome: 'incomplete',
      missing: [{ fromSeq: 3, toSeq: 3 }],
      chainBreaks: [],
    });

    // The operator replaces record 4 by another one with the same seq, signed by a key it registered itself.
    const operatorKey = generateSigningKey('ed25519');
    const fakeReg = registerEvent('dev-c', operatorKey, 1_700_000_900_000);
    const impostor = new SignedDevice('dev-c');
    impostor.nextSeq = 4;
    impostor.key = operatorKey;
    const forged = impostor.seal();
    log.commit([fakeReg, forged.headerBytes]);
    const records = recs.map((r) => (r.header.seq === 4 ? forged.headerBytes : r.headerBytes));
    const c = check(doc(records, { keyEvents: [dev.registration(1_699_999_000_000), fakeReg] }), opts);
    expect(c.outcome).toBe('incomplete');
    expect(c.chainBreaks.map((b) => b.seq)).toEqual([4, 5]);
    expect(c.origins).toMatchObject({ proven: 7, 'not-proven': 1 });
  });

  it('reordered records are refused as tampering', () => {
    const { doc, recs, opts } = scenario();
    const swapped = recs.map((r) => r.headerBytes);
    [swapped[2], swapped[3]] = [swapped[3] as Uint8Array, swapped[2] as Uint8Array];
    const c = check(doc(swapped), opts);
    expect(c.status).toBe('tampered');
    expect(c.reasons.map((r) => r.code)).toContain('records-out-of-order');
  });

  it('a head that disagrees with the records is a mismatch; a head by another key does not count', () => {
    const { doc, recs, opts, dev, log, reg } = scenario();
    // A head over a different history (the device's last record replaced by another with the same seq).
    const other = new SignedDevice('dev-c');
    other.key = dev.key;
    other.nextSeq = 8;
    other.prevHash = new Uint8Array(32).fill(9);
    const wrongHead = other.head();
    log.commit([wrongHead]);
    expect(check(doc(undefined, { head: wrongHead }), opts)).toMatchObject({
      outcome: 'incomplete',
      head: { status: 'mismatch' },
    });

    // A head signed by a revoked key: invalid, so tampered.
    const revoke = revokeEvent('dev-c', dev.key);
    log.commit([revoke]);
    const late = dev.head();
    log.commit([late]);
    const c = check(
      log.completeness({
        deviceId: 'dev-c',
        fromSeq: 0,
        records: recs.map((r) => r.headerBytes),
        head: late,
        keyEvents: [reg, revoke],
      }),
      opts,
    );
    expect(c).toMatchObject({ status: 'tampered', head: { status: 'invalid' } });
  });

  it('no head: unproven; a head whose key nobody pinned: unpinned', () => {
    const { doc, opts, log, recs, reg } = scenario();
    const noHead = log.completeness({
      deviceId: 'dev-c',
      fromSeq: 0,
      records: recs.map((r) => r.headerBytes),
      keyEvents: [reg],
    });
    expect(noHead.range.toSeq).toBe(7);
    expect(check(noHead, opts)).toMatchObject({
      status: 'verified',
      outcome: 'unproven',
      head: { status: 'absent' },
    });
    const unpinned = check(doc(), { trustedLedgerKeys: opts.trustedLedgerKeys ?? [] });
    expect(unpinned).toMatchObject({
      status: 'unpinned',
      outcome: 'complete',
      head: { status: 'ok', origin: { verdict: 'unpinned' } },
    });
    expect(unpinned.reasons.map((r) => r.code)).toEqual(['head-key-unpinned']);
    expect(check(doc()).status).toBe('unpinned');
  });

  it.each([
    [
      'a toSeq other than the head’s count - 1',
      (d: CompletenessDocument) => {
        d.range.toSeq = 6;
      },
      'range-mismatch',
    ],
    [
      'a record outside the range',
      (d: CompletenessDocument) => {
        d.range.fromSeq = 1;
      },
      'record-out-of-range',
    ],
    [
      'a batch no leaf references',
      (d: CompletenessDocument) => {
        const [id, b] = Object.entries(d.batches)[0] as [string, CompletenessDocument['batches'][string]];
        d.batches[`${id}x`] = b;
      },
      'batch-unreferenced',
    ],
    [
      'a leaf naming a batch the document lacks',
      (d: CompletenessDocument) => {
        (d.records[0] as { batchId?: string }).batchId = 'nope';
      },
      'batch-missing',
    ],
    [
      'a record in the key events',
      (d: CompletenessDocument) => void d.keyEvents.push(d.records[0] as never),
      'leaf-malformed',
    ],
  ])('refuses %s', (_name, edit, code) => {
    const { doc, opts } = scenario();
    const d = structuredClone(doc());
    edit(d);
    const c = check(d, opts);
    expect(c.status).toBe('tampered');
    expect(c.reasons.map((r) => r.code)).toContain(code);
  });

  it('refuses more than 10,000 sequence numbers in one document', () => {
    const { doc } = scenario();
    const d = doc();
    expect(Schema.safeParse({ ...d, range: { fromSeq: 0, toSeq: 10_000 } }).success).toBe(false);
    expect(Schema.safeParse({ ...d, range: { fromSeq: 0, toSeq: 9_999 } }).success).toBe(true);
  });
});

describe('completeness document: no unbound fields', () => {
  function fails(text: string, opts: CompletenessOptions): boolean {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return true;
    }
    const parsed = Schema.safeParse(json);
    if (!parsed.success) return true;
    const c = checkCompleteness(parsed.data, opts);
    return c.status !== 'verified' || c.outcome !== 'complete';
  }

  /** A small document: 3 records and a head, so every byte can be tried. */
  function small() {
    const log = new TestLog();
    const dev = new SignedDevice('dev-s');
    const reg = dev.registration();
    const recs = [dev.seal(), dev.seal()];
    log.commit([reg, ...recs.map((r) => r.headerBytes)]);
    const r2 = dev.seal();
    const head = dev.head();
    log.commit([r2.headerBytes, head]);
    const doc = log.completeness({
      deviceId: 'dev-s',
      fromSeq: 0,
      records: [...recs, r2].map((r) => r.headerBytes),
      head,
      keyEvents: [reg],
    });
    const opts: CompletenessOptions = {
      trustedLedgerKeys: [log.ledgers[0]?.publicKeyBase64 as string],
      trustedDeviceKeys: [{ keyId: toHex(dev.key.keyId) }],
    };
    return { doc, opts };
  }

  it(
    'every single-byte change to the compact JSON fails',
    () => {
      const { doc, opts } = small();
      const text = compact(doc);
      expect(checkCompleteness(Schema.parse(JSON.parse(text)), opts)).toMatchObject({
        status: 'verified',
        outcome: 'complete',
      });
      const bytes = new TextEncoder().encode(text);
      const survivors: string[] = [];
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes.slice();
        b[i] = (b[i] as number) ^ 0x01;
        let t: string;
        try {
          t = new TextDecoder('utf-8', { fatal: true }).decode(b);
        } catch {
          continue;
        }
        if (!fails(t, opts)) survivors.push(`${i}: …${t.slice(Math.max(0, i - 20), i + 20)}…`);
      }
      expect(survivors).toEqual([]);
    },
    EXHAUSTIVE_TIMEOUT_MS,
  );

  it(
    'every single-byte change inside each decoded leaf fails',
    () => {
      const { doc, opts } = small();
      const leaves: { name: string; get: (d: CompletenessDocument) => { leaf: string } }[] = [
        ...doc.records.map((_, i) => ({
          name: `records[${i}]`,
          get: (d: CompletenessDocument) => d.records[i] as { leaf: string },
        })),
        ...doc.keyEvents.map((_, i) => ({
          name: `keyEvents[${i}]`,
          get: (d: CompletenessDocument) => d.keyEvents[i] as { leaf: string },
        })),
        { name: 'head', get: (d: CompletenessDocument) => d.head as { leaf: string } },
      ];
      for (const { name, get } of leaves) {
        const raw = fromBase64(get(doc).leaf) as Uint8Array;
        for (let i = 0; i < raw.length; i++) {
          const d = structuredClone(doc);
          const changed = raw.slice();
          changed[i] = (changed[i] as number) ^ 0x01;
          get(d).leaf = toBase64(changed);
          expect(fails(compact(d), opts), `${name} byte ${i}`).toBe(true);
        }
      }
    },
    EXHAUSTIVE_TIMEOUT_MS,
  );

  it('a random change of any value at any position fails (property)', () => {
    const { doc, opts } = small();
    const bytes = new TextEncoder().encode(compact(doc));
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const b = bytes.slice();
        b[i] = (b[i] as number) ^ delta;
        let t: string;
        try {
          t = new TextDecoder('utf-8', { fatal: true }).decode(b);
        } catch {
          return;
        }
        expect(fails(t, opts)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
