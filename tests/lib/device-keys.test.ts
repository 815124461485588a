/**
 * Device signing keys (lib/devices/device-keys.ts) over the real local adapters: operator registration and
 * revocation, provisioning with a key, the device's rotations and heads as ingest hands them over, and the
 * key state ingest checks. Keys are real Ed25519 / P-256 keys made by lib/core.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../lib/core/bytes.js';
import { signHead } from '../../lib/core/device-head.js';
import {
  generateSigningKey,
  type SigAlg,
  type SigningKey,
  signerOf,
} from '../../lib/core/device-signature.js';
import { NotaryError } from '../../lib/core/errors.js';
import { parseKeyEvent, signRotation } from '../../lib/core/key-event.js';
import { leafHashOf } from '../../lib/core/leaf.js';
import {
  acceptHead,
  acceptRotation,
  type DeviceStatementDeps,
  describeDeviceKeys,
  keyForSignature,
  registerKey,
  revokeKey,
  setAllowUnsigned,
  signerCheck,
} from '../../lib/devices/device-keys.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import type { StatementEntry, StatementStore } from '../../lib/ports.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { TestDevice, testClock } from '../support/test-device.js';

describe('device keys', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let deps: DeviceStatementDeps;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    deps = { devices: stack.index, statements: stack.statements, clock: clock.now, maxClockSkewMs: 60_000 };
  });
  afterEach(async () => {
    await stack.close();
  });

  /** Provisions `deviceId`, with `key` registered when given. */
  async function provision(deviceId: string, key?: SigningKey) {
    const d = new TestDevice(deviceId);
    return provisionDevice(
      { ...deps, vault: stack.vault },
      {
        deviceId,
        masterKey: d.masterKeyBase64,
        actor: 'op',
        ...(key ? { signingKey: { alg: key.alg, publicKey: key.publicKey } } : {}),
      },
    );
  }
  const device = async (id: string) => {
    const d = await stack.index.getDevice(id);
    if (!d) throw new Error(`no device ${id}`);
    return d;
  };
  const keyEvents = async (id: string) => (await stack.statements.listKeyEvents(id, { limit: 100 })).items;
  const rejects = async (p: Promise<unknown>, code: string) => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(NotaryError);
    expect((e as NotaryError).code).toBe(code);
  };
  const rotation = (deviceId: string, from: SigningKey, to: SigningKey, time = clock.now()) =>
    signRotation({ deviceId, time, oldKey: signerOf(from), newKey: signerOf(to) });

  describe('provisioning with a signing key', () => {
    for (const alg of ['ed25519', 'p256'] as SigAlg[]) {
      it(`${alg}: the key is active, its register event queued, unsigned envelopes refused by default`, async () => {
        const key = generateSigningKey(alg);
        const out = await provision('dev-p', key);
        const keyId = toHex(key.keyId);
        expect(out.allowUnsigned).toBe(false);
        expect(out.signingKey).toMatchObject({ keyId, alg });
        const d = await device('dev-p');
        expect(d.allowUnsigned).toBe(false);
        expect(d.keys).toEqual([
          {
            keyId,
            alg,
            publicKey: toBase64(key.publicKey),
            status: 'active',
            registeredBy: { statementId: out.signingKey?.registeredBy, type: 'register', at: clock.now() },
          },
        ]);
        const [event] = await keyEvents('dev-p');
        expect(event).toMatchObject({
          statementId: out.signingKey?.registeredBy,
          kind: 'key-event',
          keyEvent: { type: 'register', keyId },
          receivedAt: clock.now(),
        });
        expect(event?.batch).toBeUndefined();
        const parsed = parseKeyEvent(fromBase64(event?.leaf ?? '') as Uint8Array);
        expect(parsed.ok && parsed.event).toMatchObject({
          type: 'register',
          deviceId: 'dev-p',
          time: clock.now(),
        });
        expect(event?.leafHash).toBe(toHex(leafHashOf(fromBase64(event?.leaf ?? '') as Uint8Array)));
        expect(await stack.statements.countPending()).toBe(1);
        const actions = (await stack.index.listAudit({ limit: 10 })).items.map((a) => a.action).sort();
        expect(actions).toEqual(['device-key-registered', 'device-provisioned']);
      });
    }

    it('an uncompressed P-256 key is stored compressed, under the id of the compressed form', async () => {
      const key = generateSigningKey('p256');
      const { p256 } = await import('@noble/curves/nist.js');
      const uncompressed = p256.Point.fromBytes(key.publicKey).toBytes(false);
      expect(uncompressed.length).toBe(65);
      await provisionDevice(
        { ...deps, vault: stack.vault },
        {
          deviceId: 'dev-u',
          masterKey: new TestDevice('dev-u').masterKeyBase64,
          actor: 'op',
          signingKey: { alg: 'p256', publicKey: uncompressed },
        },
      );
      expect((await device('dev-u')).keys[0]).toMatchObject({
        keyId: toHex(key.keyId),
        publicKey: toBase64(key.publicKey),
      });
    });

    it('without a key: no keys, unsigned allowed; a key that is no point is refused before anything is stored', async () => {
      await provision('dev-n');
      expect(await device('dev-n')).toMatchObject({ keys: [], allowUnsigned: true });
      await rejects(
        provisionDevice(
          { ...deps, vault: stack.vault },
          {
            deviceId: 'dev-bad',
            masterKey: new TestDevice('dev-bad').masterKeyBase64,
            actor: 'op',
            signingKey: { alg: 'ed25519', publicKey: new Uint8Array(31) },
          },
        ),
        'bad-request',
      );
      expect(await stack.index.getDevice('dev-bad')).toBeUndefined();
      expect(await stack.statements.countPending()).toBe(0);
    });
  });

  describe('operator registration and revocation', () => {
    it('registerKey adds an active key with its event; the same key again is key-exists, even once revoked', async () => {
      const first = generateSigningKey('ed25519');
      await provision('dev-r', first);
      const second = generateSigningKey('p256');
      clock.advance(10);
      const out = await registerKey(deps, {
        deviceId: 'dev-r',
        alg: 'p256',
        publicKey: second.publicKey,
        actor: 'op',
        reason: 'device lost its key',
      });
      expect(out.key).toMatchObject({ keyId: toHex(second.keyId), status: 'active' });
      expect((await device('dev-r')).keys.map((k) => k.status)).toEqual(['active', 'active']);
      await rejects(
        registerKey(deps, { deviceId: 'dev-r', alg: 'p256', publicKey: second.publicKey, actor: 'op' }),
        'key-exists',
      );
      await revokeKey(deps, {
        deviceId: 'dev-r',
        keyId: toHex(first.keyId),
        code: 'compromised',
        reason: 'leaked',
        actor: 'op',
      });
      await rejects(
        registerKey(deps, { deviceId: 'dev-r', alg: 'ed25519', publicKey: first.publicKey, actor: 'op' }),
        'key-exists',
      );
      await rejects(
        registerKey(deps, { deviceId: 'dev-none', alg: 'ed25519', publicKey: first.publicKey, actor: 'op' }),
        'device-not-found',
      );
      const audit = (await stack.index.listAudit({ limit: 10 })).items;
      expect(
        audit.find((a) => a.action === 'device-key-registered' && a.reason === 'device lost its key'),
      ).toMatchObject({
        target: `dev-r/keys/${toHex(second.keyId)}`,
        actor: 'op',
        outcome: 'succeeded',
      });
    });

    it('a registration that fails after its checks is audited as failed, with the error code', async () => {
      await provision('dev-e', generateSigningKey('ed25519'));
      const broken: StatementStore = Object.create(stack.statements, {
        putStatement: { value: async () => Promise.reject(new Error('disk full')) },
      });
      const key = generateSigningKey('p256');
      await expect(
        registerKey(
          { ...deps, statements: broken },
          { deviceId: 'dev-e', alg: 'p256', publicKey: key.publicKey, actor: 'op', reason: 'new key' },
        ),
      ).rejects.toThrow('disk full');
      expect((await stack.index.listAudit({ limit: 10 })).items).toContainEqual(
        expect.objectContaining({
          action: 'device-key-registered',
          target: `dev-e/keys/${toHex(key.keyId)}`,
          outcome: 'failed',
          error: { code: 'internal', message: 'disk full' },
        }),
      );
      expect((await device('dev-e')).keys).toHaveLength(1);
    });

    it('revokeKey retires the key with a revoke event naming the reason; a second revoke is key-revoked', async () => {
      const key = generateSigningKey('ed25519');
      await provision('dev-v', key);
      const keyId = toHex(key.keyId);
      clock.advance(5);
      const out = await revokeKey(deps, {
        deviceId: 'dev-v',
        keyId,
        code: 'retired',
        reason: 'replaced',
        actor: 'op',
      });
      expect(out.key).toMatchObject({
        status: 'revoked',
        revokedBy: { type: 'revoke', at: clock.now(), reason: 'retired', statementId: out.event.statementId },
      });
      expect(keyStateOfDevice(await device('dev-v'), keyId)).toBe('revoked');
      const events = await keyEvents('dev-v');
      expect(events.map((e) => e.keyEvent?.type)).toEqual(['register', 'revoke']);
      const parsed = parseKeyEvent(fromBase64(events[1]?.leaf ?? '') as Uint8Array);
      expect(parsed.ok && parsed.event).toMatchObject({
        type: 'revoke',
        reason: 'retired',
        time: clock.now(),
      });
      await rejects(
        revokeKey(deps, { deviceId: 'dev-v', keyId, code: 'retired', reason: 'again', actor: 'op' }),
        'key-revoked',
      );
      await rejects(
        revokeKey(deps, {
          deviceId: 'dev-v',
          keyId: 'ab'.repeat(32),
          code: 'retired',
          reason: 'x',
          actor: 'op',
        }),
        'key-not-found',
      );
      expect((await stack.index.listAudit({ limit: 10 })).items).toContainEqual(
        expect.objectContaining({ action: 'device-key-revoked', reason: 'retired: replaced' }),
      );
    });

    it('setAllowUnsigned changes the flag (audited) and keeps the keys', async () => {
      const key = generateSigningKey('ed25519');
      await provision('dev-f', key);
      const d = await setAllowUnsigned(deps, { deviceId: 'dev-f', allowUnsigned: true, actor: 'op' });
      expect(d.allowUnsigned).toBe(true);
      expect((await device('dev-f')).keys).toHaveLength(1);
      expect((await stack.index.listAudit({ limit: 10 })).items).toContainEqual(
        expect.objectContaining({ action: 'device-updated', target: 'dev-f', reason: 'allowUnsigned=true' }),
      );
      await rejects(
        setAllowUnsigned(deps, { deviceId: 'nope', allowUnsigned: true, actor: 'op' }),
        'device-not-found',
      );
    });

    it('describeDeviceKeys lists keys and events with their anchoring state', async () => {
      const key = generateSigningKey('ed25519');
      await provision('dev-d', key);
      const view = await describeDeviceKeys(
        { devices: stack.index, statements: stack.statements, batches: stack.index },
        'dev-d',
      );
      expect(view).toMatchObject({ deviceId: 'dev-d', allowUnsigned: false, keys: [{ status: 'active' }] });
      expect(view.keyEvents).toEqual([
        expect.objectContaining({ type: 'register', keyId: toHex(key.keyId), anchoring: 'queued' }),
      ]);
      await rejects(
        describeDeviceKeys({ devices: stack.index, statements: stack.statements, batches: stack.index }, 'x'),
        'device-not-found',
      );
    });
  });

  describe('signerCheck (what ingest asks of a record)', () => {
    it('v1 needs allowUnsigned; v2 needs an active key of the device with the named algorithm', async () => {
      const key = generateSigningKey('ed25519');
      await provision('dev-s', key);
      const d = await device('dev-s');
      expect(signerCheck(d, undefined)).toMatchObject({ ok: false, code: 'unsigned-not-allowed' });
      expect(signerCheck({ ...d, allowUnsigned: true }, undefined)).toEqual({ ok: true });
      const ok = signerCheck(d, { alg: 'ed25519', keyId: key.keyId });
      expect(ok.ok && ok.key?.publicKey).toEqual(key.publicKey);
      expect(signerCheck(d, { alg: 'p256', keyId: key.keyId })).toMatchObject({
        ok: false,
        code: 'key-unknown',
      });
      const other = generateSigningKey('ed25519');
      expect(signerCheck(d, { alg: 'ed25519', keyId: other.keyId })).toMatchObject({
        ok: false,
        code: 'key-unknown',
      });
      expect(signerCheck(undefined, undefined)).toMatchObject({ ok: false, code: 'device-unknown' });
      await revokeKey(deps, {
        deviceId: 'dev-s',
        keyId: toHex(key.keyId),
        code: 'compromised',
        reason: 'x',
        actor: 'op',
      });
      expect(signerCheck(await device('dev-s'), { alg: 'ed25519', keyId: key.keyId })).toMatchObject({
        ok: false,
        code: 'key-revoked',
      });
      expect(await keyForSignature(deps, 'dev-s', key.keyId)).toMatchObject({ state: 'revoked' });
      expect(await keyForSignature(deps, 'dev-s', other.keyId)).toEqual({ state: 'unknown' });
      expect(await keyForSignature(deps, 'nobody', other.keyId)).toEqual({ state: 'unknown' });
    });
  });

  describe('acceptRotation', () => {
    for (const [from, to] of [
      ['ed25519', 'p256'],
      ['p256', 'ed25519'],
    ] as [SigAlg, SigAlg][]) {
      it(`${from} -> ${to}: the old key is retired, the new one active, the event stored once`, async () => {
        const oldKey = generateSigningKey(from);
        const newKey = generateSigningKey(to);
        await provision('dev-x', oldKey);
        clock.advance(100);
        const bytes = rotation('dev-x', oldKey, newKey, clock.now() - 50);
        const out = await acceptRotation(deps, { deviceId: 'dev-x', bytes });
        const statementId = `dev-x:${toHex(leafHashOf(bytes))}`;
        expect(out).toEqual({ status: 'stored', statementId });
        const keys = (await device('dev-x')).keys;
        expect(keys).toEqual([
          expect.objectContaining({
            keyId: toHex(oldKey.keyId),
            status: 'revoked',
            revokedBy: { statementId, type: 'rotate', at: clock.now() },
          }),
          expect.objectContaining({
            keyId: toHex(newKey.keyId),
            alg: to,
            status: 'active',
            registeredBy: { statementId, type: 'rotate', at: clock.now() },
          }),
        ]);
        expect((await keyEvents('dev-x')).map((e) => e.keyEvent)).toEqual([
          { type: 'register', keyId: toHex(oldKey.keyId) },
          { type: 'rotate', keyId: toHex(newKey.keyId) },
        ]);
        // A redelivery (the ack was lost) changes nothing.
        clock.advance(1);
        expect(await acceptRotation(deps, { deviceId: 'dev-x', bytes })).toEqual({
          status: 'duplicate',
          statementId,
        });
        expect(await keyEvents('dev-x')).toHaveLength(2);
        // The old key signs nothing any more, the new key does.
        expect(signerCheck(await device('dev-x'), { alg: from, keyId: oldKey.keyId })).toMatchObject({
          code: 'key-revoked',
        });
        expect(signerCheck(await device('dev-x'), { alg: to, keyId: newKey.keyId }).ok).toBe(true);
      });
    }

    it('refuses, storing and changing nothing: bad signatures, unknown or retired old key, reused new key', async () => {
      const oldKey = generateSigningKey('ed25519');
      await provision('dev-y', oldKey);
      const newKey = generateSigningKey('ed25519');
      const stranger = generateSigningKey('ed25519');
      const good = rotation('dev-y', oldKey, newKey);
      const before = await device('dev-y');
      const cases: [Uint8Array, string][] = [
        // The old signature (first of the two at the end) flipped.
        [flip(good, good.length - 100), 'signature-invalid'],
        // The new signature flipped.
        [flip(good, good.length - 1), 'signature-invalid'],
        // Signed by a key the device never had.
        [rotation('dev-y', stranger, newKey), 'key-unknown'],
        // Rotating to the key itself.
        [rotation('dev-y', oldKey, oldKey), 'key-exists'],
        [rotation('dev-z', oldKey, newKey), 'device-mismatch'],
        [rotation('dev-y', oldKey, newKey, clock.now() + 61_000), 'timestamp-in-future'],
        [good.subarray(0, 20), 'key-event-truncated'],
      ];
      for (const [bytes, code] of cases) {
        const out = await acceptRotation(deps, { deviceId: 'dev-y', bytes });
        expect(out, code).toMatchObject({ status: 'rejected', code });
      }
      expect(await device('dev-y')).toEqual(before);
      expect(await keyEvents('dev-y')).toHaveLength(1);
      // A register event is the operator's: a device may not publish one.
      const reg = (await keyEvents('dev-y'))[0] as StatementEntry;
      expect(
        await acceptRotation(deps, { deviceId: 'dev-y', bytes: fromBase64(reg.leaf) as Uint8Array }),
      ).toMatchObject({ code: 'not-a-rotation' });
      // After a rotation the old key cannot rotate again.
      expect((await acceptRotation(deps, { deviceId: 'dev-y', bytes: good })).status).toBe('stored');
      const again = rotation('dev-y', oldKey, generateSigningKey('ed25519'));
      expect(await acceptRotation(deps, { deviceId: 'dev-y', bytes: again })).toMatchObject({
        code: 'key-revoked',
      });
      expect(
        await acceptRotation(deps, { deviceId: 'nobody', bytes: rotation('nobody', oldKey, newKey) }),
      ).toMatchObject({
        code: 'device-unknown',
      });
    });

    it('two rotations away from one key at once: exactly one is applied and only it is stored', async () => {
      const oldKey = generateSigningKey('ed25519');
      await provision('dev-c', oldKey);
      const a = generateSigningKey('ed25519');
      const b = generateSigningKey('p256');
      const outs = await Promise.all([
        acceptRotation(deps, { deviceId: 'dev-c', bytes: rotation('dev-c', oldKey, a) }),
        acceptRotation(deps, { deviceId: 'dev-c', bytes: rotation('dev-c', oldKey, b) }),
      ]);
      expect(outs.map((o) => o.status).sort()).toEqual(['rejected', 'stored']);
      expect(outs.find((o) => o.status === 'rejected')).toMatchObject({ code: 'key-revoked' });
      const active = (await device('dev-c')).keys.filter((k) => k.status === 'active');
      expect(active).toHaveLength(1);
      const rotations = (await keyEvents('dev-c')).filter((e) => e.keyEvent?.type === 'rotate');
      expect(rotations.map((e) => e.keyEvent?.keyId)).toEqual([active[0]?.keyId]);
    });

    it('a crash after the keys changed and before the event was stored: the retry stores it', async () => {
      const oldKey = generateSigningKey('ed25519');
      await provision('dev-k', oldKey);
      clock.advance(10);
      const newKey = generateSigningKey('ed25519');
      const bytes = rotation('dev-k', oldKey, newKey);
      const failing: StatementStore = Object.create(stack.statements, {
        putStatement: { value: async () => Promise.reject(new Error('disk gone')) },
      });
      await expect(
        acceptRotation({ ...deps, statements: failing }, { deviceId: 'dev-k', bytes }),
      ).rejects.toThrow('disk gone');
      expect(signerCheck(await device('dev-k'), { alg: 'ed25519', keyId: newKey.keyId }).ok).toBe(true);
      expect(await keyEvents('dev-k')).toHaveLength(1);
      // The device was not acked, so it sends the rotation again.
      const out = await acceptRotation(deps, { deviceId: 'dev-k', bytes });
      expect(out.status).toBe('stored');
      expect((await keyEvents('dev-k')).map((e) => e.keyEvent?.type)).toEqual(['register', 'rotate']);
    });
  });

  describe('acceptHead', () => {
    const head = (key: SigningKey, count: number, time = clock.now(), deviceId = 'dev-h') =>
      signHead(
        { deviceId, count, lastHash: count === 0 ? new Uint8Array(32) : new Uint8Array(32).fill(7), time },
        signerOf(key),
      ).bytes;

    it('stores a head signed by an active key; a redelivery is a duplicate', async () => {
      const key = generateSigningKey('p256');
      await provision('dev-h', key);
      const bytes = head(key, 12, clock.now() - 1000);
      const out = await acceptHead(deps, { deviceId: 'dev-h', bytes });
      const statementId = `dev-h:${toHex(leafHashOf(bytes))}`;
      expect(out).toEqual({ status: 'stored', statementId, count: 12 });
      expect(await acceptHead(deps, { deviceId: 'dev-h', bytes })).toEqual({
        status: 'duplicate',
        statementId,
        count: 12,
      });
      const latest = await stack.statements.listHeads('dev-h', { by: 'count', order: 'desc', limit: 1 });
      expect(latest.items[0]).toMatchObject({
        statementId,
        kind: 'head',
        head: { count: 12, time: clock.now() - 1000 },
        receivedAt: clock.now(),
        leaf: toBase64(bytes),
      });
    });

    it('refuses heads of unknown or revoked keys, bad signatures, other devices, future times', async () => {
      const key = generateSigningKey('ed25519');
      await provision('dev-h', key);
      const stranger = generateSigningKey('ed25519');
      const good = head(key, 3);
      const cases: [Uint8Array, string][] = [
        [head(stranger, 3), 'key-unknown'],
        [flip(good, good.length - 1), 'signature-invalid'],
        [flip(good, 20), 'signature-invalid'],
        [head(key, 3, clock.now(), 'dev-other'), 'device-mismatch'],
        [head(key, 3, clock.now() + 61_000), 'timestamp-in-future'],
        [good.subarray(0, 10), 'head-truncated'],
      ];
      for (const [bytes, code] of cases) {
        expect(await acceptHead(deps, { deviceId: 'dev-h', bytes }), code).toMatchObject({
          status: 'rejected',
          code,
        });
      }
      await revokeKey(deps, {
        deviceId: 'dev-h',
        keyId: toHex(key.keyId),
        code: 'compromised',
        reason: 'x',
        actor: 'op',
      });
      expect(await acceptHead(deps, { deviceId: 'dev-h', bytes: good })).toMatchObject({
        code: 'key-revoked',
      });
      expect(
        (await stack.statements.listHeads('dev-h', { by: 'count', order: 'asc', limit: 10 })).items,
      ).toEqual([]);
    });
  });
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] = (out[at] as number) ^ 0x01;
  return out;
}

function keyStateOfDevice(
  d: { keys: { keyId: string; status: string }[] },
  keyId: string,
): string | undefined {
  return d.keys.find((k) => k.keyId === keyId)?.status;
}
