/** The pure judgement of verify-by-CID: each verdict and code, from inputs built from a real sealed record. */
import { describe, expect, it } from 'vitest';
import { fromBase64 } from '../../lib/core/bytes.js';
import { type FetchResult, judgeCidContent, sameContentId } from '../../lib/ipfs/verify-cid.js';
import { sealTestRecord } from './support/records.js';

const CID = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
const rec = sealTestRecord('sensor-7', 3, 200);
const header = fromBase64(rec.header) as Uint8Array;
const judge = (
  fetched: FetchResult,
  extra: { recomputedCid?: string; header?: Uint8Array; recordHash?: string } = {},
) =>
  judgeCidContent({
    cid: CID,
    header: extra.header ?? header,
    recordHash: extra.recordHash ?? rec.recordHash,
    fetched,
    ...(extra.recomputedCid === undefined ? {} : { recomputedCid: extra.recomputedCid }),
  });
const verdict = (...a: Parameters<typeof judge>) => {
  const c = judge(...a);
  return [c.verdict, c.code];
};

describe('judgeCidContent', () => {
  it('ok when the content is the anchored ciphertext', () => {
    expect(verdict({ kind: 'bytes', bytes: rec.ciphertext })).toEqual(['ok', 'ok']);
    expect(verdict({ kind: 'bytes', bytes: rec.ciphertext }, { recomputedCid: CID })).toEqual(['ok', 'ok']);
  });

  it('cid unavailable when the content could not be had intact', () => {
    expect(verdict({ kind: 'not-found' })).toEqual(['cid unavailable', 'cid-not-found']);
    expect(verdict({ kind: 'error', code: 'ipfs-unavailable', message: 'refused' })).toEqual([
      'cid unavailable',
      'ipfs-unavailable',
    ]);
    expect(verdict({ kind: 'error', code: 'ipfs-timeout', message: 'slow' })).toEqual([
      'cid unavailable',
      'ipfs-timeout',
    ]);
    // The endpoint sent bytes that are not the CID's content: a transport or endpoint fault, not tampering.
    const other = new Uint8Array(rec.ciphertext);
    other[0] = (other[0] ?? 0) ^ 1;
    expect(
      verdict(
        { kind: 'bytes', bytes: other },
        { recomputedCid: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH' },
      ),
    ).toEqual(['cid unavailable', 'cid-content-mismatch']);
  });

  it('tampered when the content behind the CID is intact and is not what was anchored', () => {
    const flipped = new Uint8Array(rec.ciphertext);
    flipped[10] = (flipped[10] ?? 0) ^ 0x80;
    expect(verdict({ kind: 'bytes', bytes: flipped }, { recomputedCid: CID })).toEqual([
      'tampered',
      'ciphertext-hash-mismatch',
    ]);
    expect(verdict({ kind: 'bytes', bytes: flipped })).toEqual(['tampered', 'ciphertext-hash-mismatch']);
    expect(verdict({ kind: 'bytes', bytes: rec.ciphertext.subarray(1) })).toEqual([
      'tampered',
      'length-mismatch',
    ]);
    expect(verdict({ kind: 'too-large', limit: rec.ciphertext.length })).toEqual([
      'tampered',
      'length-mismatch',
    ]);
  });

  it('tampered when the record header itself does not match its hash', () => {
    const badHeader = new Uint8Array(header);
    badHeader[20] = (badHeader[20] ?? 0) ^ 1;
    expect(verdict({ kind: 'bytes', bytes: rec.ciphertext }, { header: badHeader })).toEqual([
      'tampered',
      'header-mismatch',
    ]);
    expect(verdict({ kind: 'bytes', bytes: rec.ciphertext }, { header: header.subarray(0, 20) })).toEqual([
      'tampered',
      'header-malformed',
    ]);
    // Header checks come first: a wrong header is tampering whatever IPFS says.
    expect(verdict({ kind: 'not-found' }, { recordHash: '00'.repeat(32) })).toEqual([
      'tampered',
      'header-mismatch',
    ]);
  });

  it('compares CIDs by content, not by spelling', () => {
    expect(sameContentId(CID, 'bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby')).toBe(true);
    expect(sameContentId(CID, 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')).toBe(false);
    expect(sameContentId(CID, 'garbage')).toBe(false);
  });
});
