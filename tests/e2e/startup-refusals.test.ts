/**
 * The runtime refuses to start on a store that lost something it cannot do without, instead of papering
 * over it: a ledger cut short or emptied (new entries would take heights proofs already hold), a missing or
 * wrong key-encryption key (every wrapped master key useless), a missing ledger key (the ledger would fork
 * under a new chain id). Each case starts the real runtime process on a damaged copy of a real store and
 * checks the exit code (3) and that the message names the problem and the runbook section.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyStore, makeRealStore, type RealStore } from '../support/real-store.js';
import { runRuntimeUntilExit, tempDir } from '../support/runtime.js';

const RUNBOOK_LEDGER = 'docs/operations.md#the-ledger-lost-or-changed-entries';
const RUNBOOK_KEK = 'docs/operations.md#the-key-encryption-key-is-missing-or-wrong';
const RUNBOOK_LEDGER_KEY = 'docs/operations.md#the-ledger-key-is-missing';

describe('startup refusals on a damaged store', { timeout: 180_000 }, () => {
  const root = tempDir('iotn-refuse-');
  let store: RealStore;
  let copies = 0;
  const copy = () => copyStore(store.dataDir, join(root, `copy-${copies++}`));
  const ledgerFile = (dir: string) => join(dir, 'ledger', 'ledger.jsonl');
  const ledgerLines = (dir: string) => readFileSync(ledgerFile(dir), 'utf8').split('\n').filter(Boolean);

  beforeAll(async () => {
    store = await makeRealStore(join(root, 'store'));
    // Several batches, so cutting the last line leaves a shorter ledger that verifies on its own.
    expect(ledgerLines(store.dataDir).length).toBeGreaterThanOrEqual(2);
  }, 120_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('the undamaged store starts', async () => {
    const r = await runRuntimeUntilExit(copy());
    expect(r.started).toBe(true);
    expect(r.code).toBe(0);
  });

  it('a ledger whose last line was cut off is refused, naming the batch and the height', async () => {
    const dir = copy();
    const lines = ledgerLines(dir);
    writeFileSync(ledgerFile(dir), `${lines.slice(0, -1).join('\n')}\n`);
    const r = await runRuntimeUntilExit(dir);
    expect(r.started).toBe(false);
    expect(r.code).toBe(3);
    expect(r.output).toContain('iot-notary refused to start (ledger-entries-missing)');
    expect(r.output).toMatch(
      new RegExp(`has ${lines.length - 1} entries, but 1 anchor\\(s\\) point to entries`),
    );
    expect(r.output).toContain(`(heights ${lines.length - 1}-${lines.length - 1})`);
    expect(r.output).toContain(RUNBOOK_LEDGER);
    // Refusing changed nothing: the ledger is as it was found.
    expect(ledgerLines(dir)).toEqual(lines.slice(0, -1));
  });

  it('an emptied ledger is refused', async () => {
    const dir = copy();
    const n = ledgerLines(dir).length;
    writeFileSync(ledgerFile(dir), '');
    const r = await runRuntimeUntilExit(dir);
    expect(r.code).toBe(3);
    expect(r.output).toContain('(ledger-entries-missing)');
    expect(r.output).toContain(`has 0 entries, but ${n} anchor(s) point to entries it does not have`);
  });

  it('a ledger with a line dropped before others is refused as corrupt, with a clean message', async () => {
    const dir = copy();
    const lines = ledgerLines(dir);
    lines.splice(0, 1);
    writeFileSync(ledgerFile(dir), `${lines.join('\n')}\n`);
    const r = await runRuntimeUntilExit(dir);
    expect(r.code).toBe(3);
    expect(r.output).toContain('(ledger-corrupt)');
    expect(r.output).toContain('line 1: height 1 where 0 was expected');
    expect(r.output).toContain(RUNBOOK_LEDGER);
  });

  it('a missing secrets/kek with devices registered is refused, and no new key is made', async () => {
    const dir = copy();
    unlinkSync(join(dir, 'secrets', 'kek'));
    const r = await runRuntimeUntilExit(dir);
    expect(r.code).toBe(3);
    expect(r.output).toContain('(kek-missing)');
    expect(r.output).toContain(`devices are registered (${store.deviceIds[0]} among them)`);
    expect(r.output).toContain(RUNBOOK_KEK);
    expect(() => readFileSync(join(dir, 'secrets', 'kek'))).toThrow(/ENOENT/);
  });

  it('a secrets/kek that is not the one the devices were wrapped with is refused', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'secrets', 'kek'), randomBytes(32), { mode: 0o600 });
    const r = await runRuntimeUntilExit(dir);
    expect(r.code).toBe(3);
    expect(r.output).toContain('(kek-mismatch)');
    expect(r.output).toContain(`does not unwrap the master key of device ${store.deviceIds[0]}`);
  });

  it('a missing ledger key next to a ledger with entries is refused, and no new key is made', async () => {
    const dir = copy();
    unlinkSync(join(dir, 'secrets', 'ledger-ed25519.pk8'));
    const r = await runRuntimeUntilExit(dir);
    expect(r.code).toBe(3);
    expect(r.output).toContain('(ledger-key-missing)');
    expect(r.output).toContain(RUNBOOK_LEDGER_KEY);
    expect(() => readFileSync(join(dir, 'secrets', 'ledger-ed25519.pk8'))).toThrow(/ENOENT/);
  });

  it('a missing ledger key with the ledger gone too is refused, since batches are anchored on it', async () => {
    const dir = copy();
    unlinkSync(join(dir, 'secrets', 'ledger-ed25519.pk8'));
    unlinkSync(ledgerFile(dir));
    const r = await runRuntimeUntilExit(dir);
    expect(r.code).toBe(3);
    expect(r.output).toContain('(ledger-key-missing)');
    expect(r.output).toContain('batches are anchored on the embedded ledger');
  });

  it('a fresh DATA_DIR still starts and makes its keys', async () => {
    const dir = join(root, 'fresh');
    const r = await runRuntimeUntilExit(dir);
    expect(r.started).toBe(true);
    expect(readFileSync(join(dir, 'secrets', 'kek'))).toHaveLength(32);
  });
});
