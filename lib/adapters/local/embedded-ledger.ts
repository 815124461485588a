/**
 * The embedded ledger: an append-only, hash-chained, Ed25519-signed log of anchor transactions in one file
 * ($DATA_DIR/ledger/ledger.jsonl), behind the same Chain port as real chains. An entry is final once
 * written; its confirmations count the entries after it, plus one, like blocks on a chain.
 *
 * On open, every line is re-verified (hash chain and signature). A torn last line, left by a crash during
 * an append that never returned, is cut off; anything else that does not verify stops the ledger from
 * opening, because it means the file was edited.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromHex, toBase64, toHex } from '../../core/bytes.js';
import {
  type LedgerEntry,
  ledgerChainId,
  ledgerEntryHash,
  verifyLedgerEntry,
} from '../../core/ledger-entry.js';
import type { Chain, ChainDescription, ChainTx } from '../../ports.js';
import { loadOrCreateSecret } from './secret-file.js';

interface StoredEntry extends LedgerEntry {
  /** Not signed: lets a retried submit after a crash find its first transaction. */
  dedupKey?: string;
}

export class LedgerCorruptError extends Error {
  override readonly name = 'LedgerCorruptError';
}

export class EmbeddedLedger implements Chain {
  readonly chainId: string;
  private readonly publicKey: Uint8Array;
  private readonly privateKey: ReturnType<typeof createPrivateKey>;
  private readonly entries: StoredEntry[] = [];
  private readonly byTx = new Map<string, StoredEntry>();
  private readonly byDedup = new Map<string, StoredEntry>();
  private fd: number;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    keyPath: string,
    private readonly clock: () => number = Date.now,
  ) {
    const der = loadOrCreateSecret(
      keyPath,
      () =>
        new Uint8Array(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' })),
    );
    this.privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    const jwk = createPublicKey(this.privateKey).export({ format: 'jwk' });
    const x = typeof jwk.x === 'string' ? new Uint8Array(Buffer.from(jwk.x, 'base64url')) : undefined;
    if (x?.length !== 32) throw new Error('ledger key is not Ed25519');
    this.publicKey = x;
    this.chainId = ledgerChainId(x);
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a+');
    try {
      this.load();
    } catch (e) {
      // A ledger that will not open must not keep its file open either.
      closeSync(this.fd);
      throw e;
    }
  }

  private load(): void {
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
    }
    let offset = 0;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      const isLast = i === lines.length - 1;
      if (line === '') {
        offset += 1;
        continue;
      }
      let entry: StoredEntry | undefined;
      try {
        entry = JSON.parse(line) as StoredEntry;
      } catch {
        entry = undefined;
      }
      const prev = this.entries.at(-1);
      const problem = !entry
        ? 'unparseable line'
        : entry.height !== this.entries.length
          ? `height ${entry.height} where ${this.entries.length} was expected`
          : entry.prev !== (prev ? prev.hash : '0'.repeat(64))
            ? 'broken hash chain'
            : (() => {
                const c = verifyLedgerEntry(entry, this.publicKey);
                return c.ok ? undefined : c.message;
              })();
      if (problem) {
        if (isLast) {
          // A torn final append: it never returned to a caller, so cutting it loses nothing acknowledged.
          ftruncateSync(this.fd, offset);
          break;
        }
        throw new LedgerCorruptError(`ledger ${this.path} line ${i + 1}: ${problem}`);
      }
      const e = entry as StoredEntry;
      this.index(e);
      offset += Buffer.byteLength(line) + 1;
    }
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
      sig: toBase64(sign(null, hash, this.privateKey)),
      dedupKey,
    };
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(this.fd);
    this.index(entry);
    return { txId: entry.hash };
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

  close(): void {
    closeSync(this.fd);
    this.fd = -1;
  }
}
