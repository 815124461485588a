/**
 * The embedded ledger: an append-only, hash-chained, Ed25519-signed log of anchor transactions in one file
 * ($DATA_DIR/ledger/ledger.jsonl), behind the same Chain port as real chains. An entry is final once
 * written; its confirmations count the entries after it, plus one, like blocks on a chain.
 *
 * On open, every line is re-verified (hash chain and signature). A torn last line, left by a crash during
 * an append that never returned, is cut off; anything else that does not verify stops the ledger from
 * opening, because it means the file was edited. A ledger with entries and no signing key does not open
 * either. Lines cut off the end verify as a shorter ledger: only the batches that point to them can tell,
 * which is what the runtime's startup check does (lib/runtime/embedded-store-checks.ts).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { fromHex, toBase64, toHex } from '../../core/bytes.js';
import { CodedError } from '../../core/errors.js';
import {
  type LedgerEntry,
  ledgerChainId,
  ledgerEntryHash,
  verifyLedgerEntry,
} from '../../core/ledger-entry.js';
import type { Chain, ChainDescription, ChainTx, LedgerSigner } from '../../ports.js';
import type { LedgerErrorCode } from '../ledger-error.js';
import { LedgerSignerError, LocalLedgerSigner } from './local-ledger-signer.js';
import { ensurePrivateDir, makePrivate, PRIVATE_FILE_MODE } from './private-files.js';

export interface StoredEntry extends LedgerEntry {
  /** Not signed: lets a retried submit after a crash find its first transaction. */
  dedupKey?: string;
}

export class LedgerCorruptError extends CodedError<LedgerErrorCode> {
  override readonly name = 'LedgerCorruptError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ledger-corrupt', message, options);
  }
}

/**
 * The ledger file has entries but its signing key is gone. A new key could never sign on from the entries
 * there, and proofs name the old key's chain id, so the ledger refuses to invent one.
 */
export class LedgerKeyMissingError extends CodedError<LedgerErrorCode> {
  override readonly name = 'LedgerKeyMissingError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ledger-key-missing', message, options);
  }
}

/** The raw 32-byte Ed25519 public key of a PKCS#8 DER private key. */
export function ledgerPublicKey(privateKeyDer: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.from(privateKeyDer), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const x = typeof jwk.x === 'string' ? new Uint8Array(Buffer.from(jwk.x, 'base64url')) : undefined;
  if (x?.length !== 32) throw new LedgerSignerError('not-ed25519', 'ledger key is not Ed25519');
  return x;
}

export interface LedgerLineProblem {
  /** 1-based line number in the file. */
  line: number;
  code:
    | 'unparseable'
    | 'height'
    | 'broken-chain'
    | 'malformed-entry'
    | 'entry-hash-mismatch'
    | 'bad-signature';
  message: string;
}

/** What a ledger file holds, line by line, without changing it (EmbeddedLedger's open and tools/fsck.ts). */
export interface LedgerScan {
  /** The longest prefix of lines that verifies: consecutive heights, hash chain, hashes, signatures. */
  entries: StoredEntry[];
  /** Bytes of that prefix, each line with its newline. */
  prefixBytes: number;
  /** Every complete line that does not verify in place, in file order, including those after the first. */
  problems: LedgerLineProblem[];
  /**
   * Entries after the prefix whose own hash and signature verify: evidence of what a damaged file held, for
   * reports. They are not part of the ledger.
   */
  strays: StoredEntry[];
  /** A final line without a newline that does not verify: an append that never returned. */
  torn?: { line: number; offset: number };
  /** The final line verifies but its newline is missing (a write cut just before it). */
  missingFinalNewline: boolean;
}

/** Checks every line of a ledger file's text against the ledger's public key. Pure: reads nothing else. */
export function scanLedgerText(text: string, publicKey: Uint8Array): LedgerScan {
  const scan: LedgerScan = {
    entries: [],
    prefixBytes: 0,
    problems: [],
    strays: [],
    missingFinalNewline: false,
  };
  const lines = text.split('\n');
  let offset = 0;
  let inPrefix = true;
  let prevHash = '0'.repeat(64);
  let expectedHeight = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const isLast = i === lines.length - 1;
    const lineStart = offset;
    offset += Buffer.byteLength(line) + (isLast ? 0 : 1);
    if (line === '') {
      if (inPrefix && !isLast) scan.prefixBytes = offset;
      continue;
    }
    let entry: StoredEntry | undefined;
    try {
      entry = JSON.parse(line) as StoredEntry;
    } catch {
      entry = undefined;
    }
    let problem: Omit<LedgerLineProblem, 'line'> | undefined;
    if (!entry || typeof entry !== 'object') problem = { code: 'unparseable', message: 'not a JSON entry' };
    else {
      const own = verifyLedgerEntry(entry, publicKey);
      if (!own.ok) problem = { code: own.code, message: own.message };
      else if (entry.height !== expectedHeight)
        problem = { code: 'height', message: `height ${entry.height} where ${expectedHeight} was expected` };
      else if (entry.prev !== prevHash)
        problem = { code: 'broken-chain', message: 'prev is not the hash of the line before' };
    }
    if (problem && isLast) {
      scan.torn = { line: i + 1, offset: lineStart };
      break;
    }
    if (problem) {
      scan.problems.push({ line: i + 1, ...problem });
      inPrefix = false;
    } else if (inPrefix) {
      scan.entries.push(entry as StoredEntry);
      scan.prefixBytes = offset;
      if (isLast) scan.missingFinalNewline = true;
    } else {
      scan.strays.push(entry as StoredEntry);
    }
    if (entry && typeof entry === 'object') {
      // Later lines are checked against this one as it stands, so one edited line is one problem.
      prevHash = typeof entry.hash === 'string' ? entry.hash : prevHash;
      expectedHeight = (typeof entry.height === 'number' ? entry.height : expectedHeight) + 1;
    }
  }
  return scan;
}

export class EmbeddedLedger implements Chain {
  readonly chainId: string;
  private readonly publicKey: Uint8Array;
  private readonly signer: LedgerSigner;
  private readonly entries: StoredEntry[] = [];
  private readonly byTx = new Map<string, StoredEntry>();
  private readonly byDedup = new Map<string, StoredEntry>();
  private fd: number;
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * `key` is the signing key's file (created with a new key while the ledger is empty), or a LedgerSigner
   * (the LedgerSigner port; the file's key is a LocalLedgerSigner).
   */
  constructor(
    private readonly path: string,
    key: string | LedgerSigner,
    private readonly clock: () => number = Date.now,
  ) {
    if (typeof key === 'string') {
      const hasEntries = fileHasBytes(path);
      try {
        this.signer = LocalLedgerSigner.fromKeyFile(key, { create: !hasEntries });
      } catch (e) {
        if ((e as { code?: unknown }).code === 'key-missing')
          throw new LedgerKeyMissingError(
            `the ledger ${path} has entries but its signing key ${key} is missing`,
          );
        throw e;
      }
    } else {
      this.signer = key;
    }
    this.publicKey = this.signer.publicKey;
    this.chainId = ledgerChainId(this.publicKey);
    ensurePrivateDir(dirname(path));
    this.fd = openSync(path, 'a+', PRIVATE_FILE_MODE);
    try {
      makePrivate(path);
      this.load();
    } catch (e) {
      // A ledger that will not open must not keep its file open either.
      closeSync(this.fd);
      throw e;
    }
  }

  private load(): void {
    const scan = scanLedgerText(readFileSync(this.path, 'utf8'), this.publicKey);
    const first = scan.problems[0];
    if (first) {
      throw new LedgerCorruptError(`ledger ${this.path} line ${first.line}: ${first.message}`);
    }
    if (scan.torn) {
      // A torn final append: it never returned to a caller, so cutting it loses nothing acknowledged.
      ftruncateSync(this.fd, scan.prefixBytes);
      fsyncSync(this.fd);
    } else if (scan.missingFinalNewline) {
      // Without it the next append would be glued to this line.
      writeSync(this.fd, '\n');
      fsyncSync(this.fd);
    }
    for (const e of scan.entries) this.index(e);
  }

  private index(e: StoredEntry): void {
    this.entries.push(e);
    this.byTx.set(e.hash, e);
    if (e.dedupKey) this.byDedup.set(e.dedupKey, e);
  }

  submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }> {
    // Appends are serialised so heights and the hash chain stay consecutive.
    const run = this.tail.then(() => this.append(data, opts.dedupKey));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async append(data: Uint8Array, dedupKey: string): Promise<{ txId: string }> {
    const seen = this.byDedup.get(dedupKey);
    if (seen) return { txId: seen.hash };
    const prev = this.entries.at(-1);
    const unsigned = {
      height: this.entries.length,
      time: this.clock(),
      prev: prev ? prev.hash : '0'.repeat(64),
      data: toHex(data),
    };
    const hash = ledgerEntryHash(unsigned);
    const entry: StoredEntry = {
      ...unsigned,
      hash: toHex(hash),
      sig: toBase64(await this.signer.sign(hash)),
      dedupKey,
    };
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(this.fd);
    this.index(entry);
    return { txId: entry.hash };
  }

  /** The signed entry with this transaction id, if the ledger has it. */
  entryOf(txId: string): LedgerEntry | undefined {
    const e = this.byTx.get(txId);
    if (!e) return undefined;
    const { dedupKey: _unsigned, ...entry } = e;
    return entry;
  }

  async lookup(txId: string): Promise<ChainTx | undefined> {
    const e = this.byTx.get(txId);
    if (!e) return undefined;
    const { dedupKey: _unsigned, ...entry } = e;
    return {
      txId: e.hash,
      data: fromHex(e.data) ?? new Uint8Array(0),
      height: e.height,
      time: e.time,
      confirmations: this.entries.length - e.height,
      evidence: { kind: 'embedded-ledger', entry, publicKey: toBase64(this.publicKey) },
    };
  }

  async describe(): Promise<Extract<ChainDescription, { kind: 'embedded-ledger' }>> {
    return { chainId: this.chainId, kind: 'embedded-ledger', publicKey: toBase64(this.publicKey) };
  }

  get height(): number {
    return this.entries.length;
  }

  /** The newest entry, signed; undefined while the ledger is empty. */
  get head(): LedgerEntry | undefined {
    const e = this.entries.at(-1);
    if (!e) return undefined;
    const { dedupKey: _unsigned, ...entry } = e;
    return entry;
  }

  /**
   * Appends entries this ledger signed before and lost (tools/fsck.ts --repair, from the copies batches
   * keep): each must be the next height, chain onto the entry before and verify under this ledger's key, so
   * what comes back is byte for byte what proofs already hold. All are checked before any is written.
   */
  async restore(entries: readonly StoredEntry[]): Promise<void> {
    const run = this.tail.then(() => {
      let prev = this.entries.at(-1)?.hash ?? '0'.repeat(64);
      let height = this.entries.length;
      for (const e of entries) {
        const own = verifyLedgerEntry(e, this.publicKey);
        if (!own.ok) throw new LedgerCorruptError(`entry ${e.hash} cannot be restored: ${own.message}`);
        if (e.height !== height || e.prev !== prev)
          throw new LedgerCorruptError(
            `entry ${e.hash} at height ${e.height} does not follow height ${height - 1}`,
          );
        prev = e.hash;
        height++;
      }
      if (entries.length === 0) return;
      writeSync(this.fd, entries.map((e) => `${JSON.stringify(storedForm(e))}\n`).join(''));
      fsyncSync(this.fd);
      for (const e of entries) this.index(storedForm(e));
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  close(): void {
    closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Replaces a damaged ledger file with its verified prefix (kept byte for byte) followed by `append`, after
 * copying the damaged file aside (`<path>.damaged-<time>`, kept for evidence). The new content is verified
 * as a whole before it replaces the old, and written like every durable file here: temporary file, fsync,
 * rename, folder fsync. For fsck --repair on a ledger whose lines were edited or whose tail is torn; a ledger
 * that was only cut short is appended to instead (EmbeddedLedger.restore).
 */
export function rewriteLedgerFile(
  path: string,
  publicKey: Uint8Array,
  append: readonly StoredEntry[],
  now: Date = new Date(),
): { backup: string; entries: number } {
  const old = readFileSync(path);
  const prefix = scanLedgerText(old.toString('utf8'), publicKey);
  const text =
    old.subarray(0, prefix.prefixBytes).toString('utf8') +
    (prefix.missingFinalNewline ? '\n' : '') +
    append.map((e) => `${JSON.stringify(storedForm(e))}\n`).join('');
  const check = scanLedgerText(text, publicKey);
  const want = prefix.entries.length + append.length;
  if (check.problems.length > 0 || check.torn || check.entries.length !== want) {
    throw new LedgerCorruptError(
      `the repaired ledger would not verify (${check.entries.length} of ${want} entries)`,
    );
  }
  const backup = `${path}.damaged-${now.toISOString().replace(/[:.]/g, '-')}`;
  copyFileSync(path, backup);
  makePrivate(backup);
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return { backup, entries: want };
}

/** The fields a line holds, in the order append writes them. */
function storedForm(e: StoredEntry): StoredEntry {
  const { height, time, prev, data, hash, sig, dedupKey } = e;
  return { height, time, prev, data, hash, sig, ...(dedupKey === undefined ? {} : { dedupKey }) };
}

function fileHasBytes(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return false;
    throw e;
  }
}
