/** The embedded ledger's own guarantees, beyond the Chain conformance suite: what survives a reopen. */
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EmbeddedLedger,
  LedgerCorruptError,
  LedgerKeyMissingError,
} from '../../lib/adapters/local/embedded-ledger.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { fromBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import { type LedgerEntry, ledgerChainId, verifyLedgerEntry } from '../../lib/core/ledger-entry.js';
import { expectBytes } from '../support/bytes.js';
import { makeTempDir } from '../support/temp-dir.js';

const payload = (label: string) => encodeAnchorPayload({ root: sha256(utf8(label)), treeSize: 5 });

describe('EmbeddedLedger', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let ledgerPath: string;
  let keyPath: string;
  const open: EmbeddedLedger[] = [];
  const openLedger = (clock?: () => number) => {
    const l = new EmbeddedLedger(ledgerPath, keyPath, clock);
    open.push(l);
    return l;
  };
  const closeAll = () => {
    for (const l of open.splice(0)) l.close();
  };
  /** Appends three entries and closes the ledger; returns their txIds. */
  const seed = async (n = 3): Promise<string[]> => {
    const l = openLedger();
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push((await l.submit(payload(`root ${i}`), { dedupKey: `batch-${i}` })).txId);
    closeAll();
    return ids;
  };
  const lines = () => readFileSync(ledgerPath, 'utf8').split('\n');

  beforeEach(() => {
    tmp = makeTempDir('ledger');
    ledgerPath = join(tmp.dir, 'ledger', 'ledger.jsonl');
    keyPath = join(tmp.dir, 'secrets', 'ledger.pk8');
  });
  afterEach(() => {
    closeAll();
    tmp.remove();
  });

  it('reopens with the same key, chain id, entries and confirmations', async () => {
    const ids = await seed(3);
    const l = openLedger();
    expect(l.height).toBe(3);
    const d = await l.describe();
    expect(d.chainId).toBe(ledgerChainId(fromBase64(d.publicKey ?? '') as Uint8Array));
    for (const [i, id] of ids.entries()) {
      const tx = await l.lookup(id);
      expectBytes(tx?.data, payload(`root ${i}`));
      expect(tx?.height).toBe(i);
      expect(tx?.confirmations).toBe(3 - i);
    }
    // Appends continue the same chain, and a second reopen verifies all of it.
    const next = await l.submit(payload('root 3'), { dedupKey: 'batch-3' });
    closeAll();
    const again = openLedger();
    expect(again.height).toBe(4);
    expect((await again.lookup(next.txId))?.evidence?.entry.prev).toBe(ids[2]);
  });

  it('remembers dedup keys across a reopen, so a retry after a crash does not append twice', async () => {
    const ids = await seed(2);
    const l = openLedger();
    expect((await l.submit(payload('root 1'), { dedupKey: 'batch-1' })).txId).toBe(ids[1]);
    expect(l.height).toBe(2);
  });

  it('every entry verifies with verifyLedgerEntry under the published key, and a changed one does not', async () => {
    const ids = await seed(3);
    const l = openLedger();
    const key = fromBase64((await l.describe()).publicKey ?? '') as Uint8Array;
    expect(key).toHaveLength(32);
    for (const id of ids) {
      const tx = await l.lookup(id);
      expect(tx?.evidence?.kind).toBe('embedded-ledger');
      const entry = tx?.evidence?.entry as LedgerEntry;
      expect(entry.hash).toBe(id);
      expect(tx?.evidence?.publicKey).toBe((await l.describe()).publicKey);
      expect(verifyLedgerEntry(entry, key)).toEqual({ ok: true });
      // The signed entry carries no unsigned extras (the dedup key stays in the file).
      expect(Object.keys(entry).sort()).toEqual(['data', 'hash', 'height', 'prev', 'sig', 'time']);
    }
    const entry = (await l.lookup(ids[1] as string))?.evidence?.entry as LedgerEntry;
    const otherData = { ...entry, data: toHex(payload('another root')) };
    expect(verifyLedgerEntry(otherData, key)).toMatchObject({ ok: false, code: 'entry-hash-mismatch' });
    const otherKey = new Uint8Array(32).fill(7);
    expect(verifyLedgerEntry(entry, otherKey).ok).toBe(false);
  });

  it('cuts a torn last line (an append that never returned) and reopens', async () => {
    const ids = await seed(3);
    const goodSize = statSync(ledgerPath).size;
    const third = lines()[2] as string;
    appendFileSync(ledgerPath, third.slice(0, Math.floor(third.length / 2)));
    const l = openLedger();
    expect(l.height).toBe(3);
    expect(statSync(ledgerPath).size).toBe(goodSize);
    expect((await l.lookup(ids[2] as string))?.confirmations).toBe(1);
    // The next append lands on a clean line and the file verifies again on the next open.
    const next = await l.submit(payload('after the tear'), { dedupKey: 'batch-after' });
    closeAll();
    const again = openLedger();
    expect(again.height).toBe(4);
    expectBytes((await again.lookup(next.txId))?.data, payload('after the tear'));
  });

  it('refuses to open when a middle line was edited', async () => {
    await seed(3);
    const ls = lines();
    const second = JSON.parse(ls[1] as string) as LedgerEntry;
    ls[1] = JSON.stringify({ ...second, data: toHex(payload('forged root')) });
    writeFileSync(ledgerPath, ls.join('\n'));
    expect(() => openLedger()).toThrow(LedgerCorruptError);
  });

  it('refuses to open when a middle line was removed (the hash chain breaks)', async () => {
    await seed(3);
    const ls = lines();
    ls.splice(1, 1);
    writeFileSync(ledgerPath, ls.join('\n'));
    expect(() => openLedger()).toThrow(LedgerCorruptError);
  });

  it('refuses to open when a complete last line was edited (not a torn append)', async () => {
    await seed(3);
    const ls = lines();
    const last = JSON.parse(ls[2] as string) as LedgerEntry;
    ls[2] = JSON.stringify({ ...last, time: last.time + 1 });
    writeFileSync(ledgerPath, ls.join('\n'));
    expect(() => openLedger()).toThrow(LedgerCorruptError);
  });

  it('restores entries it signed that were cut off, byte for byte, and refuses one that does not follow', async () => {
    const ids = await seed(3);
    const whole = readFileSync(ledgerPath, 'utf8');
    const l = openLedger();
    const lost = [
      (await l.lookup(ids[1] as string))?.evidence?.entry as LedgerEntry,
      (await l.lookup(ids[2] as string))?.evidence?.entry as LedgerEntry,
    ];
    closeAll();
    writeFileSync(ledgerPath, `${lines()[0]}\n`);
    const cut = openLedger();
    expect(cut.height).toBe(1);
    // Out of order, or not signed by this ledger: nothing is written.
    await expect(cut.restore([lost[1] as LedgerEntry])).rejects.toThrow(LedgerCorruptError);
    await expect(cut.restore([{ ...(lost[0] as LedgerEntry), time: 1 }])).rejects.toThrow(LedgerCorruptError);
    expect(cut.height).toBe(1);
    await cut.restore(lost.map((e, i) => ({ ...e, dedupKey: `batch-${i + 1}` })));
    expect(cut.height).toBe(3);
    closeAll();
    expect(readFileSync(ledgerPath, 'utf8')).toBe(whole);
    expect(openLedger().height).toBe(3);
  });

  it('refuses to make a new key next to a ledger that has entries', async () => {
    await seed(1);
    rmSync(keyPath);
    expect(() => openLedger()).toThrow(LedgerKeyMissingError);
    expect(existsSync(keyPath)).toBe(false);
  });

  it('stamps entries with the injected clock', async () => {
    const l = openLedger(() => 1_700_000_123_456);
    const { txId } = await l.submit(payload('clocked'), { dedupKey: 'clocked' });
    expect((await l.lookup(txId))?.time).toBe(1_700_000_123_456);
  });
});
