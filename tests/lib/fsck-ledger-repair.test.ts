/**
 * What a ledger repair may give back (lib/fsck/ledger-repair.ts), over entries a real EmbeddedLedger signed:
 * only entries that verify under the ledger's key and chain on, and never a rewrite that would drop entries
 * that still verify, unless the operator chose to re-anchor.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedLedger, scanLedgerText } from '../../lib/adapters/local/embedded-ledger.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { fromBase64, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import type { LedgerEntry } from '../../lib/core/ledger-entry.js';
import type { LedgerView } from '../../lib/fsck/findings.js';
import { type MissingAnchor, planLedgerRestore } from '../../lib/fsck/ledger-repair.js';
import type { BatchEntry } from '../../lib/ports.js';
import { makeTempDir } from '../support/temp-dir.js';

describe('planLedgerRestore', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let path: string;
  let publicKey: Uint8Array;
  let chainId: string;
  let entries: LedgerEntry[];
  let text: string;

  beforeEach(async () => {
    tmp = makeTempDir('plan');
    path = join(tmp.dir, 'ledger.jsonl');
    const ledger = new EmbeddedLedger(path, join(tmp.dir, 'key.pk8'));
    entries = [];
    for (let i = 0; i < 4; i++) {
      const { txId } = await ledger.submit(
        encodeAnchorPayload({ root: sha256(utf8(`root ${i}`)), treeSize: 3 }),
        { dedupKey: `b-${i}` },
      );
      entries.push((await ledger.lookup(txId))?.evidence?.entry as LedgerEntry);
    }
    const d = await ledger.describe();
    publicKey = fromBase64(d.publicKey) as Uint8Array;
    chainId = d.chainId;
    ledger.close();
    text = readFileSync(path, 'utf8');
  });
  afterEach(() => tmp.remove());

  const view = (fileText: string): LedgerView => {
    const s = scanLedgerText(fileText, publicKey);
    return {
      chainId,
      publicKey,
      entries: s.entries,
      problems: s.problems.map((p) => ({ where: `line ${p.line}`, code: p.code, message: p.message })),
      strays: s.strays,
    };
  };
  /** Batch b-i's anchor on entry i, with or without the copy of the signed entry. */
  const anchorOf = (i: number, copy: boolean): MissingAnchor => {
    const e = entries[i] as LedgerEntry;
    const batch = { batchId: `b-${i}`, anchors: [] } as unknown as BatchEntry;
    return { batch, anchor: { chainId, txId: e.hash, submittedAt: 0, ...(copy ? { ledgerEntry: e } : {}) } };
  };
  const lines = () => text.split('\n').filter(Boolean);

  it('a ledger cut short gets its tail back from the copies, appended in height order with dedup keys', () => {
    const cut = `${lines().slice(0, 1).join('\n')}\n`;
    const plan = planLedgerRestore(view(cut), [anchorOf(3, true), anchorOf(1, true), anchorOf(2, true)]);
    expect(plan.rewrite).toBe(false);
    expect(plan.lossless).toBe(true);
    expect(plan.append.map((e) => [e.height, e.dedupKey])).toEqual([
      [1, 'b-1'],
      [2, 'b-2'],
      [3, 'b-3'],
    ]);
    expect(plan.unrestorable).toEqual([]);
  });

  it('a gap no copy fills stops the restore there; what follows is listed as unrestorable', () => {
    const cut = `${lines().slice(0, 1).join('\n')}\n`;
    const plan = planLedgerRestore(view(cut), [anchorOf(1, false), anchorOf(2, true), anchorOf(3, true)]);
    expect(plan.append).toEqual([]);
    expect(plan.unrestorable.map((m) => m.batch.batchId)).toEqual(['b-1', 'b-2', 'b-3']);
  });

  it('an edited line is replaced by its signed copy and the entries after it are kept: a lossless rewrite', () => {
    const ls = lines();
    ls[1] = JSON.stringify({ ...(JSON.parse(ls[1] as string) as LedgerEntry), time: 1 });
    const v = view(`${ls.join('\n')}\n`);
    expect(v.problems.map((p) => p.where)).toEqual(['line 2']);
    const plan = planLedgerRestore(v, [anchorOf(1, true)], [anchorOf(2, true), anchorOf(3, true)]);
    expect(plan).toMatchObject({ rewrite: true, lossless: true, unrestorable: [] });
    expect(plan.append.map((e) => e.hash)).toEqual(entries.slice(1).map((e) => e.hash));
  });

  it('without a copy of the edited line the rewrite would drop entries that verify: not lossless', () => {
    const ls = lines();
    ls[1] = JSON.stringify({ ...(JSON.parse(ls[1] as string) as LedgerEntry), time: 1 });
    const plan = planLedgerRestore(
      view(`${ls.join('\n')}\n`),
      [anchorOf(1, false)],
      [anchorOf(2, true), anchorOf(3, true)],
    );
    expect(plan).toMatchObject({ rewrite: true, lossless: false, append: [] });
    expect(plan.unrestorable.map((m) => m.batch.batchId)).toEqual(['b-1', 'b-2', 'b-3']);
  });

  it('a copy that does not verify under the ledger key is never used', () => {
    const cut = `${lines().slice(0, 1).join('\n')}\n`;
    const forged = anchorOf(1, true);
    forged.anchor.ledgerEntry = { ...(entries[1] as LedgerEntry), data: '00'.repeat(45) };
    const plan = planLedgerRestore(view(cut), [forged]);
    expect(plan.append).toEqual([]);
    expect(plan.unrestorable).toHaveLength(1);
  });
});
