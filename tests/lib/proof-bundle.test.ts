/**
 * checkProofBundle (lib/core/proof-bundle.ts), the offline verifier, on a bundle built from real local
 * adapters (a v2 bundle of an unsigned record, as buildProofBundle issues) and then mutated one field at a
 * time: each mutation must be caught, with its own reason code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { fromHex, toBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { type CheckOptions, checkProofBundle, ProofBundleV2 } from '../../lib/core/proof-bundle.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { buildProofBundle } from '../../lib/verify/record-proof.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

let stack: LocalStack;
let bundle: ProofBundleV2;
let envelope: Uint8Array;
let otherEnvelope: Uint8Array;
let ledgerKey: string;

/** Three records of one device anchored in one batch; the bundle is for the middle one. */
beforeAll(async () => {
  const clock = testClock();
  stack = await openLocalStack({ clock: clock.now });
  const dev = new TestDevice('dev-p');
  await provisionLegacyDevices(stack.index, ['dev-p']);
  const sealed = [dev.seal(), dev.seal(), dev.seal()];
  for (const r of sealed) {
    await ingestEnvelope(
      {
        objects: stack.objects,
        index: stack.index,
        clock: clock.now,
        limits: { maxClockSkewMs: 0 },
        origin: testOrigin(stack.index),
      },
      { deviceId: 'dev-p', bytes: r.envelope, via: 'inline' },
    );
    clock.advance(1);
  }
  await anchorPending({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    chains: [stack.ledger],
    clock: clock.now,
    maxBatchSize: 100,
  });
  bundle = await buildProofBundle(
    {
      index: stack.index,
      statements: stack.statements,
      objects: stack.objects,
      chains: new Map([[stack.ledger.chainId, stack.ledger]]),
      clock: clock.now,
      requiredConfirmations: () => 1,
    },
    'dev-p.1',
  );
  envelope = (sealed[1] as { envelope: Uint8Array }).envelope;
  otherEnvelope = (sealed[2] as { envelope: Uint8Array }).envelope;
  ledgerKey = (await stack.ledger.describe()).publicKey as string;
});
afterAll(async () => {
  await stack.close();
});

const mutated = (edit: (b: ProofBundleV2) => void): ProofBundleV2 => {
  const b = structuredClone(bundle);
  edit(b);
  return b;
};
const flipHex = (hex: string, at = 0): string =>
  hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
const anchor0 = (b: ProofBundleV2) => b.anchors[0] as ProofBundleV2['anchors'][number];
const codes = (r: { reasons: { code: string }[] }) => r.reasons.map((x) => x.code).sort();

describe('checkProofBundle on a real bundle', () => {
  it('the untouched bundle verifies, alone, with its envelope, and after a JSON round trip', () => {
    expect(bundle.inclusion?.treeSize).toBe(3);
    expect(bundle.inclusion?.path).toHaveLength(2);
    expect(bundle.anchors).toHaveLength(1);
    const trusted = { trustedLedgerKeys: [ledgerKey] };
    expect(checkProofBundle(bundle, trusted)).toMatchObject({ status: 'verified', reasons: [] });
    const withObject = checkProofBundle(bundle, { ...trusted, envelope });
    expect(withObject).toMatchObject({
      status: 'verified',
      checks: { header: 'ok', object: 'ok', inclusion: 'ok', anchors: [{ status: 'ok', trust: 'pinned' }] },
    });
    // A ledger-backed anchor is final by construction: no confirmations to count.
    expect(withObject.checks.anchors[0]?.confirmations).toBeUndefined();
    // An unsigned record: integrity and existence proven, origin not.
    expect(withObject.proven).toMatchObject({
      integrity: 'proven',
      existence: { verdict: 'proven', chainId: stack.ledger.chainId },
      origin: { verdict: 'not-proven' },
      completeness: { verdict: 'not-covered' },
    });
    const downloaded = ProofBundleV2.parse(JSON.parse(JSON.stringify(bundle)));
    expect(checkProofBundle(downloaded, { ...trusted, envelope }).status).toBe('verified');
  });

  const negatives: [string, (b: ProofBundleV2) => void, CheckOptions, string, string[]][] = [
    [
      'a mutated path hash',
      (b) => void b.inclusion?.path.splice(0, 1, flipHex(b.inclusion.path[0] as string, 10)),
      {},
      'tampered',
      ['inclusion-proof-invalid'],
    ],
    ['a path hash removed', (b) => void b.inclusion?.path.pop(), {}, 'tampered', ['inclusion-proof-invalid']],
    [
      'a path hash added',
      (b) => void b.inclusion?.path.push('ab'.repeat(32)),
      {},
      'tampered',
      ['inclusion-proof-invalid'],
    ],
    [
      'a wrong leafIndex',
      (b) => {
        if (b.inclusion) b.inclusion.leafIndex = 0;
      },
      {},
      'tampered',
      ['inclusion-proof-invalid'],
    ],
    [
      'a leafIndex outside the tree',
      (b) => {
        if (b.inclusion) b.inclusion.leafIndex = 3;
      },
      {},
      'tampered',
      ['inclusion-proof-invalid'],
    ],
    [
      'a smaller treeSize',
      (b) => {
        if (b.inclusion) b.inclusion.treeSize = 2;
      },
      {},
      'tampered',
      ['anchor-root-mismatch', 'inclusion-proof-invalid'],
    ],
    // Leaf 1's path in a tree of 3 is also a valid path in a tree of 4 (RFC 6962 carries the last node up):
    // only the tree size the anchor commits to catches this one.
    [
      'a larger treeSize',
      (b) => {
        if (b.inclusion) b.inclusion.treeSize = 4;
      },
      {},
      'tampered',
      ['anchor-root-mismatch'],
    ],
    [
      'a wrong inclusion root',
      (b) => {
        if (b.inclusion) b.inclusion.root = flipHex(b.inclusion.root);
      },
      {},
      'tampered',
      ['anchor-root-mismatch', 'inclusion-proof-invalid'],
    ],
    [
      'a wrong root in the anchor payload',
      (b) => {
        anchor0(b).payload = toHex(encodeAnchorPayload({ root: sha256(utf8('other root')), treeSize: 3 }));
      },
      {},
      'tampered',
      ['anchor-root-mismatch'],
    ],
    [
      'a wrong tree size in the anchor payload',
      (b) => {
        anchor0(b).payload = toHex(
          encodeAnchorPayload({ root: fromHex(b.inclusion?.root as string) as Uint8Array, treeSize: 4 }),
        );
      },
      {},
      'tampered',
      ['anchor-root-mismatch'],
    ],
    [
      'an anchor payload that is not one',
      (b) => {
        anchor0(b).payload = 'deadbeef';
      },
      {},
      'tampered',
      ['anchor-root-mismatch'],
    ],
    [
      'a bad ledger signature',
      (b) => {
        const e = anchor0(b).evidence?.entry;
        if (e) e.sig = toBase64(new Uint8Array(64).fill(1));
      },
      {},
      'tampered',
      ['ledger-entry-invalid'],
    ],
    [
      'a ledger entry for other data',
      (b) => {
        const e = anchor0(b).evidence?.entry;
        if (e) e.time += 1;
      },
      {},
      'tampered',
      ['ledger-entry-invalid'],
    ],
    [
      'a txId other than the ledger entry’s',
      (b) => {
        anchor0(b).txId = flipHex(anchor0(b).txId);
      },
      {},
      'tampered',
      ['ledger-entry-invalid'],
    ],
    [
      'a ledger key that is not a key',
      (b) => {
        const ev = anchor0(b).evidence;
        if (ev) ev.publicKey = 'not base64!';
      },
      {},
      'tampered',
      ['ledger-entry-invalid'],
    ],
    [
      'an untrusted ledger key',
      () => {},
      { trustedLedgerKeys: [toBase64(new Uint8Array(32).fill(9))] },
      'tampered',
      ['untrusted-ledger-key'],
    ],
    [
      'confirmations claimed for a ledger entry',
      (b) => {
        anchor0(b).confirmations = 6;
      },
      {},
      'tampered',
      ['anchor-fields-mismatch'],
    ],
    [
      'a height other than the ledger entry’s',
      (b) => {
        anchor0(b).height = (anchor0(b).height ?? 0) + 1;
      },
      {},
      'tampered',
      ['anchor-fields-mismatch'],
    ],
    [
      'a changed envelope size',
      (b) => {
        b.record.envelopeSize += 1;
      },
      {},
      'tampered',
      ['record-fields-mismatch'],
    ],
    [
      'a changed object key',
      (b) => {
        b.record.objectKey = `${b.record.objectKey}x`;
      },
      {},
      'tampered',
      ['record-fields-mismatch'],
    ],
    [
      'a changed seq',
      (b) => {
        b.record.seq = 2;
      },
      {},
      'tampered',
      ['record-fields-mismatch'],
    ],
    [
      'a changed timestamp',
      (b) => {
        b.record.timestamp += 1;
      },
      {},
      'tampered',
      ['record-fields-mismatch'],
    ],
    [
      'a changed record hash',
      (b) => {
        b.record.recordHash = flipHex(b.record.recordHash);
      },
      {},
      'tampered',
      ['record-hash-mismatch'],
    ],
    [
      'a header that is not one',
      (b) => {
        b.record.header = toBase64(utf8('IOTN'));
      },
      {},
      'tampered',
      ['header-malformed'],
    ],
    [
      'a header with trailing bytes',
      (b) => {
        b.record.header = toBase64(new Uint8Array([...Buffer.from(b.record.header, 'base64'), 0]));
      },
      {},
      'tampered',
      ['header-malformed'],
    ],
    [
      'the envelope of another record',
      () => {},
      {
        get envelope() {
          return otherEnvelope;
        },
      },
      'tampered',
      ['object-header-mismatch'],
    ],
    ['a stored object that is gone', () => {}, { envelope: null }, 'missing', ['object-missing']],
    [
      'no anchor yet',
      (b) => {
        b.anchors = [];
      },
      {},
      'pending',
      ['anchor-not-submitted'],
    ],
    [
      'no inclusion yet',
      (b) => {
        delete b.inclusion;
        b.anchors = [];
      },
      {},
      'pending',
      ['not-yet-anchored'],
    ],
  ];

  it.each(negatives)('catches %s', (_name, edit, opts, status, expected) => {
    const result = checkProofBundle(mutated(edit), { trustedLedgerKeys: [ledgerKey], ...opts });
    expect(result.status).toBe(status);
    expect(codes(result)).toEqual(expected);
  });

  it('catches one flipped byte anywhere in the stored envelope', () => {
    for (const at of [0, 10, 40, 100, envelope.length - 1]) {
      const bad = envelope.slice();
      bad[at] = (bad[at] as number) ^ 0x80;
      const result = checkProofBundle(bundle, { trustedLedgerKeys: [ledgerKey], envelope: bad });
      expect(result.status).toBe('tampered');
      expect(result.checks.object).toBe('mismatch');
    }
  });

  it('live chain answers override what the bundle claims', () => {
    const txId = anchor0(bundle).txId;
    const payload = fromHex(anchor0(bundle).payload) as Uint8Array;
    const live = (v: { payload: Uint8Array; confirmations: number } | null) => ({
      trustedLedgerKeys: [ledgerKey],
      liveAnchors: new Map([[txId, v]]),
    });
    expect(codes(checkProofBundle(bundle, live(null)))).toEqual(['anchor-tx-not-found']);
    const otherPayload = encodeAnchorPayload({ root: sha256(utf8('x')), treeSize: 3 });
    expect(codes(checkProofBundle(bundle, live({ payload: otherPayload, confirmations: 9 })))).toEqual([
      'anchor-root-mismatch',
    ]);
    const deep = checkProofBundle(bundle, {
      ...live({ payload, confirmations: 7 }),
      requiredConfirmations: () => 6,
    });
    expect(deep).toMatchObject({
      status: 'verified',
      checks: { anchors: [{ status: 'ok', confirmations: 7 }] },
    });
  });
});
