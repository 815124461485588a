/**
 * Proof bundle v2 as the server assembles it (lib/verify/record-proof.ts) for signed records, over the real
 * local adapters, judged offline by `checkProofBundle`: the origin carries the key events that tie the
 * signing key to the device (register, rotations, retirements), each with its own inclusion and anchors.
 * Covered: a record signed by the registered key, by a rotated-to key, a record signed before its key was
 * revoked, a record "signed" with a key after its revocation (stored behind ingest's back), a key event not
 * anchored yet, an unsigned record, and the server's own verdict.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { fromBase64, toHex } from '../../lib/core/bytes.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import { sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { parseKeyEvent, signRotation } from '../../lib/core/key-event.js';
import {
  checkProofBundle,
  type ProofBundleV2,
  ProofBundleV2 as Schema,
} from '../../lib/core/proof-bundle.js';
import { deriveRecordKey } from '../../lib/core/record-key.js';
import { acceptRotation, revokeKey } from '../../lib/devices/device-keys.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import { ingestEnvelope, storeEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { buildProofBundle, type VerifyDeps, verifyRecord } from '../../lib/verify/record-proof.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

const DEVICE = 'dev-o';

describe('proof bundle v2: origin', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let first: SigningKey;
  const master = new Uint8Array(randomBytes(32));
  let prevHash: Uint8Array;
  let nextSeq: number;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    first = generateSigningKey('ed25519');
    prevHash = ZERO_HASH;
    nextSeq = 0;
    await provisionDevice(
      { devices: stack.index, statements: stack.statements, vault: stack.vault, clock: clock.now },
      {
        deviceId: DEVICE,
        masterKey: Buffer.from(master).toString('base64'),
        actor: 'op',
        signingKey: { alg: 'ed25519', publicKey: first.publicKey },
      },
    );
    clock.advance(10);
  });
  afterEach(async () => {
    await stack.close();
  });

  const deps = (): VerifyDeps => ({
    index: stack.index,
    statements: stack.statements,
    objects: stack.objects,
    chains: new Map([[stack.ledger.chainId, stack.ledger]]),
    clock: clock.now,
    requiredConfirmations: () => 1,
  });
  /**
   * Stores the next record, signed by `key` (unsigned without one), the way ingest stores it; `behindIngest`:
   * the way an operator with write access to the stores could, past ingest's checks.
   */
  async function record(key?: SigningKey, behindIngest = false): Promise<string> {
    const seq = nextSeq++;
    const timestamp = 1_700_000_000_000 + seq;
    const sealed = sealRecord({
      recordKey: deriveRecordKey(master, DEVICE, timestamp, seq),
      deviceId: DEVICE,
      seq,
      timestamp,
      prevHash,
      nonce: new Uint8Array(randomBytes(12)),
      plaintext: new TextEncoder().encode(`r${seq}`),
      ...(key ? { signer: signerOf(key) } : {}),
    });
    prevHash = sealed.recordHash;
    const out = behindIngest
      ? await storeEnvelope(stack, { bytes: sealed.envelope, via: 'inline', receivedAt: clock.now() })
      : await ingestEnvelope(
          {
            objects: stack.objects,
            index: stack.index,
            clock: clock.now,
            limits: { maxClockSkewMs: 60_000 },
            origin: testOrigin(stack.index),
          },
          { deviceId: DEVICE, bytes: sealed.envelope, via: 'inline' },
        );
    expect(out.status).toBe('stored');
    clock.advance(1);
    return `${DEVICE}.${seq}`;
  }
  const anchor = async () => {
    await anchorPending({
      index: stack.index,
      statements: stack.statements,
      objects: stack.objects,
      chains: [stack.ledger],
      clock: clock.now,
      maxBatchSize: 1000,
    });
    clock.advance(1000);
  };
  /** The bundle as an auditor gets it: compact JSON from the API, parsed back. */
  const bundleOf = async (id: string): Promise<ProofBundleV2> =>
    Schema.parse(JSON.parse(JSON.stringify(await buildProofBundle(deps(), id))));
  const ledgerKey = async () => (await stack.ledger.describe()).publicKey;
  const judge = async (b: ProofBundleV2, pins: SigningKey[] = []) =>
    checkProofBundle(b, {
      trustedLedgerKeys: [await ledgerKey()],
      trustedDeviceKeys: pins.map((k) => ({ deviceId: DEVICE, keyId: toHex(k.keyId) })),
    });
  const eventTypes = (b: ProofBundleV2) =>
    (b.origin?.keyEvents ?? []).map((e) => {
      const p = parseKeyEvent(fromBase64(e.leaf) as Uint8Array);
      return p.ok ? p.event.type : 'unparsable';
    });

  it('a record signed by the registered key: origin proven with the key pinned, unpinned without', async () => {
    const id = await record(first);
    await anchor();
    const b = await bundleOf(id);
    expect(b.format).toBe('iot-notary.proof.v2');
    expect(eventTypes(b)).toEqual(['register']);
    expect(b.origin?.keyEvents[0]?.inclusion).toBeDefined();
    expect(b.origin?.keyEvents[0]?.anchors).toHaveLength(1);
    const pinned = await judge(b, [first]);
    expect(pinned.status).toBe('verified');
    expect(pinned.proven.origin).toMatchObject({ verdict: 'proven', keyId: toHex(first.keyId) });
    expect(pinned.proven.integrity).toBe('proven');
    expect(pinned.proven.existence.verdict).toBe('proven');
    const unpinned = await judge(b);
    expect(unpinned.proven.origin.verdict).toBe('unpinned');
    // Pinning some other key of the device proves nothing.
    expect((await judge(b, [generateSigningKey('ed25519')])).proven.origin.verdict).toBe('not-proven');
  });

  it('after a rotation: the chain register -> rotate reaches the pinned first key', async () => {
    await record(first);
    const second = generateSigningKey('p256');
    const rotation = signRotation({
      deviceId: DEVICE,
      time: clock.now() - 5,
      oldKey: signerOf(first),
      newKey: signerOf(second),
    });
    expect(
      (
        await acceptRotation(
          { devices: stack.index, statements: stack.statements, clock: clock.now, maxClockSkewMs: 60_000 },
          { deviceId: DEVICE, bytes: rotation },
        )
      ).status,
    ).toBe('stored');
    clock.advance(1);
    const id = await record(second);
    await anchor();
    const b = await bundleOf(id);
    expect(eventTypes(b)).toEqual(['register', 'rotate']);
    expect((await judge(b, [first])).proven.origin.verdict).toBe('proven');
    expect((await judge(b, [second])).proven.origin.verdict).toBe('proven');
    // The record signed by the first key, before the rotation, still proves: the rotation came after it.
    const old = await bundleOf(`${DEVICE}.0`);
    expect(eventTypes(old)).toEqual(['register', 'rotate']);
    expect((await judge(old, [first])).proven.origin.verdict).toBe('proven');
  });

  it('a revocation: records signed before it stay proven; one signed after it is invalid', async () => {
    const before = await record(first);
    await anchor();
    await revokeKey(
      { devices: stack.index, statements: stack.statements, clock: clock.now },
      { deviceId: DEVICE, keyId: toHex(first.keyId), code: 'compromised', reason: 'stolen', actor: 'op' },
    );
    await anchor();
    // What a thief with the key and write access to the store could do: a record signed after revocation,
    // stored and anchored behind ingest's back (ingest itself refuses it: key-revoked).
    const after = await record(first, true);
    await anchor();
    const good = await bundleOf(before);
    expect(eventTypes(good)).toEqual(['register', 'revoke']);
    expect((await judge(good, [first])).proven.origin.verdict).toBe('proven');
    const forged = await judge(await bundleOf(after), [first]);
    expect(forged.proven.origin.verdict).toBe('invalid');
    expect(forged.proven.origin.reasons.map((r) => r.code)).toContain('key-revoked');
    expect(forged.status).toBe('tampered');
  });

  it('a key event not anchored yet: carried without inclusion, origin not proven until it is', async () => {
    // The register event of a second device key is queued; a record signed by it right away.
    const second = generateSigningKey('ed25519');
    await anchor();
    await provisionDevice(
      { devices: stack.index, statements: stack.statements, vault: stack.vault, clock: clock.now },
      {
        deviceId: 'dev-q',
        masterKey: new TestDevice('dev-q').masterKeyBase64,
        actor: 'op',
        signingKey: { alg: 'ed25519', publicKey: second.publicKey },
      },
    );
    const id = await record(first);
    const b = await bundleOf(id);
    // The record itself is not anchored either; its key's register event is.
    expect(b.inclusion).toBeUndefined();
    expect(b.origin?.keyEvents[0]?.inclusion).toBeDefined();
    await anchor();
    expect((await judge(await bundleOf(id), [first])).proven.origin.verdict).toBe('proven');
  });

  it('an unsigned record: a v2 bundle without origin, origin not proven', async () => {
    // This device must sign (ingest refuses its unsigned records: unsigned-not-allowed); stored past ingest.
    const id = await record(undefined, true);
    await anchor();
    const b = await bundleOf(id);
    expect(b.origin).toBeUndefined();
    const c = await judge(b, [first]);
    expect(c.status).toBe('verified');
    expect(c.proven.origin).toMatchObject({ verdict: 'not-proven', reasons: [{ code: 'unsigned-record' }] });
  });

  it('the server verdict checks live and pins its own ledger, and no device key', async () => {
    const id = await record(first);
    await anchor();
    const report = await verifyRecord(deps(), id);
    expect(report.status).toBe('verified');
    expect(report.checks.anchors[0]).toMatchObject({ status: 'ok', trust: 'live' });
    expect(report.checks.keyEvents?.[0]).toMatchObject({ leaf: 'ok', type: 'register', inclusion: 'ok' });
    expect(report.proven.origin.verdict).toBe('unpinned');
  });
});
