/**
 * Every file the runtime and the device stub write is private to its owner (0600, folders 0700), even when
 * DATA_DIR already existed with an open mode, and even for files an older version left world-readable. The
 * stub's outbox holds master keys and passwords in plaintext; SQLite's -wal and -shm files hold recent rows.
 * Both run as real processes, as a user runs them, so the umask each sets for itself is what is tested.
 */
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

function runStub(dataDir: string, args: string[]) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'device-stub/cli.ts', ...args],
      { cwd: REPO, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Every path under `root` (folders included) with its permission bits, e.g. `ledger/ledger.jsonl 600`. */
function modesUnder(root: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(d.parentPath, d.name);
    out.set(path.slice(root.length + 1), lstatSync(path).mode & 0o777);
  }
  return out;
}

/** Paths whose mode lets the group or others in at all. */
const openToOthers = (modes: Map<string, number>) =>
  [...modes].filter(([, m]) => (m & 0o077) !== 0).map(([p, m]) => `${p} ${m.toString(8)}`);

describe('file modes under DATA_DIR', { timeout: 180_000 }, () => {
  const dataDir = tempDir('iotn-modes-');
  let rt: SpawnedRuntime | undefined;

  afterAll(async () => {
    if (rt && rt.child.exitCode === null) {
      rt.child.kill('SIGTERM');
      await rt.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function stop(r: SpawnedRuntime) {
    r.child.kill('SIGTERM');
    expect((await r.exited).code).toBe(0);
  }

  it('a run of the runtime and the stub in a DATA_DIR made 0755 beforehand leaves no file others can read', async () => {
    chmodSync(dataDir, 0o755);
    rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '200' });
    const stub = await runStub(dataDir, ['--devices', '2', '--records', '5', '--seed', '3']);
    expect(stub.status).toBe(0);
    const api = `${rt.info.baseUrl}/v1/records/sim-3-0001.4/verify`;
    const token = rt.token;
    await waitFor('anchored', async () => {
      const r = await fetch(api, { headers: { authorization: `Bearer ${token}` } });
      return ((await r.json()) as { status: string }).status === 'verified' || undefined;
    });

    // While it runs: the SQLite -wal and -shm files exist now.
    const running = modesUnder(dataDir);
    for (const f of [
      'index.sqlite',
      'index.sqlite-wal',
      'index.sqlite-shm',
      'objects.sqlite',
      'objects.sqlite-wal',
      'tokens.sqlite',
      'ledger/ledger.jsonl',
      'secrets/kek',
      'secrets/upload-hmac',
      'secrets/ledger-ed25519.pk8',
      'operator.token',
      'runtime.json',
      'device-stub/outbox.sqlite',
    ]) {
      expect(running.get(f), f).toBe(0o600);
    }
    for (const d of ['ledger', 'secrets', 'device-stub']) expect(running.get(d), d).toBe(0o700);
    expect(openToOthers(running)).toEqual([]);

    // The folder itself is the operator's to close; the runtime says so once, at start.
    expect(rt.output()).toMatch(/"msg":"DATA_DIR is open to other users[^"]*".*"mode":"755"/);
    expect(statSync(dataDir).mode & 0o777).toBe(0o755);

    await stop(rt);
    expect(openToOthers(modesUnder(dataDir))).toEqual([]);
  });

  it('files an older version left world-readable are made private on the next start', async () => {
    const before = modesUnder(dataDir);
    for (const [p] of before) {
      const full = join(dataDir, p);
      chmodSync(full, statSync(full).isDirectory() ? 0o755 : 0o644);
    }
    expect(openToOthers(modesUnder(dataDir)).length).toBeGreaterThan(5);

    rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '600000' });
    // The stub opens its outbox again (its devices exist already: nothing new to provision).
    const stub = await runStub(dataDir, ['--devices', '2', '--records', '1', '--seed', '3']);
    expect(stub.status).toBe(0);
    const files = [...modesUnder(dataDir)].filter(([p]) => !statSync(join(dataDir, p)).isDirectory());
    expect(files.filter(([, m]) => m !== 0o600).map(([p, m]) => `${p} ${m.toString(8)}`)).toEqual([]);
    await stop(rt);
  });
});
