/**
 * The two implementations of lib/core's platform code give identical results: crypto-primitives.ts (OpenSSL,
 * the server) against crypto-primitives.browser.ts (@noble, the browser verifier), byte-codec.ts (Buffer)
 * against byte-codec.browser.ts (plain JS). First each primitive on random and hostile inputs, then lib/core
 * as a whole: the same core source bundled twice by web/build.ts, once as the server runs it and once as the
 * page runs it (browser variants swapped in, node: refused), must judge the same bundles, documents and
 * envelopes identically, to the last field.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { build } from 'esbuild';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as browserCodec from '../../lib/core/byte-codec.browser.js';
import * as nodeCodec from '../../lib/core/byte-codec.js';
import * as browserCrypto from '../../lib/core/crypto-primitives.browser.js';
import * as nodeCrypto from '../../lib/core/crypto-primitives.js';
import { signDigest } from '../../lib/core/device-signature.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { bundleForBrowser, REPO_DIR } from '../../web/build.js';
import { compact, registerEvent, SignedDevice, TestLog } from '../support/proof-builder.js';

// Compile-time: the browser modules export exactly what the server modules do, with the same types.
const cryptoImpls: (typeof nodeCrypto)[] = [nodeCrypto, browserCrypto];
const codecImpls: (typeof nodeCodec)[] = [nodeCodec, browserCodec];
const [server, browser] = cryptoImpls as [typeof nodeCrypto, typeof nodeCrypto];

/** Server functions may hand back a Buffer (a Uint8Array subclass); the bytes are what must agree. */
const plain = (b: Uint8Array | undefined) => (b === undefined ? b : new Uint8Array(b));
const bytes = (opts: { minLength?: number; maxLength?: number } = {}) => fc.uint8Array(opts);
const flip = (b: Uint8Array, i: number): Uint8Array => {
  const out = b.slice();
  const at = i % out.length;
  out[at] = (out[at] as number) ^ 0x01;
  return out;
};

describe('crypto primitives: server (node:crypto) and browser (@noble) agree', () => {
  it('the same names are exported by both modules', () => {
    expect(Object.keys(browserCrypto).sort()).toEqual(Object.keys(nodeCrypto).sort());
    expect(Object.keys(browserCodec).sort()).toEqual(Object.keys(nodeCodec).sort());
  });

  it('sha256: identical digests, the empty input and block boundaries included', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000])
      expect(browser.sha256(new Uint8Array(n).fill(n))).toEqual(
        plain(server.sha256(new Uint8Array(n).fill(n))),
      );
    fc.assert(
      fc.property(bytes({ maxLength: 4096 }), (d) => {
        expect(browser.sha256(d)).toEqual(plain(server.sha256(d)));
      }),
    );
  });

  it('AES-256-GCM: the same ciphertext and tag, each opens the other, and both refuse the same changes', () => {
    fc.assert(
      fc.property(
        bytes({ minLength: 32, maxLength: 32 }),
        bytes({ minLength: 12, maxLength: 12 }),
        bytes({ maxLength: 200 }),
        bytes({ maxLength: 2000 }),
        fc.nat(),
        (key, nonce, aad, plaintext, where) => {
          const sealed = server.aes256GcmSeal(key, nonce, aad, plaintext);
          expect(browser.aes256GcmSeal(key, nonce, aad, plaintext)).toEqual(sealed);
          expect(browser.aes256GcmOpen(key, nonce, aad, sealed)).toEqual(plaintext);
          expect(server.aes256GcmOpen(key, nonce, aad, sealed)).toEqual(plaintext);
          // One changed bit anywhere (ciphertext, tag, key, nonce, AAD): both refuse.
          for (const impl of cryptoImpls) {
            expect(impl.aes256GcmOpen(key, nonce, aad, flip(sealed, where))).toBeUndefined();
            expect(impl.aes256GcmOpen(flip(key, where), nonce, aad, sealed)).toBeUndefined();
            expect(impl.aes256GcmOpen(key, flip(nonce, where), aad, sealed)).toBeUndefined();
            if (aad.length > 0)
              expect(impl.aes256GcmOpen(key, nonce, flip(aad, where), sealed)).toBeUndefined();
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('AES-256-GCM: both refuse input shorter than a tag and a key of the wrong length', () => {
    const nonce = new Uint8Array(12);
    for (const impl of cryptoImpls) {
      expect(impl.aes256GcmOpen(new Uint8Array(32), nonce, new Uint8Array(0), new Uint8Array(15))).toBe(
        undefined,
      );
      const sealed = impl.aes256GcmSeal(new Uint8Array(32), nonce, new Uint8Array(0), new Uint8Array(4));
      expect(impl.aes256GcmOpen(new Uint8Array(16), nonce, new Uint8Array(0), sealed)).toBeUndefined();
    }
  });

  it('Ed25519 verify: the same answer for valid, altered and non-canonical signatures', () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    fc.assert(
      fc.property(
        bytes({ minLength: 32, maxLength: 32 }),
        bytes({ maxLength: 300 }),
        fc.nat(),
        (seed, msg, i) => {
          const pub = ed25519.getPublicKey(seed);
          const sig = ed25519.sign(msg, seed);
          const cases: [Uint8Array, Uint8Array, Uint8Array, boolean][] = [
            [pub, msg, sig, true],
            [pub, msg, flip(sig, i), false],
            [flip(pub, i), msg, sig, false],
            [pub, new Uint8Array([...msg, 0]), sig, false],
          ];
          // s + L: the same signature in a non-canonical encoding, which strict RFC 8032 refuses.
          const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + L;
          if (s < 2n ** 256n) {
            const sBytes = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse();
            cases.push([pub, msg, new Uint8Array([...sig.subarray(0, 32), ...sBytes]), false]);
          }
          for (const [p, m, g, expected] of cases) {
            const answer = server.ed25519Verify(p, m, g);
            expect(browser.ed25519Verify(p, m, g)).toBe(answer);
            // A changed public key can still, rarely, be a key; it never verifies the original signature.
            expect(answer).toBe(expected);
          }
        },
      ),
      { numRuns: 100 },
    );
    for (const impl of cryptoImpls) {
      expect(impl.ed25519Verify(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64))).toBe(false);
      expect(impl.ed25519Verify(new Uint8Array(32), new Uint8Array(0), new Uint8Array(63))).toBe(false);
    }
  });

  it('randomBytes: the asked length, and not constant', () => {
    for (const impl of cryptoImpls) {
      expect(impl.randomBytes(24)).toHaveLength(24);
      expect(impl.randomBytes(16)).not.toEqual(impl.randomBytes(16));
    }
  });

  it('byte codecs: identical hex, base64 and latin1, and both decode what they encode', () => {
    const [a, b] = codecImpls as [typeof nodeCodec, typeof nodeCodec];
    fc.assert(
      fc.property(bytes({ maxLength: 600 }), (d) => {
        const hex = a.encodeHex(d);
        const b64 = a.encodeBase64(d);
        expect(b.encodeHex(d)).toBe(hex);
        expect(b.encodeBase64(d)).toBe(b64);
        expect(b.decodeLatin1(d)).toBe(a.decodeLatin1(d));
        expect(b.decodeHex(hex)).toEqual(d);
        expect(a.decodeHex(hex)).toEqual(d);
        expect(b.decodeBase64(b64)).toEqual(d);
        expect(a.decodeBase64(b64)).toEqual(d);
      }),
    );
    // Every byte value survives latin1, including 0x80-0x9f, which windows-1252 would remap.
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(b.decodeLatin1(all)).toBe(a.decodeLatin1(all));
  });
});

/** What the differential run of lib/core uses from each build. */
interface CoreBuild {
  AnyProofBundle: typeof import('../../lib/core/proof-bundle.js').AnyProofBundle;
  checkProofBundle: typeof import('../../lib/core/proof-bundle.js').checkProofBundle;
  checkCompleteness: typeof import('../../lib/core/completeness.js').checkCompleteness;
  parseEnvelope: typeof import('../../lib/core/envelope.js').parseEnvelope;
  openRecord: typeof import('../../lib/core/envelope.js').openRecord;
  verifyDigest: typeof import('../../lib/core/device-signature.js').verifyDigest;
  verifyLedgerEntry: typeof import('../../lib/core/ledger-entry.js').verifyLedgerEntry;
  fromBase64: typeof import('../../lib/core/bytes.js').fromBase64;
  toHex: typeof import('../../lib/core/bytes.js').toHex;
}

const CORE_ENTRY = `
export { AnyProofBundle, checkProofBundle } from './lib/core/proof-bundle.js';
export { checkCompleteness } from './lib/core/completeness.js';
export { parseEnvelope, openRecord } from './lib/core/envelope.js';
export { verifyDigest } from './lib/core/device-signature.js';
export { verifyLedgerEntry } from './lib/core/ledger-entry.js';
export { fromBase64, toHex } from './lib/core/bytes.js';
`;

describe('lib/core bundled for the server and for the browser judges everything alike', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iotn-core-builds-'));
  let asServer: CoreBuild;
  let asBrowser: CoreBuild;
  let browserSource: string;

  beforeAll(async () => {
    browserSource = await bundleForBrowser({ contents: CORE_ENTRY }, 'esm', false);
    const serverBuild = await build({
      stdin: { contents: CORE_ENTRY, resolveDir: REPO_DIR, loader: 'ts' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      logLevel: 'silent',
    });
    writeFileSync(join(dir, 'browser.mjs'), browserSource);
    writeFileSync(join(dir, 'server.mjs'), serverBuild.outputFiles[0]?.text ?? '');
    asBrowser = (await import(pathToFileURL(join(dir, 'browser.mjs')).href)) as CoreBuild;
    asServer = (await import(pathToFileURL(join(dir, 'server.mjs')).href)) as CoreBuild;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the browser build holds the @noble implementations and no node:crypto or Buffer', () => {
    expect(browserSource).not.toMatch(/node:crypto|\bBuffer\./);
    expect(browserSource).toContain('lib/core/crypto-primitives.browser.ts');
    expect(browserSource).toContain('lib/core/byte-codec.browser.ts');
    expect(browserSource).not.toMatch(/lib\/core\/(crypto-primitives|byte-codec)\.ts/);
  });

  // A log with ed25519 and p256 devices, a rotation, records in two batches and heads.
  const log = new TestLog();
  const ed = new SignedDevice('diff-ed');
  const p = new SignedDevice('diff-p', 'p256');
  const reg = [registerEvent(ed.deviceId, ed.key), registerEvent(p.deviceId, p.key)];
  log.commit(reg);
  const records = [ed.seal(), ed.seal(), p.seal(), p.seal({ unsigned: true })];
  log.commit(records.slice(0, 3).map((r) => r.headerBytes));
  const firstKey = ed.key;
  const rotation = ed.rotate('p256');
  const late = ed.seal();
  const head = ed.head();
  log.commit([records[3]?.headerBytes as Uint8Array, rotation, late.headerBytes, head]);
  const all = [...records, late];
  const pins = [{ keyId: Buffer.from(firstKey.keyId).toString('hex') }];

  /** A string with one character changed at `i` (to another character of the same alphabet). */
  const alter = (s: string, i: number) => {
    const at = i % s.length;
    const c = s[at] === 'A' ? 'B' : 'A';
    return s.slice(0, at) + c + s.slice(at + 1);
  };

  it('proof bundles (intact, with envelopes, and with one character changed anywhere) get identical checks', () => {
    const ledgerKeys = [log.ledgers[0]?.publicKeyBase64 as string];
    for (const r of all) {
      const events =
        r.header.version === 1 ? [] : r.header.deviceId === ed.deviceId ? [reg[0], rotation] : [reg[1]];
      const bundle = log.bundle(r, events as Uint8Array[]);
      const json = compact(bundle);
      const same = (b: unknown, opts: object) =>
        expect(JSON.stringify(asBrowser.checkProofBundle(b as never, opts))).toBe(
          JSON.stringify(asServer.checkProofBundle(b as never, opts)),
        );
      same(bundle, { envelope: r.envelope, trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: pins });
      same(bundle, { envelope: flip(r.envelope, r.envelope.length - 3) });
      expect(asServer.checkProofBundle(bundle, { envelope: r.envelope }).status).toBe('unpinned');
      for (let i = 0; i < json.length; i += 97) {
        let changed: unknown;
        try {
          changed = JSON.parse(alter(json, i));
        } catch {
          continue;
        }
        const a = asServer.AnyProofBundle.safeParse(changed);
        const b = asBrowser.AnyProofBundle.safeParse(changed);
        expect(b.success).toBe(a.success);
        if (a.success) same(a.data, { trustedLedgerKeys: ledgerKeys });
      }
    }
  });

  it('completeness documents (whole, and with a record dropped) get identical checks', () => {
    const doc = log.completeness({
      deviceId: ed.deviceId,
      fromSeq: 0,
      records: [records[0], records[1], late].map((r) => r?.headerBytes as Uint8Array),
      head,
      keyEvents: [reg[0] as Uint8Array, rotation],
    });
    const gap = { ...doc, records: [doc.records[0], doc.records[2]] };
    for (const d of [doc, gap]) {
      const a = asServer.checkCompleteness(d as never, { trustedDeviceKeys: pins });
      expect(JSON.stringify(asBrowser.checkCompleteness(d as never, { trustedDeviceKeys: pins }))).toBe(
        JSON.stringify(a),
      );
    }
    expect(asServer.checkCompleteness(gap as never).missing).toEqual([{ fromSeq: 1, toSeq: 1 }]);
  });

  it('envelopes decrypt to the same plaintext with the right key, and fail alike otherwise', () => {
    for (const r of all) {
      const dev = r === late || records.indexOf(r) < 2 ? ed : p;
      const { seq, timestamp } = r.header;
      const recordKey = deriveRecordKey(dev.masterKey, dev.deviceId, timestamp, seq);
      for (const envelope of [r.envelope, flip(r.envelope, r.envelope.length - 1)]) {
        const a = asServer.parseEnvelope(envelope);
        const b = asBrowser.parseEnvelope(envelope);
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
        if (!a.ok || !b.ok) continue;
        expect(asBrowser.openRecord(b, recordKey)).toEqual(asServer.openRecord(a, recordKey));
        expect(asBrowser.openRecord(b, new Uint8Array(32))).toEqual(
          asServer.openRecord(a, new Uint8Array(32)),
        );
      }
      const opened = asServer.parseEnvelope(r.envelope);
      expect(opened.ok && asServer.openRecord(opened, recordKey).ok).toBe(true);
    }
  });

  it('device signatures (Ed25519 and P-256) and ledger entries verify alike', () => {
    for (const key of [firstKey, ed.key, p.key]) {
      const digest = new Uint8Array(32).fill(9);
      const sig = signDigest(key.alg, key.privateKey, digest);
      for (const [d, s] of [
        [digest, sig],
        [flip(digest, 3), sig],
        [digest, flip(sig, 40)],
      ] as const) {
        const a = asServer.verifyDigest(key.alg, key.publicKey, d, s);
        expect(asBrowser.verifyDigest(key.alg, key.publicKey, d, s)).toBe(a);
      }
      expect(asBrowser.verifyDigest(key.alg, key.publicKey, digest, sig)).toBe(true);
    }
    const ledger = log.ledgers[0];
    const entry = ledger?.entries[0];
    if (!ledger || !entry) throw new Error('the test ledger has no entry');
    const key = asServer.fromBase64(ledger.publicKeyBase64) as Uint8Array;
    for (const e of [entry, { ...entry, sig: alter(entry.sig, 5) }, { ...entry, time: entry.time + 1 }])
      expect(asBrowser.verifyLedgerEntry(e, key)).toEqual(asServer.verifyLedgerEntry(e, key));
    expect(asBrowser.verifyLedgerEntry(entry, key)).toEqual({ ok: true });
  });
});
