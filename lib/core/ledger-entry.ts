/**
 * Entries of the embedded ledger, the chain the single-machine runtime anchors to. Each entry is hash-chained
 * to the one before and signed with the ledger's Ed25519 key, so a proof bundle that carries the entry and
 * the public key can be checked offline:
 *
 *   entryHash = SHA-256("IOTN-LEDGER-1" | height u64 | time u64 | prev [32] | dataLen u32 | data)
 *   txId      = hex(entryHash)
 *   sig       = Ed25519(ledgerKey, entryHash)
 */
import { bytesEqual, concatBytes, fromBase64, fromHex, toHex, utf8 } from './bytes.js';
import { ed25519Verify } from './crypto-primitives.js';
import { sha256 } from './hash.js';
import { u64be } from './u64.js';

export const LEDGER_DOMAIN = utf8('IOTN-LEDGER-1');

export interface LedgerEntry {
  height: number;
  time: number;
  /** Hex hash of the previous entry; 64 zeros for height 0. */
  prev: string;
  /** Hex of the anchored bytes. */
  data: string;
  /** Hex entry hash: the transaction id. */
  hash: string;
  /** Base64 Ed25519 signature over the 32-byte entry hash. */
  sig: string;
}

export function ledgerEntryHash(e: Pick<LedgerEntry, 'height' | 'time' | 'prev' | 'data'>): Uint8Array {
  const prev = fromHex(e.prev);
  const data = fromHex(e.data);
  // Programming errors throw RangeError in this file (entries come from the ledger adapters, which check their lines first).
  if (prev?.length !== 32 || !data) throw new RangeError('ledger entry has malformed prev or data');
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, data.length);
  return sha256(concatBytes(LEDGER_DOMAIN, u64be(e.height), u64be(e.time), prev, len, data));
}

export function ledgerChainId(publicKey: Uint8Array): string {
  return `embedded:${toHex(sha256(publicKey)).slice(0, 16)}`;
}

/** Pure Ed25519 (RFC 8032) verification of `sig` over `message` with a raw 32-byte public key. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 32 || sig.length !== 64) return false;
  return ed25519Verify(publicKey, message, sig);
}

/**
 * The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410 §4) is these 12 fixed bytes (SEQUENCE,
 * AlgorithmIdentifier with OID 1.3.101.112 and no parameters, BIT STRING of 33 bytes with 0 unused bits)
 * followed by the raw 32-byte key. KMS GetPublicKey answers this form.
 */
export const ED25519_SPKI_PREFIX = fromHex('302a300506032b6570032100') as Uint8Array;

/** The raw public key of an Ed25519 SPKI, or undefined when `spki` is anything else. */
export function ed25519RawFromSpki(spki: Uint8Array): Uint8Array | undefined {
  if (spki.length !== ED25519_SPKI_PREFIX.length + 32) return undefined;
  if (!bytesEqual(spki.subarray(0, ED25519_SPKI_PREFIX.length), ED25519_SPKI_PREFIX)) return undefined;
  return spki.slice(ED25519_SPKI_PREFIX.length);
}

export type LedgerEntryCheck =
  | { ok: true }
  | { ok: false; code: 'malformed-entry' | 'entry-hash-mismatch' | 'bad-signature'; message: string };

/** Checks an entry's hash and signature against the ledger's raw 32-byte Ed25519 public key. */
export function verifyLedgerEntry(e: LedgerEntry, publicKey: Uint8Array): LedgerEntryCheck {
  let hash: Uint8Array;
  try {
    hash = ledgerEntryHash(e);
  } catch (err) {
    return { ok: false, code: 'malformed-entry', message: (err as Error).message };
  }
  const claimed = fromHex(e.hash);
  if (!claimed || !bytesEqual(claimed, hash)) {
    return { ok: false, code: 'entry-hash-mismatch', message: 'entry fields do not hash to its id' };
  }
  const sig = fromBase64(e.sig);
  if (sig?.length !== 64 || publicKey.length !== 32) {
    return { ok: false, code: 'malformed-entry', message: 'signature or public key has the wrong length' };
  }
  const ok = ed25519Verify(publicKey, hash, sig);
  return ok
    ? { ok: true }
    : { ok: false, code: 'bad-signature', message: 'signature does not verify with the ledger key' };
}
