/**
 * SqliteIndexStore opening an index.sqlite written before finality was tracked: the batches table gains its
 * columns in place, the old unanchored index (state <> 'anchored') gives way to the built one, and the batches
 * already there keep their state and anchors, while new anchors become due for the finality poller. Also the
 * audit table from before outcomes were recorded.
 */

import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { addAnchor } from '../../lib/anchor/anchor-slots.js';
import { makeTempDir } from '../support/temp-dir.js';

/** The batches table and its index exactly as the first release created them. */
const OLD = `
CREATE TABLE batches (
  batch_id TEXT PRIMARY KEY, root TEXT NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL,
  state TEXT NOT NULL, tree_key TEXT NOT NULL, anchors TEXT NOT NULL
);
CREATE INDEX batches_unanchored ON batches (created_at) WHERE state <> 'anchored';
`;

describe('SqliteIndexStore on a file from before finality tracking', () => {
  const temps: ReturnType<typeof makeTempDir>[] = [];
  afterEach(() => {
    for (const t of temps.splice(0)) t.remove();
  });

  it('migrates the batches table in place and keeps every batch as it was', async () => {
    const t = makeTempDir('migrate');
    temps.push(t);
    const path = join(t.dir, 'index.sqlite');
    const old = new DatabaseSync(path);
    old.exec(OLD);
    const legacyAnchor = { chainId: 'embedded:aaaa', txId: 'ab'.repeat(32), submittedAt: 1000 };
    const insert = old.prepare('INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)');
    insert.run(
      'b-1',
      'aa'.repeat(32),
      3,
      1000,
      'anchored',
      'batches/b-1/tree',
      JSON.stringify([legacyAnchor]),
    );
    insert.run('b-2', 'bb'.repeat(32), 2, 2000, 'built', 'batches/b-2/tree', '[]');
    old.close();

    const store = new SqliteIndexStore(path);
    try {
      expect(await store.getBatch('b-1')).toEqual({
        batchId: 'b-1',
        root: 'aa'.repeat(32),
        size: 3,
        createdAt: 1000,
        state: 'anchored',
        treeKey: 'batches/b-1/tree',
        anchors: [legacyAnchor],
      });
      expect((await store.listUnanchored()).map((b) => b.batchId)).toEqual(['b-2']);
      // Anchors written before finality carry no nextCheckAt: nothing is due.
      expect(await store.listAnchorsDue(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      await addAnchor(
        store,
        'b-2',
        { chainId: 'evm:1', txId: '0x01', submittedAt: 3000, phase: 'submitted', nextCheckAt: 3000 },
        'built',
      );
      expect((await store.listAnchorsDue(3000, 10)).map((b) => b.batchId)).toEqual(['b-2']);
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path);
    const indexes = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]
    ).map((r) => r.name);
    db.close();
    expect(indexes).toEqual(expect.arrayContaining(['batches_built', 'batches_due']));
    expect(indexes).not.toContain('batches_unanchored');
    // A second open of the migrated file is a no-op.
    const again = new SqliteIndexStore(path);
    expect((await again.getBatch('b-2'))?.anchors).toHaveLength(1);
    await again.close();
  });

  it('reads audit events written before outcomes as unknown, and keeps new ones with their outcome', async () => {
    const t = makeTempDir('migrate-audit');
    temps.push(t);
    const path = join(t.dir, 'index.sqlite');
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE audit (
      id TEXT PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
      reason TEXT);`);
    old
      .prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)')
      .run('au-old', 1000, 'operator', 'record-key-released', 'dev-1.0', 'old release');
    old.close();

    const store = new SqliteIndexStore(path);
    try {
      await store.appendAudit({
        id: 'au-new',
        at: 2000,
        actor: 'operator',
        action: 'record-key-released',
        target: 'dev-1.1',
        reason: 'new release',
        outcome: 'failed',
        error: { code: 'unwrap-failed', message: 'cannot unwrap' },
      });
      // An old event cannot say whether the key left; it must not be read as a success.
      expect((await store.listAudit({ limit: 10 })).items).toEqual([
        expect.objectContaining({
          id: 'au-new',
          outcome: 'failed',
          error: { code: 'unwrap-failed', message: 'cannot unwrap' },
        }),
        {
          id: 'au-old',
          at: 1000,
          actor: 'operator',
          action: 'record-key-released',
          target: 'dev-1.0',
          reason: 'old release',
          outcome: 'unknown',
        },
      ]);
    } finally {
      await store.close();
    }
  });
});
