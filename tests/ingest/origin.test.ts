/**
 * Ingest against device keys (docs/device-keys.md, docs/topics.md): signed records, heads and rotations over
 * the real local adapters, the real key-state cache and the real worker-thread verifier. Every refusal must
 * leave a dead letter with its code and nothing stored or queued.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { signHead } from '../../lib/core/device-head.js';
import {
  generateSigningKey,
  type SigAlg,
  type SigningKey,
  signerOf,
} from '../../lib/core/device-signature.js';
import { encodeKeyEvent, signRotation } from '../../lib/core/key-event.js';
import { leafHashOf } from '../../lib/core/leaf.js';
import { registerKey, revokeKey } from '../../lib/devices/device-keys.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import { DeviceGate } from '../../lib/ingest/device-gate.js';
import { DeviceKeyCache } from '../../lib/ingest/device-key-cache.js';
import { type DeviceMessageDeps, handleDeviceMessage } from '../../lib/ingest/device-message.js';
import { createVerifierPool, type SignatureVerifier } from '../../lib/ingest/signature-verifier.js';
import { flipByte } from '../support/bytes.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { listObjectKeys } from '../support/object-db.js';
import { TestDevice, testClock } from '../support/test-device.js';

const MAX_SKEW = 60_000;

let verifier: SignatureVerifier;
beforeAll(() => {
  verifier = createVerifierPool({ threads: 1 });
});
afterAll(async () => {
  await verifier.close();
});

describe('ingest with device keys', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let cache: DeviceKeyCache;
  let deps: DeviceMessageDeps;
  let key: SigningKey;
  let dev: TestDevice;

  const keyDeps = () => ({ devices: deps.devices, statements: stack.statements, clock: clock.now });

  async function provision(deviceId: string, signingKey?: SigningKey, allowUnsigned?: boolean) {
    return provisionDevice(
      { ...keyDeps(), vault: stack.vault },
      {
        deviceId,
        masterKey: toBase64(new Uint8Array(32).fill(3)),
        actor: 'test',
        ...(signingKey ? { signingKey: { alg: signingKey.alg, publicKey: signingKey.publicKey } } : {}),
        ...(allowUnsigned === undefined ? {} : { allowUnsigned }),
      },
    );
  }

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    // As the embedded runtime wires it: cached until a key change through `devices` invalidates it.
    cache = new DeviceKeyCache(stack.index, { maxAgeMs: Number.POSITIVE_INFINITY, clock: clock.now });
    deps = {
      objects: stack.objects,
      index: stack.index,
      devices: cache.watch(stack.index),
      statements: stack.statements,
      origin: { keys: cache, verifier, gate: new DeviceGate(clock.now) },
      clock: clock.now,
      limits: { maxClockSkewMs: MAX_SKEW, maxPacketBytes: 512 * 1024, uploadTtlSeconds: 300 },
    };
    key = generateSigningKey('ed25519');
    await provision('dev-s', key);
    dev = new TestDevice('dev-s', undefined, signerOf(key));
  });
  afterEach(async () => {
    await stack.close();
  });

  const publish = (topic: string, payload: Uint8Array) => handleDeviceMessage(deps, { topic, payload });
  const publishRecord = (payload: Uint8Array, deviceId = 'dev-s') =>
    publish(`devices/${deviceId}/records`, payload);
  const deadLetterCodes = async () =>
    (await stack.index.listDeadLetters({ limit: 100 })).items.map((d) => d.code);

  /** A refusal left exactly these dead letters, and no record of the device. */
  async function expectNothingStored(codes: string[]) {
    expect(await deadLetterCodes()).toEqual(codes);
    expect(await stack.index.maxSeq('dev-s')).toBeUndefined();
    expect(listObjectKeys(stack.objectsDb)).toEqual([]);
  }

  describe('records', () => {
    it('stores a v2 record signed by the device key', async () => {
      const r = dev.seal();
      const res = await publishRecord(r.envelope);
      expect(res.outcome).toEqual({ status: 'stored', recordId: 'dev-s.0', seq: 0 });
      expect(res.replies).toEqual([
        { kind: 'ack', deviceId: 'dev-s', entry: { seq: 0, status: 'stored', recordId: 'dev-s.0' } },
      ]);
      expect((await stack.index.getRecord('dev-s', 0))?.recordHash).toBe(toHex(r.recordHash));
      expect(await deadLetterCodes()).toEqual([]);
    });

    it('stores a v2 record signed with a P-256 key', async () => {
      const p = generateSigningKey('p256');
      await provision('dev-p', p);
      const r = new TestDevice('dev-p', undefined, signerOf(p)).seal();
      expect((await publishRecord(r.envelope, 'dev-p')).outcome).toMatchObject({ status: 'stored' });
    });

    it('refuses a bad signature: signature-invalid, dead-lettered, nothing stored', async () => {
      const r = dev.seal();
      // The last byte of the header is the last byte of the signature.
      const bad = flipByte(r.envelope, r.headerBytes.length - 1);
      const res = await publishRecord(bad);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'signature-invalid', seq: 0 });
      expect(res.replies[0]).toMatchObject({
        kind: 'ack',
        entry: { status: 'rejected', code: 'signature-invalid' },
      });
      await expectNothingStored(['signature-invalid']);
    });

    it('refuses a key the device does not have: key-unknown', async () => {
      const r = dev.seal({ signer: signerOf(generateSigningKey('ed25519')) });
      expect((await publishRecord(r.envelope)).outcome).toMatchObject({ code: 'key-unknown' });
      await expectNothingStored(['key-unknown']);
    });

    it('refuses an unsigned record from a device that must sign: unsigned-not-allowed', async () => {
      const r = dev.seal({ signer: null });
      expect((await publishRecord(r.envelope)).outcome).toMatchObject({ code: 'unsigned-not-allowed' });
      await expectNothingStored(['unsigned-not-allowed']);
    });

    it('accepts an unsigned record from a device allowed to send them', async () => {
      await provision('dev-legacy');
      const r = new TestDevice('dev-legacy').seal();
      expect((await publishRecord(r.envelope, 'dev-legacy')).outcome).toMatchObject({ status: 'stored' });
    });

    it('refuses a record of a device nobody provisioned: device-unknown', async () => {
      const r = new TestDevice('dev-nobody').seal();
      expect((await publishRecord(r.envelope, 'dev-nobody')).outcome).toMatchObject({
        code: 'device-unknown',
      });
    });

    it('a revocation holds from the next record on, though the key state was cached', async () => {
      expect((await publishRecord(dev.seal().envelope)).outcome).toMatchObject({ status: 'stored' });
      await revokeKey(keyDeps(), {
        deviceId: 'dev-s',
        keyId: toHex(key.keyId),
        code: 'compromised',
        reason: 'lost',
        actor: 'op',
      });
      const r = dev.seal();
      const res = await publishRecord(r.envelope);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'key-revoked', seq: 1 });
      expect(await deadLetterCodes()).toEqual(['key-revoked']);
      expect(await stack.index.maxSeq('dev-s')).toBe(0);
    });

    it('a revocation that lands while the signature is being checked still refuses the record', async () => {
      const slow: SignatureVerifier = {
        kind: 'core',
        close: async () => undefined,
        verify: async (...args) => {
          // The operator revokes the key after ingest read the key state, before the record is stored.
          await revokeKey(keyDeps(), {
            deviceId: 'dev-s',
            keyId: toHex(key.keyId),
            code: 'compromised',
            reason: 'lost',
            actor: 'op',
          });
          return verifier.verify(...args);
        },
      };
      deps = { ...deps, origin: { keys: cache, verifier: slow, gate: new DeviceGate(clock.now) } };
      const res = await publishRecord(dev.seal().envelope);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'key-revoked' });
      await expectNothingStored(['key-revoked']);
    });

    it('a stored record sent again after its key was revoked is a duplicate, not a refusal', async () => {
      const r = dev.seal();
      await publishRecord(r.envelope);
      await revokeKey(keyDeps(), {
        deviceId: 'dev-s',
        keyId: toHex(key.keyId),
        code: 'retired',
        reason: 'replaced',
        actor: 'op',
      });
      expect((await publishRecord(r.envelope)).outcome).toEqual({
        status: 'duplicate',
        recordId: 'dev-s.0',
        seq: 0,
      });
    });

    it('a cached state older than a key registered elsewhere does not refuse the new key', async () => {
      // Another process (a second Lambda instance) registers a key: this cache is not told.
      expect((await publishRecord(dev.seal().envelope)).outcome).toMatchObject({ status: 'stored' });
      const other = generateSigningKey('p256');
      await registerKey(
        { devices: stack.index, statements: stack.statements, clock: clock.now },
        { deviceId: 'dev-s', alg: 'p256', publicKey: other.publicKey, actor: 'op', reason: 'second key' },
      );
      const r = dev.seal({ signer: signerOf(other) });
      expect((await publishRecord(r.envelope)).outcome).toMatchObject({ status: 'stored', seq: 1 });
    });

    it('a bad signature on a seq that is taken reads signature-invalid, not sequence-replayed', async () => {
      await publishRecord(dev.seal().envelope);
      const forged = dev.seal({ seq: 0, signer: signerOf(generateSigningKey('ed25519')) });
      expect((await publishRecord(forged.envelope)).outcome).toMatchObject({ code: 'key-unknown' });
      const twin = dev.seal({ seq: 0 });
      expect((await publishRecord(twin.envelope)).outcome).toMatchObject({ code: 'sequence-replayed' });
    });
  });

  describe('heads', () => {
    const head = (
      count: number,
      lastHash: Uint8Array,
      opts: { signer?: SigningKey; time?: number; deviceId?: string } = {},
    ) =>
      signHead(
        { deviceId: opts.deviceId ?? 'dev-s', count, lastHash, time: opts.time ?? clock.now() - 1000 },
        signerOf(opts.signer ?? key),
      ).bytes;
    const publishHead = (bytes: Uint8Array, deviceId = 'dev-s') =>
      publish(`devices/${deviceId}/heads`, bytes);

    it('stores a signed head for anchoring and acks it by leaf hash and count', async () => {
      const r = dev.seal();
      const bytes = head(1, r.recordHash);
      const leafHash = toHex(leafHashOf(bytes));
      const res = await publishHead(bytes);
      expect(res.outcome).toEqual({ status: 'stored', kind: 'head', statementId: `dev-s:${leafHash}` });
      expect(res.replies).toEqual([
        { kind: 'ack', deviceId: 'dev-s', entry: { kind: 'head', leafHash, count: 1, status: 'stored' } },
      ]);
      const stored = await stack.statements.getStatement('dev-s', leafHash);
      expect(stored).toMatchObject({ kind: 'head', leaf: toBase64(bytes), head: { count: 1 } });
      expect(stored?.batch).toBeUndefined();
      expect(await stack.statements.countPending()).toBe(2); // the register event and the head
    });

    it('a head sent again is a duplicate, even after its key was revoked', async () => {
      const bytes = head(0, new Uint8Array(32));
      await publishHead(bytes);
      await revokeKey(keyDeps(), {
        deviceId: 'dev-s',
        keyId: toHex(key.keyId),
        code: 'retired',
        reason: 'done',
        actor: 'op',
      });
      expect((await publishHead(bytes)).replies[0]).toMatchObject({
        entry: { kind: 'head', status: 'duplicate' },
      });
      expect(
        (await publishHead(head(0, new Uint8Array(32), { time: clock.now() - 5 }))).replies[0],
      ).toMatchObject({
        entry: { kind: 'head', status: 'rejected', code: 'key-revoked' },
      });
    });

    const refusals: [string, () => Uint8Array, string, string?][] = [
      ['a bad signature', () => flipByte(head(0, new Uint8Array(32)), 100), 'signature-invalid'],
      [
        'an unknown key',
        () => head(0, new Uint8Array(32), { signer: generateSigningKey('ed25519') }),
        'key-unknown',
      ],
      [
        'a device clock too far ahead',
        () => head(0, new Uint8Array(32), { time: clock.now() + MAX_SKEW + 1 }),
        'timestamp-in-future',
      ],
      [
        'another device in the head',
        () => head(0, new Uint8Array(32), { deviceId: 'dev-x' }),
        'device-mismatch',
      ],
      ['bytes that are no head', () => new Uint8Array([1, 2, 3]), 'head-truncated'],
      ['more than 4096 bytes', () => new Uint8Array(4097), 'payload-too-large'],
    ];
    for (const [name, bytes, code] of refusals) {
      it(`refuses ${name}: ${code}, acked by leaf hash, dead-lettered, nothing stored`, async () => {
        const b = bytes();
        const res = await publishHead(b);
        expect(res.replies).toEqual([
          {
            kind: 'ack',
            deviceId: 'dev-s',
            entry: expect.objectContaining({
              kind: 'head',
              leafHash: toHex(leafHashOf(b)),
              status: 'rejected',
              code,
            }),
          },
        ]);
        expect(await deadLetterCodes()).toEqual([code]);
        expect(await stack.statements.countPending()).toBe(1); // only the register event
      });
    }
  });

  describe('key rotations', () => {
    const rotation = (to: SigningKey, from: SigningKey = key, time = clock.now() - 1000) =>
      signRotation({ deviceId: 'dev-s', time, oldKey: signerOf(from), newKey: signerOf(to) });
    const publishKeys = (bytes: Uint8Array) => publish('devices/dev-s/keys', bytes);

    for (const alg of ['ed25519', 'p256'] as SigAlg[]) {
      it(`rotates to a new ${alg} key: old key refused from then on, new key accepted`, async () => {
        expect((await publishRecord(dev.seal().envelope)).outcome).toMatchObject({ status: 'stored' });
        const next = generateSigningKey(alg);
        const bytes = rotation(next);
        const res = await publishKeys(bytes);
        const leafHash = toHex(leafHashOf(bytes));
        expect(res.replies).toEqual([
          {
            kind: 'ack',
            deviceId: 'dev-s',
            entry: { kind: 'key', leafHash, keyId: toHex(next.keyId), status: 'stored' },
          },
        ]);
        expect((await stack.statements.getStatement('dev-s', leafHash))?.keyEvent).toEqual({
          type: 'rotate',
          keyId: toHex(next.keyId),
        });
        // The old key's state was cached by the first record; the rotation dropped it.
        expect((await publishRecord(dev.seal().envelope)).outcome).toMatchObject({
          code: 'key-revoked',
          seq: 1,
        });
        dev.signer = signerOf(next);
        expect((await publishRecord(dev.seal({ seq: 1 }).envelope)).outcome).toMatchObject({
          status: 'stored',
        });
        // A redelivery of the rotation (a moment later) is a duplicate.
        clock.advance(10);
        expect((await publishKeys(bytes)).replies[0]).toMatchObject({
          entry: { kind: 'key', status: 'duplicate' },
        });
      });
    }

    it('records racing a rotation are either accepted before it or refused, never ordered after it', async () => {
      // The backend clock stands still, so only the acceptance times the gate hands out can order them.
      const next = generateSigningKey('ed25519');
      const records = Array.from({ length: 20 }, () => dev.seal());
      const bytes = rotation(next);
      const outcomes = await Promise.all([
        ...records.slice(0, 10).map((r) => publishRecord(r.envelope)),
        publishKeys(bytes),
        ...records.slice(10).map((r) => publishRecord(r.envelope)),
      ]);
      expect(outcomes[10]?.replies[0]).toMatchObject({ entry: { kind: 'key', status: 'stored' } });
      const rotatedAt =
        (await stack.statements.getStatement('dev-s', toHex(leafHashOf(bytes))))?.receivedAt ?? 0;
      let stored = 0;
      for (const r of records) {
        const entry = await stack.index.getRecord('dev-s', r.seq);
        if (entry) {
          stored++;
          expect(entry.receivedAt, `record ${r.seq}`).toBeLessThan(rotatedAt);
        }
      }
      // Those not stored were refused for the reason the log gives them.
      expect(await deadLetterCodes()).toEqual(Array(20 - stored).fill('key-revoked'));
      expect(stored).toBeGreaterThan(0);
    });

    it('refuses a rotation not signed by the old key', async () => {
      const next = generateSigningKey('ed25519');
      const bytes = rotation(next, generateSigningKey('ed25519'));
      expect((await publishKeys(bytes)).replies[0]).toMatchObject({
        entry: { kind: 'key', status: 'rejected', code: 'key-unknown', keyId: toHex(next.keyId) },
      });
      // The old key id is the device's, the old signature is not.
      const forged = rotation(next);
      const tampered = forged.slice();
      tampered[tampered.length - 70] = (tampered[tampered.length - 70] as number) ^ 1;
      expect((await publishKeys(tampered)).replies[0]).toMatchObject({
        entry: { status: 'rejected', code: 'signature-invalid' },
      });
      expect((await deadLetterCodes()).sort()).toEqual(['key-unknown', 'signature-invalid']);
      expect((await publishRecord(dev.seal().envelope)).outcome).toMatchObject({ status: 'stored' });
    });

    it('refuses a register event published by a device: not-a-rotation', async () => {
      const bytes = encodeKeyEvent({
        type: 'register',
        deviceId: 'dev-s',
        time: clock.now(),
        alg: 'ed25519',
        publicKey: generateSigningKey('ed25519').publicKey,
      });
      expect((await publishKeys(bytes)).replies[0]).toMatchObject({
        entry: { kind: 'key', status: 'rejected', code: 'not-a-rotation' },
      });
      expect(await deadLetterCodes()).toEqual(['not-a-rotation']);
    });
  });
});
