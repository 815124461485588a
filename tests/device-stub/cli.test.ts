/** `npm run device` as a user runs it: a separate process that finds the backend through DATA_DIR. */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, startInProcess } from '../support/runtime.js';

/** Asynchronous on purpose: the backend runs in this process, and a blocking spawn would starve it. */
function runStub(dataDir: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'device-stub/cli.ts', ...args],
      { cwd: REPO, env: { ...process.env, DATA_DIR: dataDir, ...env }, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

describe('device stub CLI', () => {
  let rt: Awaited<ReturnType<typeof startInProcess>>;
  beforeAll(async () => {
    rt = await startInProcess();
  });
  afterAll(async () => {
    await rt.cleanup();
  });

  it('provisions, publishes, exits 0 once everything is acknowledged, and prints one summary line', async () => {
    const r = await runStub(rt.dataDir, ['--devices', '3', '--records', '10', '--seed', '42']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^device-stub: 3 devices, 30\/30 records acknowledged \(30 stored, 0 duplicate, 0 rejected\) in [\d.]+ s, \d+ rec\/s; outbox empty\n$/,
    );
    expect(await rt.index.maxSeq('sim-42-0003')).toBe(9);
  });

  it('continues the same devices on a second run with the same seed', async () => {
    const r = await runStub(rt.dataDir, ['--devices', '1', '--records', '4', '--seed', '42', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ created: 4, stored: 4, ok: true });
    expect(await rt.index.maxSeq('sim-42-0001')).toBe(13);
  });

  it('sends packets too large for one MQTT message through the upload path', async () => {
    const r = await runStub(rt.dataDir, [
      '--devices',
      '1',
      '--records',
      '2',
      '--packet-size',
      '400000',
      '--prefix',
      'big',
    ]);
    expect(r.status).toBe(0);
    const rec = await rt.index.getRecord('big-1-0001', 1);
    expect(rec).toMatchObject({ via: 'upload' });
    expect(rec?.envelopeSize).toBeGreaterThan(400_000);
  });

  it('exits 2 with a clear message when it cannot find an operator token', async () => {
    const r = await runStub('/nonexistent-dir', ['--devices', '1'], { OPERATOR_TOKEN: '' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no operator token: .*operator\.token is not readable/);
  });

  it("rotate-key rotates each device's signing key and says so", async () => {
    const r = await runStub(rt.dataDir, [
      'rotate-key',
      '--devices',
      '1',
      '--seed',
      '42',
      '--sig-alg',
      'p256',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ 0\/0 records acknowledged .*; outbox empty; 1\/1 keys rotated\n$/);
    expect((await rt.index.getDevice('sim-42-0001'))?.keys.map((k) => [k.alg, k.status])).toEqual([
      ['ed25519', 'revoked'],
      ['p256', 'active'],
    ]);
  });

  it('--help names the signing options', async () => {
    const r = await runStub(rt.dataDir, ['--help']);
    expect(r.status).toBe(0);
    for (const opt of ['rotate-key', '--sig-alg', '--head-interval', '--rotate-key', '--unsigned'])
      expect(r.stdout).toContain(opt);
  });

  it('exits 2 on a bad argument', async () => {
    const r = await runStub(rt.dataDir, ['--devices', 'many']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--devices must be an integer >= 1/);
    const alg = await runStub(rt.dataDir, ['--sig-alg', 'rsa']);
    expect(alg.status).toBe(2);
    expect(alg.stderr).toMatch(/--sig-alg must be ed25519 or p256, got "rsa"/);
    const both = await runStub(rt.dataDir, ['rotate-key', '--unsigned']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--unsigned devices have no signing key/);
  });
});
