/**
 * checkProofBundle (lib/core/proof-bundle.ts) on anchors of both methods: the root payload under the batch,
 * and an inline packet that carries the record's envelope whole. The check dispatches on what the transaction
 * carries, not on what the bundle claims; a claim that disagrees with the data, an inline packet without the
 * record, or one whose copy of the record was altered, is tampering. Block hash, confirmations and the
 * required confirmations per chain travel into the checks.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { encodeInlinePacket } from '../../lib/core/inline-packet.js';
import { checkProofBundle, type LiveAnchor, PROOF_FORMAT, ProofBundle } from '../../lib/core/proof-bundle.js';
import { TestDevice } from '../support/test-device.js';

const device = new TestDevice('dev-i');
const mine = device.seal();
const other = device.seal();

function bundleFor(anchors: ProofBundle['anchors']): ProofBundle {
  // A tree of one leaf: its root is the record hash, its path empty.
  const recordHash = toHex(mine.recordHash);
  return {
    format: PROOF_FORMAT,
    issuedAt: 1,
    record: {
      recordId: `dev-i.${mine.seq}`,
      deviceId: 'dev-i',
      seq: mine.seq,
      timestamp: mine.timestamp,
      header: toBase64(mine.headerBytes),
      recordHash,
      ciphertextSha256: toHex(mine.header.ciphertextHash),
      prevHash: '0'.repeat(64),
      envelopeSize: mine.envelope.length,
      objectKey: `records/dev-i/${recordHash}`,
    },
    inclusion: { batchId: 'b', leafIndex: 0, treeSize: 1, path: [], root: recordHash },
    anchors,
  };
}

const rootPayload = () => encodeAnchorPayload({ root: mine.recordHash, treeSize: 1 });
const live = (entries: [string, Uint8Array][], confirmations = 5): Map<string, LiveAnchor> =>
  new Map(entries.map(([txId, payload]) => [txId, { payload, confirmations, height: 7, blockHash: '0xbb' }]));

describe('proof bundle anchors: root and inline', () => {
  it('an inline packet carrying the record verifies as method inline, with block and confirmations', () => {
    const inline = encodeInlinePacket([other.envelope, mine.envelope]);
    const b = bundleFor([
      {
        chainId: 'evm:1',
        txId: '0xr',
        payload: toHex(rootPayload()),
        method: 'root',
        requiredConfirmations: 3,
      },
      { chainId: 'evm:1', txId: '0xi', payload: toHex(inline), method: 'inline', requiredConfirmations: 3 },
    ]);
    expect(ProofBundle.safeParse(b).success).toBe(true);
    const c = checkProofBundle(b, {
      envelope: mine.envelope,
      liveAnchors: live([
        ['0xr', rootPayload()],
        ['0xi', inline],
      ]),
    });
    expect(c.status).toBe('verified');
    expect(c.checks.anchors).toEqual([
      {
        chainId: 'evm:1',
        txId: '0xr',
        method: 'root',
        status: 'ok',
        confirmations: 5,
        height: 7,
        blockHash: '0xbb',
        requiredConfirmations: 3,
        trust: 'live',
      },
      {
        chainId: 'evm:1',
        txId: '0xi',
        method: 'inline',
        status: 'ok',
        confirmations: 5,
        height: 7,
        blockHash: '0xbb',
        requiredConfirmations: 3,
        trust: 'live',
      },
    ]);
  });

  it('the bundle’s own requiredConfirmations applies when the caller names none; the caller’s wins', () => {
    const b = bundleFor([
      { chainId: 'evm:1', txId: '0xr', payload: toHex(rootPayload()), requiredConfirmations: 12 },
    ]);
    const l = live([['0xr', rootPayload()]], 5);
    expect(checkProofBundle(b, { liveAnchors: l }).reasons.map((r) => r.code)).toEqual([
      'awaiting-confirmations',
    ]);
    expect(checkProofBundle(b, { liveAnchors: l, requiredConfirmations: () => 5 }).status).toBe('verified');
  });

  it('an inline packet without the record, or with an altered copy of it, is tampering', () => {
    const without = encodeInlinePacket([other.envelope]);
    const altered = mine.envelope.slice();
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    for (const data of [without, encodeInlinePacket([altered])]) {
      const b = bundleFor([{ chainId: 'evm:1', txId: '0xi', payload: toHex(data), method: 'inline' }]);
      const c = checkProofBundle(b, { liveAnchors: live([['0xi', data]]) });
      expect(c.status).toBe('tampered');
      expect(c.reasons.map((r) => r.code)).toEqual(['inline-record-not-found']);
      expect(c.checks.anchors[0]).toMatchObject({ method: 'inline', status: 'mismatch' });
    }
  });

  it('what the transaction carries decides: a method claim that disagrees with the data is tampering', () => {
    const inline = encodeInlinePacket([mine.envelope]);
    // Claims root, carries an inline packet.
    const a = checkProofBundle(
      bundleFor([{ chainId: 'e', txId: 't', payload: toHex(inline), method: 'root' }]),
      {
        liveAnchors: live([['t', inline]]),
      },
    );
    expect(a.reasons.map((r) => r.code)).toEqual(['inline-record-not-found']);
    // Claims inline, carries the root payload.
    const b = checkProofBundle(
      bundleFor([{ chainId: 'e', txId: 't', payload: toHex(rootPayload()), method: 'inline' }]),
      {
        liveAnchors: live([['t', rootPayload()]]),
      },
    );
    expect(b.reasons.map((r) => r.code)).toEqual(['inline-record-not-found']);
    // No claim: the magic decides, and a root payload is checked as a root.
    const c = checkProofBundle(bundleFor([{ chainId: 'e', txId: 't', payload: toHex(rootPayload()) }]), {
      liveAnchors: live([['t', rootPayload()]]),
    });
    expect(c.status).toBe('verified');
    expect(c.checks.anchors[0]?.method).toBe('root');
    // Garbage on chain is neither.
    const junk = new Uint8Array(randomBytes(45));
    const d = checkProofBundle(bundleFor([{ chainId: 'e', txId: 't', payload: toHex(junk) }]), {
      liveAnchors: live([['t', junk]]),
    });
    expect(d.reasons.map((r) => r.code)).toEqual(['anchor-root-mismatch']);
  });
});
