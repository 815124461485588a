/**
 * Verify by CID: fetch a record's hot copy from IPFS and check it against what was anchored.
 *
 * The anchored leaf data is the record header; it carries the ciphertext's length and SHA-256 (the hot copy is
 * the ciphertext, see pin-record.ts). So the chain of checks is: header hashes to the record hash (the Merkle
 * leaf), and the fetched bytes have the header's length and SHA-256.
 *
 * Three verdicts, kept apart because they call for different actions:
 * - ok: the copy behind the CID is the anchored ciphertext;
 * - cid unavailable: the copy could not be had intact (not found, endpoint down or slow, or bytes that do not
 *   even hash to the CID asked for, which is a transport or endpoint fault: IPFS content cannot change);
 * - tampered: the content behind the CID is intact as content, and it is not what was anchored.
 *
 * `judgeCidContent` is the pure judgement; `verifyRecordCid` gathers its inputs.
 */
import { CID } from 'multiformats/cid';
import { bytesEqual, fromBase64, toHex } from '../core/bytes.js';
import { parseHeader, recordHashOf } from '../core/envelope.js';
import { sha256 } from '../core/hash.js';
import type { Pinner } from '../ports.js';
import { type IpfsErrorCode, isIpfsError } from './errors.js';

export type CidVerdict = 'ok' | 'cid unavailable' | 'tampered';

export type CidCheckCode =
  | 'ok'
  | Exclude<IpfsErrorCode, 'content-too-large'>
  | 'cid-content-mismatch'
  | 'header-malformed'
  | 'header-mismatch'
  | 'length-mismatch'
  | 'ciphertext-hash-mismatch';

export interface CidCheck {
  cid: string;
  verdict: CidVerdict;
  code: CidCheckCode;
  message: string;
}

/** What fetching by CID gave. */
export type FetchResult =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'not-found' }
  /** More bytes than the record's ciphertext has. */
  | { kind: 'too-large'; limit: number }
  | { kind: 'error'; code: Exclude<IpfsErrorCode, 'content-too-large' | 'cid-not-found'>; message: string };

export interface CidJudgeInput {
  cid: string;
  /** The exact header bytes (the Merkle leaf data) as the index or the proof bundle holds them. */
  header: Uint8Array;
  /** Hex record hash: the Merkle leaf hash the header must have. */
  recordHash: string;
  fetched: FetchResult;
  /** The CID of the fetched bytes under the pinning import settings, when the caller computed it. */
  recomputedCid?: string;
}

const check = (cid: string, verdict: CidVerdict, code: CidCheckCode, message: string): CidCheck => ({
  cid,
  verdict,
  code,
  message,
});

export function sameContentId(a: string, b: string): boolean {
  try {
    return CID.parse(a).toV1().equals(CID.parse(b).toV1());
  } catch {
    return false;
  }
}

/** The header's own checks, which need no fetch: its shape, and its hash against the record hash. */
function checkHeader(
  cid: string,
  header: Uint8Array,
  recordHash: string,
): { ok: true; ciphertextLength: number; ciphertextHash: Uint8Array } | { ok: false; check: CidCheck } {
  const parsed = parseHeader(header);
  if (!parsed.ok || parsed.headerBytes.length !== header.length)
    return {
      ok: false,
      check: check(
        cid,
        'tampered',
        'header-malformed',
        'the record header is not exactly one v1 envelope header',
      ),
    };
  if (toHex(recordHashOf(header)) !== recordHash)
    return {
      ok: false,
      check: check(cid, 'tampered', 'header-mismatch', 'the record header does not hash to the record hash'),
    };
  const { ciphertextLength, ciphertextHash } = parsed.header;
  return { ok: true, ciphertextLength, ciphertextHash };
}

export function judgeCidContent(input: CidJudgeInput): CidCheck {
  const { cid } = input;
  const h = checkHeader(cid, input.header, input.recordHash);
  if (!h.ok) return h.check;
  const { ciphertextLength, ciphertextHash } = h;

  const f = input.fetched;
  if (f.kind === 'not-found')
    return check(cid, 'cid unavailable', 'cid-not-found', 'the IPFS endpoint cannot find the CID');
  if (f.kind === 'error') return check(cid, 'cid unavailable', f.code, f.message);
  if (f.kind === 'too-large')
    return check(
      cid,
      'tampered',
      'length-mismatch',
      `the content behind the CID is longer than the record's ${ciphertextLength}-byte ciphertext`,
    );
  if (input.recomputedCid !== undefined && !sameContentId(input.recomputedCid, cid))
    return check(
      cid,
      'cid unavailable',
      'cid-content-mismatch',
      `the endpoint returned bytes whose CID is ${input.recomputedCid}, not the CID asked for`,
    );
  if (f.bytes.length !== ciphertextLength)
    return check(
      cid,
      'tampered',
      'length-mismatch',
      `the content is ${f.bytes.length} bytes; the anchored header says ${ciphertextLength}`,
    );
  if (!bytesEqual(sha256(f.bytes), ciphertextHash))
    return check(
      cid,
      'tampered',
      'ciphertext-hash-mismatch',
      "SHA-256 of the content differs from the anchored header's ciphertext hash",
    );
  return check(cid, 'ok', 'ok', 'the content behind the CID is the anchored ciphertext');
}

// ---------------------------------------------------------------------------------------------- use case

export interface VerifyCidDeps {
  pinner: Pick<Pinner, 'fetch'>;
  /**
   * Recomputes the CID of fetched bytes with the settings that pinned them (the embedded adapter provides
   * Kubo's). Optional: without it, bytes an endpoint corrupted in transit are reported as tampered.
   */
  cidOf?: (bytes: Uint8Array, like: string) => Promise<string>;
}

export async function verifyRecordCid(
  deps: VerifyCidDeps,
  input: { cid: string; header: Uint8Array | string; recordHash: string },
  opts: { signal?: AbortSignal } = {},
): Promise<CidCheck> {
  const header = typeof input.header === 'string' ? fromBase64(input.header) : input.header;
  if (!header)
    return check(input.cid, 'tampered', 'header-malformed', 'the record header is not valid base64');
  const h = checkHeader(input.cid, header, input.recordHash);
  if (!h.ok) return h.check;
  const judge = (fetched: FetchResult, recomputedCid?: string) =>
    judgeCidContent({
      cid: input.cid,
      header,
      recordHash: input.recordHash,
      fetched,
      ...(recomputedCid === undefined ? {} : { recomputedCid }),
    });

  // The ciphertext's length bounds the read: anything longer is not the record's ciphertext.
  const limit = h.ciphertextLength;
  let fetched: FetchResult;
  try {
    const bytes = await deps.pinner.fetch(input.cid, { maxBytes: limit, ...opts });
    fetched = bytes ? { kind: 'bytes', bytes } : { kind: 'not-found' };
  } catch (e) {
    if (!isIpfsError(e)) throw e;
    if (e.code === 'content-too-large') fetched = { kind: 'too-large', limit };
    else if (e.code === 'cid-not-found') fetched = { kind: 'not-found' };
    else fetched = { kind: 'error', code: e.code, message: e.message };
  }
  if (fetched.kind === 'bytes' && deps.cidOf)
    return judge(fetched, await deps.cidOf(fetched.bytes, input.cid));
  return judge(fetched);
}
