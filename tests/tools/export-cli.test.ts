/**
 * `npm run export` as an operator runs it: its own process, against the embedded runtime's HTTP API; the
 * archive lands at --out whole, the progress line counts records as they arrive, and a refusal or a bad
 * command line leaves no file.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar } from '../../lib/core/tar.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { testOrigin } from '../support/origin.js';
import { REPO, startInProcess, tempDir } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;

describe('npm run export', () => {
  let rt: Runtime;
  const work = tempDir('iotn-export-cli-');
  const dev = new TestDevice('cli-exp');

  const cli = (args: string[]) =>
    new Promise<{ code: number; stderr: string }>((done) => {
      execFile(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'tools/export.ts', ...args],
        {
          cwd: REPO,
          timeout: 60_000,
          env: { ...process.env, API_URL: rt.baseUrl, OPERATOR_TOKEN: rt.operatorToken, DATA_DIR: work },
        },
        (err, _stdout, stderr) =>
          done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
      );
    });

  beforeAll(async () => {
    rt = await startInProcess();
    const p = await fetch(`${rt.baseUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: dev.deviceId, masterKey: dev.masterKeyBase64 }),
    });
    expect(p.status).toBe(201);
    for (let i = 0; i < 30; i++) {
      const out = await ingestEnvelope(
        {
          objects: rt.objects,
          index: rt.index,
          clock: Date.now,
          limits: { maxClockSkewMs: 0 },
          origin: testOrigin(rt.index),
        },
        { deviceId: dev.deviceId, bytes: dev.seal({ signer: null }).envelope, via: 'inline' },
      );
      expect(out.status).toBe('stored');
    }
    await rt.anchorNow();
  });
  afterAll(async () => {
    await rt?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('writes the whole archive to --out and shows progress by records', async () => {
    const out = join(work, 'a.tar');
    const r = await cli([
      '--device',
      'cli-exp',
      '--from-seq',
      '0',
      '--to-seq',
      '29',
      '--envelopes',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('exported 0/30 records (0%)');
    expect(r.stderr).toContain('exported 30/30 records (100%)');
    expect(r.stderr).toContain(`wrote ${out}`);
    const names = [...readTar(new Uint8Array(readFileSync(out)))].map((e) => e.name);
    expect(names.filter((n) => n.includes('/bundles/'))).toHaveLength(30);
    expect(names.filter((n) => n.includes('/envelopes/'))).toHaveLength(30);
    expect(names.at(-1)).toBe('iot-notary-export/summary.json');
    expect(existsSync(`${out}.part`)).toBe(false);
  });

  it('a refusal is exit 1 with the server’s code and leaves no file; a bad command line is exit 2', async () => {
    const out = join(work, 'b.tar');
    const r = await cli(['--device', 'nobody', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('404: device-not-found');
    expect(existsSync(out)).toBe(false);
    const bad = await cli(['--device', 'cli-exp', '--from-seq', '5', '--to-seq', '1', '--out', out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('400: bad-request');
    expect((await cli(['--out', out])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
