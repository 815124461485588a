/**
 * The ingest verifiers (node:crypto, inline and in worker threads) against lib/core's @noble/curves verifier,
 * the reference every offline verifier uses. On every input class they must agree, with one documented
 * exception in one direction: an Ed25519 signature whose R carries a small-order component (which only the
 * key's holder can make) is refused by OpenSSL's cofactorless check and accepted by noble's cofactored one.
 * Never the reverse: ingest never accepts what an offline verifier refuses.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { join } from 'node:path';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  type SigAlg,
  type SigningKey,
  signDigest,
} from '../../lib/core/device-signature.js';
import {
  chunkSize,
  coreVerifier,
  createInlineVerifier,
  createVerifierPool,
  type SignatureVerifier,
  SignatureVerifierError,
} from '../../lib/ingest/signature-verifier.js';

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ED_L = 2n ** 252n + 27742317777372353535851937790883648493n;

const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const bytes32 = (n: bigint): Uint8Array =>
  Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const le32 = (n: bigint): Uint8Array => bytes32(n).reverse();
const fromLe = (b: Uint8Array): bigint => big(Uint8Array.from(b).reverse());

interface Case {
  name: string;
  alg: SigAlg;
  publicKey: Uint8Array;
  digest: Uint8Array;
  sig: Uint8Array;
}

function flipped(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
}

/** A signature valid under noble's cofactored check and invalid under a cofactorless one: R = rB + T. */
function torsionSignature(key: SigningKey, digest: Uint8Array): Uint8Array {
  const ext = ed25519.utils.getExtendedPublicKey(key.privateKey);
  const r = big(randomBytes(32)) % ED_L;
  const T = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1] as string);
  const R = ed25519.Point.BASE.multiply(r).add(T).toBytes();
  const k = fromLe(createHash('sha512').update(R).update(ext.pointBytes).update(digest).digest()) % ED_L;
  const s = (r + k * ext.scalar) % ED_L;
  return Uint8Array.from([...R, ...le32(s)]);
}

/** Every input class we know of, for both algorithms, with the outcome the reference gives. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const alg of ['ed25519', 'p256'] as const) {
    for (let i = 0; i < 4; i++) {
      const key = generateSigningKey(alg);
      const other = generateSigningKey(alg);
      const digest = new Uint8Array(randomBytes(32));
      const sig = signDigest(alg, key.privateKey, digest);
      const c = (name: string, over: Partial<Case>) =>
        out.push({ name: `${alg} ${name}`, alg, publicKey: key.publicKey, digest, sig, ...over });
      c('valid', {});
      c('other key', { publicKey: other.publicKey });
      c('other digest', { digest: new Uint8Array(randomBytes(32)) });
      c('sig bit flipped in r', { sig: flipped(sig, 8 * i + 3) });
      c('sig bit flipped in s', { sig: flipped(sig, 256 + 8 * i + 5) });
      c('digest bit flipped', { digest: flipped(digest, 100 + i) });
      c('zero signature', { sig: new Uint8Array(64) });
      c('all-ones signature', { sig: new Uint8Array(64).fill(0xff) });
      if (alg === 'p256') {
        const s = big(sig.subarray(32));
        c('high-S twin', { sig: Uint8Array.from([...sig.subarray(0, 32), ...bytes32(P256_N - s)]) });
        c('r = 0', { sig: Uint8Array.from([...new Uint8Array(32), ...sig.subarray(32)]) });
        c('s = 0', { sig: Uint8Array.from([...sig.subarray(0, 32), ...new Uint8Array(32)]) });
        c('r + n', {
          sig: Uint8Array.from([...bytes32(big(sig.subarray(0, 32)) + P256_N), ...sig.subarray(32)]).slice(
            -64,
          ),
        });
      } else {
        const s = fromLe(sig.subarray(32));
        c('s + L (non-canonical s)', { sig: Uint8Array.from([...sig.subarray(0, 32), ...le32(s + ED_L)]) });
        c('R with the sign bit flipped', { sig: flipped(sig, 255) });
      }
    }
  }
  return out;
}

function torsionCases(): Case[] {
  return Array.from({ length: 3 }, (_, i) => {
    const key = generateSigningKey('ed25519');
    const digest = new Uint8Array(randomBytes(32));
    return {
      name: `ed25519 small-order component in R #${i}`,
      alg: 'ed25519' as const,
      publicKey: key.publicKey,
      digest,
      sig: torsionSignature(key, digest),
    };
  });
}

describe('node:crypto verifiers against the core verifier', () => {
  const all = cases();
  let pool: SignatureVerifier;
  const inline = createInlineVerifier();
  let reference: boolean[];
  beforeAll(async () => {
    pool = createVerifierPool({ threads: 2, maxBatch: 7 });
    reference = await Promise.all(all.map((c) => coreVerifier.verify(c.alg, c.publicKey, c.digest, c.sig)));
  });
  afterAll(async () => {
    await pool.close();
  });

  it('the reference accepts exactly the valid signatures', () => {
    expect(all.filter((_, i) => reference[i]).map((c) => c.name)).toEqual(
      all.filter((c) => c.name.endsWith(' valid')).map((c) => c.name),
    );
  });

  for (const name of ['inline', 'pool'] as const) {
    it(`${name}: same answer as the core on every case`, async () => {
      const v = name === 'inline' ? inline : pool;
      // All at once: the pool packs them into batches of 7 over two threads, so positions must line up.
      const got = await Promise.all(all.map((c) => v.verify(c.alg, c.publicKey, c.digest, c.sig)));
      expect(all.map((c, i) => [c.name, got[i]])).toEqual(all.map((c, i) => [c.name, reference[i]]));
    });
  }

  it('random keys, digests and single-bit changes: the three agree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<SigAlg>('ed25519', 'p256'),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.option(fc.nat({ max: 64 * 8 + 32 * 8 - 1 }), { nil: undefined }),
        async (alg, digest, bit) => {
          const key = generateSigningKey(alg);
          let sig = signDigest(alg, key.privateKey, digest);
          let d: Uint8Array = digest;
          if (bit !== undefined) {
            if (bit < 512) sig = flipped(sig, bit);
            else d = flipped(digest, bit - 512);
          }
          const want = await coreVerifier.verify(alg, key.publicKey, d, sig);
          expect(want).toBe(bit === undefined);
          expect(await inline.verify(alg, key.publicKey, d, sig)).toBe(want);
          expect(await pool.verify(alg, key.publicKey, d, sig)).toBe(want);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the one known difference goes one way: a small-order R is refused by node:crypto, accepted by the core', async () => {
    for (const c of torsionCases()) {
      expect(await coreVerifier.verify(c.alg, c.publicKey, c.digest, c.sig), c.name).toBe(true);
      expect(await inline.verify(c.alg, c.publicKey, c.digest, c.sig), c.name).toBe(false);
      expect(await pool.verify(c.alg, c.publicKey, c.digest, c.sig), c.name).toBe(false);
    }
  });

  it('inputs of the wrong shape are false, not errors', async () => {
    const key = generateSigningKey('ed25519');
    const d = new Uint8Array(32);
    const sig = signDigest('ed25519', key.privateKey, d);
    for (const v of [coreVerifier, inline, pool]) {
      expect(await v.verify('ed25519', key.publicKey.subarray(1), d, sig)).toBe(false);
      expect(await v.verify('ed25519', key.publicKey, d.subarray(1), sig)).toBe(false);
      expect(await v.verify('ed25519', key.publicKey, d, sig.subarray(1))).toBe(false);
      expect(await v.verify('p256', key.publicKey, d, sig)).toBe(false);
    }
  });

  it('thousands of requests in one turn come back in order', async () => {
    const key = generateSigningKey('ed25519');
    // Signed by node:crypto for speed (Ed25519 signatures are deterministic: the same bytes noble makes).
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), key.privateKey]);
    const sk = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    const items = Array.from({ length: 3000 }, (_, i) => {
      const d = new Uint8Array(randomBytes(32));
      const sig = new Uint8Array(sign(null, d, sk));
      return { d, sig: i % 7 === 3 ? flipped(sig, i % 512) : sig, ok: i % 7 !== 3 };
    });
    expect(items[0]?.sig).toEqual(signDigest('ed25519', key.privateKey, items[0]?.d as Uint8Array));
    const wide = createVerifierPool({ threads: 2 });
    try {
      const got = await Promise.all(items.map((x) => wide.verify('ed25519', key.publicKey, x.d, x.sig)));
      expect(got).toEqual(items.map((x) => x.ok));
    } finally {
      await wide.close();
    }
  });
});

describe('the verifier pool', () => {
  it('splits a busy turn into a few messages per thread, so answers flow back while the rest are checked', () => {
    // A broker turn with 4 devices' windows of 100 in flight: 4 messages on one thread, 8 over two.
    expect(chunkSize(400, 1, 512)).toBe(100);
    expect(chunkSize(400, 2, 512)).toBe(50);
    // Never so small that the message costs more than the checks, never above maxBatch.
    expect(chunkSize(10, 1, 512)).toBe(16);
    expect(chunkSize(100_000, 2, 512)).toBe(512);
    expect(chunkSize(400, 2, 7)).toBe(7);
  });

  it('answers what was queued before close, then refuses with a named error', async () => {
    const pool = createVerifierPool({ threads: 1 });
    const key = generateSigningKey('p256');
    const d = new Uint8Array(32).fill(7);
    const sig = signDigest('p256', key.privateKey, d);
    const before = pool.verify('p256', key.publicKey, d, sig);
    await pool.close();
    expect(await before).toBe(true);
    await expect(pool.verify('p256', key.publicKey, d, sig)).rejects.toBeInstanceOf(SignatureVerifierError);
  });

  it('needs at least one thread', () => {
    expect(() => createVerifierPool({ threads: 0 })).toThrow(RangeError);
  });
  it('keeps the process alive while it owes answers, and lets it exit when idle', () => {
    // A script whose only pending work is the pool's answer: it must print it, then exit by itself.
    const script = `
      import { generateSigningKey, signDigest } from './lib/core/device-signature.ts';
      import { createVerifierPool } from './lib/ingest/signature-verifier.ts';
      const pool = createVerifierPool({ threads: 1 });
      const key = generateSigningKey('ed25519');
      const d = new Uint8Array(32);
      console.log(await pool.verify('ed25519', key.publicKey, d, signDigest('ed25519', key.privateKey, d)));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..', '..'),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect([r.status, r.stdout]).toEqual([0, 'true\n']);
  });
});
