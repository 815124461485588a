/**
 * A store made the way a user makes one: the runtime as its own process, the device stub as its own process
 * (twice, so there are several batches), every record anchored and verified, then a clean stop. Tests copy
 * it and damage the copy, the way a disk fault or a careless hand would.
 */
import { execFile } from 'node:child_process';
import { cpSync } from 'node:fs';
import { REPO, spawnRuntime, waitFor } from './runtime.js';

export function runDeviceStub(dataDir: string, args: string[]) {
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

export interface RealStore {
  dataDir: string;
  deviceIds: string[];
  /** Records per device. */
  records: number;
}

/** Fills `dataDir` with `devices` devices of 2 × `perRun` records each, all anchored; the runtime is stopped. */
export async function makeRealStore(dataDir: string, devices = 3, perRun = 4): Promise<RealStore> {
  const rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '150' });
  const stop = async () => {
    rt.child.kill('SIGTERM');
    const { code } = await rt.exited;
    if (code !== 0) throw new Error(`runtime did not stop cleanly (${code}): ${rt.output()}`);
  };
  let store: RealStore;
  try {
    const args = ['--devices', String(devices), '--records', String(perRun), '--seed', '5', '--rate', '20'];
    for (let run = 0; run < 2; run++) {
      const r = await runDeviceStub(dataDir, args);
      if (r.status !== 0) throw new Error(`device stub failed: ${r.stdout}${r.stderr}`);
    }
    const deviceIds = Array.from({ length: devices }, (_, i) => `sim-5-${String(i + 1).padStart(4, '0')}`);
    for (const id of deviceIds) {
      await waitFor(`${id} anchored`, async () => {
        const res = await fetch(`${rt.info.baseUrl}/v1/records/${id}.${2 * perRun - 1}/verify`, {
          headers: { authorization: `Bearer ${rt.token}` },
        });
        return ((await res.json()) as { status?: string }).status === 'verified' || undefined;
      });
    }
    store = { dataDir, deviceIds, records: 2 * perRun };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  await stop();
  return store;
}

/** A copy of a store to damage. */
export function copyStore(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  return to;
}
