/**
 * The proof bundle's `record.ipfs` and the hot-copy check (docs/proof-bundle.md §2.1 and §3.6), on the
 * worked example bundle: the field is optional (bundles without it verify as before), its shape is strict,
 * and the verdict the caller reached by fetching the CID changes the status only when it is `tampered`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kuboCid } from '../../lib/adapters/ipfs/unixfs-import.js';
import { fromBase64 } from '../../lib/core/bytes.js';
import {
  checkProofBundle,
  IPFS_PROFILE,
  type IpfsVerdict,
  ProofBundle,
} from '../../lib/core/proof-bundle.js';
import { judgeCidContent } from '../../lib/ipfs/verify-cid.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'docs', 'examples');
const plain = ProofBundle.parse(
  JSON.parse(readFileSync(join(EXAMPLES, 'proof-bundle.example.json'), 'utf8')),
);
/** The example's ledger key, as GET /v1/chains gave it (docs/proof-bundle.md §4.3): pinned, so `verified`. */
const PINNED = { trustedLedgerKeys: ['ojeesQh8GuK4UZ+QhH2nxsbbGhMtv+pKWTrMmQNalOk='] };
const envelope = new Uint8Array(readFileSync(join(EXAMPLES, 'sim-1-0001.1.envelope.bin')));
const header = fromBase64(plain.record.header) as Uint8Array;
const ciphertext = envelope.subarray(header.length);

async function hot(): Promise<ProofBundle> {
  return {
    ...plain,
    record: { ...plain.record, ipfs: { cid: await kuboCid(ciphertext), profile: IPFS_PROFILE } },
  };
}

describe('record.ipfs in the proof bundle', () => {
  it('is optional, and strict when present', async () => {
    const b = await hot();
    expect(ProofBundle.parse(JSON.parse(JSON.stringify(b)))).toEqual(b);
    const bad = (ipfs: unknown) => ProofBundle.safeParse({ ...b, record: { ...b.record, ipfs } }).success;
    expect(bad({ cid: b.record.ipfs?.cid, profile: 'unixfs-v1-2025' })).toBe(false);
    expect(bad({ cid: b.record.ipfs?.cid })).toBe(false);
    expect(bad({ cid: '/ipfs/Qm', profile: IPFS_PROFILE })).toBe(false);
    expect(bad({ cid: b.record.ipfs?.cid, profile: IPFS_PROFILE, size: 3 })).toBe(false);
  });

  it('changes nothing offline: no fetch, no ipfs check, the same verdict as without it', async () => {
    const withField = checkProofBundle(await hot(), { ...PINNED, envelope });
    expect(withField).toEqual(checkProofBundle(plain, { ...PINNED, envelope }));
    expect(withField.status).toBe('verified');
    expect(withField.checks.ipfs).toBeUndefined();
  });
});

describe('the hot-copy check', () => {
  /** What verify-cid judges when fetching `cid` gave `bytes`, whose own CID is `recomputedCid`. */
  const verdictOf = (cid: string, bytes: Uint8Array, recomputedCid: string): IpfsVerdict =>
    judgeCidContent({
      cid,
      header,
      recordHash: plain.record.recordHash,
      fetched: { kind: 'bytes', bytes },
      recomputedCid,
    });

  it('ok: the content behind the CID is the sealed ciphertext', async () => {
    const c = checkProofBundle(await hot(), {
      ...PINNED,
      envelope,
      ipfs: verdictOf(await kuboCid(ciphertext), ciphertext, await kuboCid(ciphertext)),
    });
    expect(c).toMatchObject({ status: 'verified', reasons: [], checks: { ipfs: 'ok' } });
  });

  it('tampered: content intact under its CID that is not the sealed ciphertext', async () => {
    const other = ciphertext.map((b) => b ^ 0xff);
    const v = verdictOf(await kuboCid(other), other, await kuboCid(other));
    expect(v).toMatchObject({ verdict: 'tampered', code: 'ciphertext-hash-mismatch' });
    const b = await hot();
    const c = checkProofBundle(
      { ...b, record: { ...b.record, ipfs: { cid: await kuboCid(other), profile: IPFS_PROFILE } } },
      {
        ...PINNED,
        envelope,
        ipfs: v,
      },
    );
    expect(c.status).toBe('tampered');
    expect(c.checks.ipfs).toBe('tampered');
    expect(c.reasons.map((r) => r.code)).toEqual(['ipfs-content-mismatch']);
    // Every other check still holds: it is the hot copy, not the record, that is wrong.
    expect(c.checks).toMatchObject({ header: 'ok', object: 'ok', inclusion: 'ok' });
  });

  it('cid unavailable never makes a record tampered, missing or pending', async () => {
    const down: IpfsVerdict = { verdict: 'cid unavailable', code: 'ipfs-unavailable', message: 'refused' };
    // Bytes that are not even the CID's content: the endpoint's fault, not the record's.
    const liar = verdictOf(
      await kuboCid(ciphertext),
      new Uint8Array(ciphertext.length),
      await kuboCid(new Uint8Array(ciphertext.length)),
    );
    expect(liar).toMatchObject({ verdict: 'cid unavailable', code: 'cid-content-mismatch' });
    for (const ipfs of [down, liar, null]) {
      const c = checkProofBundle(await hot(), { ...PINNED, envelope, ipfs });
      expect(c).toMatchObject({ status: 'verified', reasons: [], checks: { ipfs: 'cid unavailable' } });
    }
  });

  it('not-pinned: the bundle names no CID, whatever the caller passes', async () => {
    for (const ipfs of [null, { verdict: 'ok', code: 'ok', message: '' } as const]) {
      const c = checkProofBundle(plain, { ...PINNED, envelope, ipfs });
      expect(c).toMatchObject({ status: 'verified', reasons: [], checks: { ipfs: 'not-pinned' } });
    }
  });
});
