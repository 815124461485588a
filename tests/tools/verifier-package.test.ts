/**
 * The installable verifier as an auditor gets it: `npm run build:verifier`, `npm pack` in verifier/, the
 * tarball installed with `npm install --offline` into an empty directory (nothing from the registry: the
 * package has no dependencies), and the installed bin run from there, a directory with no server code, on
 * archives exported over HTTP by the embedded runtime. It verifies a whole archive (exit 0), reports a gap
 * (exit 1) and an unpinned ledger (exit 3), and decrypts the archive with keys released by the API.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, signerOf } from '../../lib/core/device-signature.js';
import { acceptHead } from '../../lib/devices/device-keys.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { testOrigin } from '../support/origin.js';
import { REPO, startInProcess, tempDir } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
const T0 = 1_700_000_000_000;

function run(
  bin: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(bin, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('iot-notary-verify, packed and installed on its own', () => {
  let rt: Runtime;
  const work = tempDir('iotn-verifier-');
  const install = join(work, 'auditor');
  let bin: string;
  let ledgerKey: string;
  const key = generateSigningKey('ed25519');
  const clean = new TestDevice('pkg-clean', undefined, signerOf(key));
  const gappy = new TestDevice('pkg-gap', undefined, signerOf(key));
  const plaintexts = new Map<string, Uint8Array>();

  async function op(method: string, path: string, body?: unknown) {
    return fetch(`${rt.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${rt.operatorToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }
  async function download(path: string, file: string): Promise<string> {
    const res = await op('GET', path);
    expect(res.status).toBe(200);
    const out = join(work, file);
    writeFileSync(out, new Uint8Array(await res.arrayBuffer()));
    return out;
  }

  beforeAll(async () => {
    // Pack and install first: the auditor's directory holds the package and nothing else.
    execFileSync(process.execPath, ['verifier/build.mjs'], { cwd: REPO });
    const tgz = execFileSync('npm', ['pack', '--pack-destination', work, '--json'], {
      cwd: join(REPO, 'verifier'),
      encoding: 'utf8',
    });
    const name = (JSON.parse(tgz) as { filename: string }[])[0]?.filename as string;
    mkdirSync(install);
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, name)], {
      cwd: install,
      encoding: 'utf8',
    });
    bin = join(install, 'node_modules', '.bin', 'iot-notary-verify');

    rt = await startInProcess();
    for (const d of [clean, gappy]) {
      const p = await op('POST', '/v1/devices', {
        deviceId: d.deviceId,
        masterKey: d.masterKeyBase64,
        ...(d === clean ? { signingKey: { alg: 'ed25519', publicKey: toBase64(key.publicKey) } } : {}),
        ...(d === gappy ? { signingKey: { alg: 'ed25519', publicKey: toBase64(key.publicKey) } } : {}),
      });
      expect(p.status).toBe(201);
      for (let i = 0; i < 6; i++) {
        const sealed = d.seal();
        plaintexts.set(`${d.deviceId}.${sealed.seq}`, sealed.plaintext);
        if (d === gappy && i === 3) continue;
        const out = await ingestEnvelope(
          {
            objects: rt.objects,
            index: rt.index,
            clock: Date.now,
            limits: { maxClockSkewMs: 0 },
            origin: testOrigin(rt.index),
          },
          { deviceId: d.deviceId, bytes: sealed.envelope, via: 'inline' },
        );
        expect(out.status).toBe('stored');
      }
      const head = signHead(
        { deviceId: d.deviceId, count: 6, lastHash: d.prevHash, time: T0 + 6000 },
        signerOf(key),
      ).bytes;
      await acceptHead(
        { devices: rt.index, statements: rt.statements, clock: Date.now, maxClockSkewMs: 0 },
        { deviceId: d.deviceId, bytes: head },
      );
    }
    await rt.anchorNow();
    const chains = (await (await op('GET', '/v1/chains')).json()) as {
      items: { kind: string; publicKey?: string }[];
    };
    ledgerKey = chains.items.find((c) => c.kind === 'embedded-ledger')?.publicKey as string;
  });
  afterAll(async () => {
    await rt?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('installs as one file with no dependencies, away from the repository', () => {
    const pkg = JSON.parse(
      readFileSync(join(install, 'node_modules', 'iot-notary-verify', 'package.json'), 'utf8'),
    );
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(readdirSync(join(install, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual([
      'iot-notary-verify',
    ]);
    expect(readdirSync(join(install, 'node_modules', 'iot-notary-verify')).sort()).toEqual([
      'README.md',
      'dist',
      'package.json',
    ]);
    expect(existsSync(bin)).toBe(true);
  });

  it('verifies an exported archive: 0 pinned, 3 without the ledger key, 1 with a gap', async () => {
    const archive = await download('/v1/devices/pkg-clean/export?envelopes=true', 'clean.tar');
    const pins = ['--trust-ledger-key', ledgerKey, '--trust-device-key', toHex(key.keyId)];
    const ok = await run(bin, [archive, ...pins, '--json'], install);
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report).toMatchObject({
      exit: 0,
      status: 'verified',
      archive: { status: 'intact' },
      records: { checked: 6, byStatus: { verified: 6 }, origins: { proven: 6 }, envelopes: { checked: 6 } },
      missing: { count: 0 },
      completeness: { included: true, outcome: 'complete' },
    });
    const unpinned = await run(bin, [archive], install);
    expect(unpinned.code).toBe(3);
    expect(unpinned.stdout).toMatch(/records +6 of 6 checked: unpinned 6/);

    const gap = await download('/v1/devices/pkg-gap/export', 'gap.tar');
    const g = await run(bin, [gap, ...pins], install);
    expect(g.code).toBe(1);
    expect(g.stdout).toMatch(/missing +1 seq\(s\): 3/);
    expect(g.stdout).toMatch(/completeness incomplete/);

    const notTar = join(work, 'x.tar');
    writeFileSync(notTar, 'not an archive');
    expect((await run(bin, [notTar], install)).code).toBe(2);
  });

  it('decrypts the archive with keys released by the API, and names the records it cannot open', async () => {
    const archive = await download('/v1/devices/pkg-clean/export?envelopes=true', 'clean2.tar');
    const release = await op('POST', '/v1/devices/pkg-clean/key-release', {
      fromSeq: 0,
      toSeq: 4,
      reason: 'audit of the week',
    });
    expect(release.status).toBe(200);
    const keys = join(work, 'keys.json');
    writeFileSync(keys, new Uint8Array(await release.arrayBuffer()));
    const out = join(work, 'plain');
    const r = await run(bin, ['decrypt', archive, '--keys', keys, '--out', out, '--json'], install);
    // Seq 5 was not released: it is named, the other five are opened.
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      kind: 'decrypt',
      decrypted: 5,
      failed: 1,
      failures: [{ recordId: 'pkg-clean.5', code: 'no-key' }],
      unusedKeys: 0,
    });
    for (let s = 0; s < 5; s++)
      expect(new Uint8Array(readFileSync(join(out, `pkg-clean.${s}.bin`)))).toEqual(
        plaintexts.get(`pkg-clean.${s}`),
      );
    expect(existsSync(join(out, 'pkg-clean.5.bin'))).toBe(false);

    // A key of another record in the slot of seq 0: refused as such, not "decrypted".
    const doc = JSON.parse(readFileSync(keys, 'utf8'));
    doc.keys[0].key = doc.keys[1].key;
    writeFileSync(keys, JSON.stringify(doc));
    const wrong = await run(
      bin,
      ['decrypt', archive, '--keys', keys, '--out', join(work, 'p2'), '--json'],
      install,
    );
    expect(JSON.parse(wrong.stdout).failures).toContainEqual({
      recordId: 'pkg-clean.0',
      code: 'decrypt-failed',
    });
  });
});
