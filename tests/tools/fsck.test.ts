/**
 * `npm run fsck` as an operator runs it after a disk fault: a child process over a real store, made by the
 * runtime and the device stub, then damaged in one way per case, the way a disk or a careless hand would:
 * a cut, emptied or edited ledger, a deleted or edited envelope, an edited tree, a broken hash link. Each
 * case asserts the finding fsck names, and where a repair is safe, that `--repair` restores the exact bytes
 * and the runtime then starts. Without --repair nothing under DATA_DIR changes, not even a timestamp.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsckFinding } from '../../lib/fsck/findings.js';
import type { AnchorRef, AuditEvent, BatchEntry } from '../../lib/ports.js';
import { deleteObject, editObject, listObjectKeys, readObject } from '../support/object-db.js';
import { copyStore, makeRealStore, type RealStore } from '../support/real-store.js';
import {
  operatorFetch,
  REPO,
  runRuntimeUntilExit,
  spawnRuntime,
  tempDir,
  waitFor,
} from '../support/runtime.js';

interface Report {
  findings: FsckFinding[];
  errors: number;
  warnings: number;
  counts: {
    ledgerEntries: number;
    batches: number;
    anchors: number;
    trees: number;
    devices: number;
    records: number;
  };
  repaired?: {
    ledgerEntriesRestored: number;
    ledgerRewritten?: { backup: string };
    treesRebuilt: number;
    reanchored?: { batches: number; anchors: number };
    skipped: string[];
  };
}

function fsck(dataDir: string, args: string[] = []) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        '--import',
        'tsx',
        'tools/fsck.ts',
        '--data-dir',
        dataDir,
        ...args,
      ],
      { cwd: REPO, encoding: 'utf8', timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

async function fsckJson(dataDir: string, args: string[] = []) {
  const r = await fsck(dataDir, ['--json', ...args]);
  if (r.stdout === '') throw new Error(`fsck printed nothing (${r.code}): ${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

const errorsOf = (r: Report) =>
  r.findings
    .filter((f) => f.severity === 'error')
    .map((f) => ({ code: f.code, subject: f.subject, repair: f.repair }));

/** Every file under `dir` with its bytes' hash and its mtime: what "nothing was written" means. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const p = join(d.parentPath, d.name);
    const hash = createHash('sha256').update(readFileSync(p)).digest('hex');
    out.set(p.slice(dir.length + 1), `${hash} ${statSync(p).mtimeMs}`);
  }
  return out;
}

function withIndex<T>(dataDir: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(dataDir, 'index.sqlite'));
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

describe('npm run fsck on a damaged real store', { timeout: 240_000 }, () => {
  const root = tempDir('iotn-fsck-');
  let store: RealStore;
  let ledgerText: string;
  let copies = 0;
  const copy = () => copyStore(store.dataDir, join(root, `copy-${copies++}`));
  const ledgerFile = (dir: string) => join(dir, 'ledger', 'ledger.jsonl');
  const objectsDb = (dir: string) => join(dir, 'objects.sqlite');

  beforeAll(async () => {
    store = await makeRealStore(join(root, 'store'));
    ledgerText = readFileSync(ledgerFile(store.dataDir), 'utf8');
    expect(ledgerText.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
  }, 180_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds nothing wrong with the store as made, and writes nothing', async () => {
    const dir = copy();
    const before = snapshot(dir);
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.counts).toMatchObject({
      ledgerEntries: ledgerText.split('\n').filter(Boolean).length,
      devices: 3,
      records: 3 * store.records,
    });
    expect(report.counts.batches).toBe(report.counts.ledgerEntries);
    expect(report.counts.trees).toBe(report.counts.batches);
    expect(snapshot(dir)).toEqual(before);
    // The human form says the same in one summary line.
    const text = await fsck(dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/0 error\(s\)/);
  });

  it('a ledger cut short: the lost entry is named, --repair gives it back byte for byte, and the runtime starts', async () => {
    const dir = copy();
    const lines = ledgerText.split('\n').filter(Boolean);
    writeFileSync(ledgerFile(dir), `${lines.slice(0, -1).join('\n')}\n`);
    const before = snapshot(dir);
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    expect(errorsOf(report)).toEqual([
      { code: 'anchor-entry-missing', subject: expect.any(String), repair: 'restore-ledger' },
    ]);
    expect(report.findings[0]?.message ?? '').toBeTruthy();
    expect(snapshot(dir)).toEqual(before);

    const fixed = await fsckJson(dir, ['--repair']);
    expect(fixed.code).toBe(0);
    expect(fixed.report.repaired).toMatchObject({ ledgerEntriesRestored: 1, skipped: [] });
    expect(fixed.report.errors).toBe(0);
    expect(readFileSync(ledgerFile(dir), 'utf8')).toBe(ledgerText);
    const started = await runRuntimeUntilExit(dir);
    expect(started.started).toBe(true);
  });

  it('an emptied ledger: every entry comes back from the copies batches keep', async () => {
    const dir = copy();
    writeFileSync(ledgerFile(dir), '');
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    const n = ledgerText.split('\n').filter(Boolean).length;
    expect(errorsOf(report)).toHaveLength(n);
    expect(new Set(errorsOf(report).map((e) => `${e.code} ${e.repair}`))).toEqual(
      new Set(['anchor-entry-missing restore-ledger']),
    );
    const fixed = await fsckJson(dir, ['--repair']);
    expect(fixed.code).toBe(0);
    expect(fixed.report.repaired?.ledgerEntriesRestored).toBe(n);
    expect(readFileSync(ledgerFile(dir), 'utf8')).toBe(ledgerText);
  });

  it('an edited ledger line: that line and its batch are named; --repair puts the signed original back', async () => {
    const dir = copy();
    const lines = ledgerText.split('\n').filter(Boolean);
    const first = JSON.parse(lines[0] as string) as { time: number };
    lines[0] = JSON.stringify({ ...first, time: first.time + 1 });
    writeFileSync(ledgerFile(dir), `${lines.join('\n')}\n`);
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    expect(errorsOf(report)).toEqual([
      { code: 'ledger-entry-hash-mismatch', subject: 'ledger line 1', repair: 'restore-ledger' },
      { code: 'anchor-entry-missing', subject: expect.any(String), repair: 'restore-ledger' },
    ]);

    const fixed = await fsckJson(dir, ['--repair']);
    expect(fixed.code).toBe(0);
    expect(readFileSync(ledgerFile(dir), 'utf8')).toBe(ledgerText);
    // The damaged file is kept, for evidence.
    const backup = fixed.report.repaired?.ledgerRewritten?.backup as string;
    expect(readFileSync(backup, 'utf8')).toBe(`${lines.join('\n')}\n`);
    expect(statSync(backup).mode & 0o777).toBe(0o600);
  });

  it('a deleted envelope is object-missing, and no repair claims to fix it', async () => {
    const dir = copy();
    const key = listObjectKeys(objectsDb(dir), `records/${store.deviceIds[1]}/`)[0] as string;
    deleteObject(objectsDb(dir), key);
    // The stub sends records in packs: the object may hold several records, and each of them is missing.
    const recordIds = withIndex(dir, (db) =>
      (db.prepare('SELECT record_id AS r FROM records WHERE object_key = ?').all(key) as { r: string }[]).map(
        (x) => x.r,
      ),
    );
    expect(recordIds.length).toBeGreaterThanOrEqual(1);
    const missing = recordIds.map((subject) => ({ code: 'object-missing', subject, repair: undefined }));
    const bySubject = (a: { subject: string }, b: { subject: string }) => a.subject.localeCompare(b.subject);
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    expect(errorsOf(report).sort(bySubject)).toEqual(missing.sort(bySubject));
    const after = await fsckJson(dir, ['--repair']);
    expect(after.code).toBe(1);
    expect(errorsOf(after.report).sort(bySubject)).toEqual(missing);
  });

  it('an edited envelope is object-ciphertext-mismatch', async () => {
    const dir = copy();
    const key = listObjectKeys(objectsDb(dir), `records/${store.deviceIds[0]}/`)[0] as string;
    // One record's own last byte (inside its GCM tag), also when it shares a pack's object with others.
    const { recordId, end } = withIndex(dir, (db) => {
      const row = db
        .prepare(
          'SELECT record_id AS r, object_offset AS o, object_length AS l FROM records WHERE object_key = ?',
        )
        .get(key) as { r: string; o: number | null; l: number | null };
      return { recordId: row.r, end: row.o === null || row.l === null ? undefined : row.o + row.l };
    });
    editObject(objectsDb(dir), key, (b) => {
      const c = b.slice();
      const last = (end ?? c.length) - 1;
      c[last] = (c[last] as number) ^ 0x01;
      return c;
    });
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    expect(errorsOf(report)).toEqual([
      { code: 'object-ciphertext-mismatch', subject: recordId, repair: undefined },
    ]);
  });

  it('an edited tree object is tree-mismatch, and --repair rebuilds it from the records to the anchored root', async () => {
    const dir = copy();
    // A tree of at least two leaves: in a one-leaf tree the leaf is the root, and editing it is a root
    // mismatch, not a node that no longer recomputes. Which batch holds how many records depends on timing.
    const leafCount = (b: Uint8Array) => Number(Buffer.from(b).readBigUInt64BE(9));
    const treeKey = listObjectKeys(objectsDb(dir), 'batches/').find(
      (k) => k.endsWith('/tree') && leafCount(readObject(objectsDb(dir), k)) >= 2,
    ) as string;
    const original = readObject(objectsDb(dir), treeKey);
    editObject(objectsDb(dir), treeKey, (b) => {
      const c = b.slice();
      c[17] = (c[17] as number) ^ 0x80; // first byte of leaf 0
      return c;
    });
    const batchId = treeKey.split('/')[1] as string;
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    expect(errorsOf(report)).toEqual([{ code: 'tree-mismatch', subject: batchId, repair: 'rebuild-tree' }]);
    const fixed = await fsckJson(dir, ['--repair']);
    expect(fixed.code).toBe(0);
    expect(fixed.report.repaired?.treesRebuilt).toBe(1);
    expect(Buffer.from(readObject(objectsDb(dir), treeKey)).equals(Buffer.from(original))).toBe(true);
  });

  it("a record's broken prevHash link in the index is chain-break, and the entry disagrees with its header", async () => {
    const dir = copy();
    const device = store.deviceIds[2] as string;
    withIndex(dir, (db) =>
      db
        .prepare('UPDATE records SET prev_hash = ? WHERE device_id = ? AND seq = 3')
        .run('ab'.repeat(32), device),
    );
    const { code, report } = await fsckJson(dir);
    expect(code).toBe(1);
    expect(errorsOf(report)).toEqual(
      expect.arrayContaining([
        { code: 'index-entry-inconsistent', subject: `${device}.3`, repair: undefined },
        { code: 'chain-break', subject: `${device}.3`, repair: undefined },
      ]),
    );
    expect(errorsOf(report)).toHaveLength(2);
    expect(report.findings.find((f) => f.code === 'index-entry-inconsistent')?.message).toContain('prevHash');
  });

  it('refuses to repair while the runtime runs on the same DATA_DIR, and only notes it when checking', async () => {
    const dir = copy();
    const rt = await spawnRuntime(dir, { ANCHOR_INTERVAL_MS: '600000' });
    try {
      const refused = await fsck(dir, ['--repair']);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain(`refusing to repair: the runtime (pid ${rt.info.pid}`);
      const checked = await fsck(dir);
      expect(checked.code).toBe(0);
      expect(checked.stdout).toContain(`the runtime (pid ${rt.info.pid}) is running on this DATA_DIR`);
    } finally {
      rt.child.kill('SIGTERM');
      await rt.exited;
    }
  });

  it('entries lost with no copy left: --reanchor (audited) has the batch anchored again at a new height', async () => {
    const dir = copy();
    const lines = ledgerText.split('\n').filter(Boolean);
    const lost = JSON.parse(lines.at(-1) as string) as { hash: string; height: number };
    writeFileSync(ledgerFile(dir), `${lines.slice(0, -1).join('\n')}\n`);
    // A store from before batches kept copies of their entries.
    const batchId = withIndex(dir, (db) => {
      const rows = db.prepare('SELECT batch_id AS id, anchors FROM batches').all() as {
        id: string;
        anchors: string;
      }[];
      let found = '';
      for (const r of rows) {
        const anchors = (JSON.parse(r.anchors) as AnchorRef[]).map(({ ledgerEntry: _e, ...a }) => a);
        if (anchors.some((a) => a.txId === lost.hash)) found = r.id;
        db.prepare('UPDATE batches SET anchors = ? WHERE batch_id = ?').run(JSON.stringify(anchors), r.id);
      }
      return found;
    });

    const checked = await fsckJson(dir);
    expect(errorsOf(checked.report)).toEqual([
      { code: 'anchor-entry-missing', subject: batchId, repair: 'reanchor' },
    ]);
    const repaired = await fsckJson(dir, ['--repair']);
    expect(repaired.code).toBe(1);
    expect(repaired.report.repaired?.ledgerEntriesRestored).toBe(0);
    expect((await fsck(dir, ['--reanchor'])).code).toBe(2);

    const reanchored = await fsckJson(dir, ['--reanchor', '--reason', 'disk fault, ticket 12']);
    expect(reanchored.code).toBe(0);
    expect(reanchored.report.repaired?.reanchored).toEqual({ batches: 1, anchors: 1 });

    const rt = await spawnRuntime(dir, { ANCHOR_INTERVAL_MS: '600000' });
    try {
      const api = operatorFetch(rt.info.baseUrl, rt.token);
      const batch = await waitFor('batch anchored again', async () => {
        const b = (await api<BatchEntry>(`/v1/batches/${batchId}`)).body;
        return b.state === 'final' ? b : undefined;
      });
      const anchor = batch.anchors[0] as AnchorRef;
      expect(anchor.replaced).toEqual([lost.hash]);
      expect(anchor.txId).not.toBe(lost.hash);
      expect(anchor.block?.height).toBe(lost.height);
      const audit = (await api<{ items: AuditEvent[] }>('/v1/audit?limit=5')).body.items;
      expect(audit.find((e) => e.action === 'batch-reanchored')).toMatchObject({
        actor: 'fsck',
        target: batchId,
        outcome: 'succeeded',
        reason: `disk fault, ticket 12 (lost ledger entries: ${lost.hash}@${lost.height})`,
      });
    } finally {
      rt.child.kill('SIGTERM');
      await rt.exited;
    }
    expect((await fsckJson(dir)).report.errors).toBe(0);
  });
});
