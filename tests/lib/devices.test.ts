/**
 * Device provisioning, credentials and the audited key release (lib/devices) over the real local adapters.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { fromBase64, toBase64, utf8 } from '../../lib/core/bytes.js';
import { openRecord, parseEnvelope } from '../../lib/core/envelope.js';
import { NotaryError } from '../../lib/core/errors.js';
import {
  authenticateDevice,
  authenticateDeviceByCertificate,
} from '../../lib/devices/authenticate-device.js';
import { credentialHashOf } from '../../lib/devices/device-credentials.js';
import {
  masterKeyContext,
  type ProvisionDeps,
  provisionDevice,
  rotateDeviceCredentials,
} from '../../lib/devices/provision-device.js';
import { releaseRecordKey } from '../../lib/devices/release-record-key.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { DeviceRegistry } from '../../lib/ports.js';
import { LiveDeviceSessions } from '../../lib/runtime/live-device-sessions.js';
import { expectBytes } from '../support/bytes.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

describe('devices', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let deps: ProvisionDeps;
  let dev: TestDevice;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    deps = { devices: stack.index, statements: stack.statements, vault: stack.vault, clock: clock.now };
    dev = new TestDevice('dev-k');
  });
  afterEach(async () => {
    await stack.close();
  });

  const provision = (d = dev, actor = 'factory') =>
    provisionDevice(deps, { deviceId: d.deviceId, masterKey: d.masterKeyBase64, actor });
  const auth = (clientId: string, username: string | undefined, password: string | undefined) =>
    authenticateDevice(stack.index, {
      clientId,
      username,
      password: password === undefined ? undefined : utf8(password),
    });
  const audit = async () => (await stack.index.listAudit({ limit: 100 })).items;

  describe('provisionDevice', () => {
    it('registers the device with its password hash and wrapped key, and audits it', async () => {
      const p = await provision();
      expect(p.deviceId).toBe('dev-k');
      expect(p.mqtt).toMatchObject({ clientId: 'dev-k', username: 'dev-k' });
      expect(p.mqtt.password.length).toBeGreaterThanOrEqual(43);
      expect(p.mqtt.publish).toEqual([
        'devices/dev-k/records',
        'devices/dev-k/packs',
        'devices/dev-k/manifests',
        'devices/dev-k/uploads/request',
        'devices/dev-k/heads',
        'devices/dev-k/keys',
      ]);
      expect(p.mqtt.subscribe).toEqual(['devices/dev-k/acks', 'devices/dev-k/uploads/grant']);

      const stored = await stack.index.getDevice('dev-k');
      expect(stored).toMatchObject({ deviceId: 'dev-k', status: 'active', createdAt: clock.now() });
      expect(stored?.credentialHash).toBe(credentialHashOf(p.mqtt.password));
      // Only the wrapped key is kept; it unwraps to the device's key only under the device's own context.
      const wrapped = fromBase64(stored?.wrappedMasterKey as string) as Uint8Array;
      expect(Buffer.from(wrapped).includes(Buffer.from(dev.masterKey))).toBe(false);
      expectBytes(await stack.vault.unwrap(wrapped, masterKeyContext('dev-k')), dev.masterKey);
      await expect(stack.vault.unwrap(wrapped, masterKeyContext('dev-other'))).rejects.toThrow();

      expect(await audit()).toEqual([
        {
          id: expect.any(String),
          at: clock.now(),
          actor: 'factory',
          action: 'device-provisioned',
          target: 'dev-k',
          outcome: 'succeeded',
        },
      ]);
    });

    it('refuses a second provisioning of the same id with device-exists, keeping the first credentials', async () => {
      const first = await provision();
      const impostor = new TestDevice('dev-k');
      const err = await provision(impostor, 'someone').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotaryError);
      expect(err).toMatchObject({ code: 'device-exists' });
      expect(await auth('dev-k', 'dev-k', first.mqtt.password)).toEqual({ ok: true, deviceId: 'dev-k' });
      const stored = await stack.index.getDevice('dev-k');
      expectBytes(
        await stack.vault.unwrap(
          fromBase64(stored?.wrappedMasterKey as string) as Uint8Array,
          masterKeyContext('dev-k'),
        ),
        dev.masterKey,
      );
      expect((await audit()).map((e) => e.action)).toEqual(['device-provisioned']);
    });

    it.each([
      ['an id with a dot', 'dev.k', toBase64(new Uint8Array(32))],
      ['an empty id', '', toBase64(new Uint8Array(32))],
      ['an id of 65 characters', 'd'.repeat(65), toBase64(new Uint8Array(32))],
      ['a 16-byte key', 'dev-k', toBase64(new Uint8Array(16))],
      ['a key that is not base64', 'dev-k', 'not base64!'],
    ])('refuses %s with bad-request and stores nothing', async (_name, deviceId, masterKey) => {
      await expect(provisionDevice(deps, { deviceId, masterKey, actor: 'factory' })).rejects.toMatchObject({
        code: 'bad-request',
      });
      expect((await stack.index.listDevices({ limit: 10 })).items).toEqual([]);
      expect(await audit()).toEqual([]);
    });
  });

  describe('credentials', () => {
    it('authenticateDevice accepts the device and names each refusal', async () => {
      const { mqtt } = await provision();
      expect(await auth('dev-k', 'dev-k', mqtt.password)).toEqual({ ok: true, deviceId: 'dev-k' });
      expect(await auth('dev-x', 'dev-k', mqtt.password)).toMatchObject({
        ok: false,
        code: 'client-id-mismatch',
      });
      expect(await auth('dev-k', undefined, mqtt.password)).toMatchObject({
        ok: false,
        code: 'client-id-mismatch',
      });
      expect(await auth('dev-z', 'dev-z', mqtt.password)).toMatchObject({
        ok: false,
        code: 'unknown-device',
      });
      expect(await auth('', '', mqtt.password)).toMatchObject({ ok: false, code: 'unknown-device' });
      expect(await auth('dev-k', 'dev-k', `${mqtt.password}x`)).toMatchObject({
        ok: false,
        code: 'bad-credentials',
      });
      expect(await auth('dev-k', 'dev-k', undefined)).toMatchObject({ ok: false, code: 'bad-credentials' });
      expect(await auth('dev-k', 'dev-k', '')).toMatchObject({ ok: false, code: 'bad-credentials' });
    });

    it('refuses a disabled device even with the right password, and only then', async () => {
      await stack.index.createDevice({
        deviceId: 'dev-off',
        createdAt: clock.now(),
        status: 'disabled',
        credentialHash: credentialHashOf('right password'),
        wrappedMasterKey: toBase64(new Uint8Array(45)),
        keys: [],
        allowUnsigned: true,
        keysRevision: 0,
      });
      expect(await auth('dev-off', 'dev-off', 'right password')).toMatchObject({
        ok: false,
        code: 'device-disabled',
      });
      expect(await auth('dev-off', 'dev-off', 'wrong password')).toMatchObject({
        ok: false,
        code: 'bad-credentials',
      });
    });

    it('rotation issues a new password, retires the old one at once, and is audited', async () => {
      const first = await provision();
      clock.advance(10);
      const rotated = await rotateDeviceCredentials(deps, { deviceId: 'dev-k', actor: 'operator' });
      expect(rotated.mqtt.password).not.toBe(first.mqtt.password);
      expect(await auth('dev-k', 'dev-k', rotated.mqtt.password)).toEqual({ ok: true, deviceId: 'dev-k' });
      expect(await auth('dev-k', 'dev-k', first.mqtt.password)).toMatchObject({
        ok: false,
        code: 'bad-credentials',
      });
      const events = await audit();
      expect(events.map((e) => [e.action, e.actor, e.target])).toEqual([
        ['credential-rotated', 'operator', 'dev-k'],
        ['device-provisioned', 'factory', 'dev-k'],
      ]);
      // The key is untouched by a rotation.
      const stored = await stack.index.getDevice('dev-k');
      expectBytes(
        await stack.vault.unwrap(
          fromBase64(stored?.wrappedMasterKey as string) as Uint8Array,
          masterKeyContext('dev-k'),
        ),
        dev.masterKey,
      );
    });

    it('rotation closes the live sessions only once the new password is committed', async () => {
      const first = await provision();
      // The embedded broker's session table, with connections that record whether the old password still
      // worked at the moment they were closed.
      const sessions = new LiveDeviceSessions();
      const closedWhile: string[] = [];
      const conn = () => {
        const onClose: (() => void)[] = [];
        return {
          destroy() {
            void auth('dev-k', 'dev-k', first.mqtt.password).then((r) => {
              closedWhile.push(r.ok ? 'old password valid' : 'old password refused');
            });
            for (const f of onClose) f();
          },
          once(_event: 'close', f: () => void) {
            onClose.push(f);
          },
        };
      };
      sessions.track('dev-k', conn());
      sessions.track('dev-k', conn());
      sessions.track('dev-other', conn());
      const r = await rotateDeviceCredentials(
        { ...deps, sessions },
        { deviceId: 'dev-k', actor: 'operator' },
      );
      expect(r.sessionsClosed).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closedWhile).toEqual(['old password refused', 'old password refused']);
      expect(sessions.count('dev-k')).toBe(0);
      expect(sessions.count('dev-other')).toBe(1);
    });

    it('rotating an unknown device is device-not-found', async () => {
      await expect(
        rotateDeviceCredentials(deps, { deviceId: 'dev-z', actor: 'operator' }),
      ).rejects.toMatchObject({
        code: 'device-not-found',
      });
      expect(await audit()).toEqual([]);
    });
  });

  describe('authenticateDeviceByCertificate', () => {
    const byCert = (clientId: string, certificateCn: string | undefined, username?: string) =>
      authenticateDeviceByCertificate(stack.index, { clientId, username, certificateCn });

    it("accepts a provisioned, active device whose client id is its certificate's CN, without a password", async () => {
      await provision();
      expect(await byCert('dev-k', 'dev-k')).toEqual({ ok: true, deviceId: 'dev-k' });
      expect(await byCert('dev-k', 'dev-k', 'dev-k')).toEqual({ ok: true, deviceId: 'dev-k' });
    });

    it("refuses a client id other than the certificate's CN, a foreign username, and unknown devices", async () => {
      await provision();
      expect(await byCert('dev-k', 'dev-other')).toMatchObject({ ok: false, code: 'certificate-mismatch' });
      expect(await byCert('dev-k', undefined)).toMatchObject({ ok: false, code: 'certificate-mismatch' });
      expect(await byCert('dev-k', 'dev-k', 'dev-other')).toMatchObject({
        ok: false,
        code: 'client-id-mismatch',
      });
      expect(await byCert('dev-z', 'dev-z')).toMatchObject({ ok: false, code: 'unknown-device' });
    });
  });

  describe('releaseRecordKey', () => {
    const releaseDeps = () => ({ index: stack.index, vault: stack.vault, clock: clock.now });

    /** `registry`: where ingest looks the device up (the stack's own, unless a test needs it elsewhere). */
    async function ingestSealed(plaintext: string, registry: DeviceRegistry = stack.index) {
      const r = dev.seal({ plaintext: utf8(plaintext) });
      const out = await ingestEnvelope(
        {
          objects: stack.objects,
          index: stack.index,
          clock: clock.now,
          limits: { maxClockSkewMs: 0 },
          origin: testOrigin(registry),
        },
        { deviceId: dev.deviceId, bytes: r.envelope, via: 'inline' },
      );
      expect(out.status).toBe('stored');
      return r;
    }

    it('writes an audit event and returns the key that opens exactly that stored record', async () => {
      await provision();
      await ingestSealed('{"t":1,"temp":20.5}');
      await ingestSealed('{"t":2,"temp":21.0}');
      clock.advance(1000);
      const released = await releaseRecordKey(releaseDeps(), {
        recordId: 'dev-k.1',
        actor: 'auditor',
        reason: 'incident 42',
      });
      expect(released).toMatchObject({ recordId: 'dev-k.1', algorithm: 'AES-256-GCM' });

      const stored = await stack.objects.get((await stack.index.getRecord('dev-k', 1))?.objectKey as string);
      const env = parseEnvelope(stored as Uint8Array);
      if (!env.ok) throw new Error(env.message);
      const key = fromBase64(released.key) as Uint8Array;
      expect(key).toHaveLength(32);
      const opened = openRecord(env, key);
      expect(opened.ok && new TextDecoder().decode(opened.plaintext)).toBe('{"t":2,"temp":21.0}');
      // A per-record key: it opens no other record.
      const env0 = parseEnvelope(
        (await stack.objects.get(
          (
            await stack.index.getRecord('dev-k', 0)
          )?.objectKey as string,
        )) as Uint8Array,
      );
      if (!env0.ok) throw new Error(env0.message);
      expect(openRecord(env0, key).ok).toBe(false);

      expect((await audit())[0]).toEqual({
        id: released.auditId,
        at: clock.now(),
        actor: 'auditor',
        action: 'record-key-released',
        target: 'dev-k.1',
        reason: 'incident 42',
        outcome: 'succeeded',
      });
    });

    it('a master key the vault cannot unwrap is key-unavailable, audited as a failed release', async () => {
      await provision();
      await ingestSealed('x');
      clock.advance(1000);
      // The vault of another store: what a regenerated or swapped secrets/kek amounts to.
      const otherVault = new LocalKeyVault(new Uint8Array(32).fill(9));
      const err = await releaseRecordKey(
        { index: stack.index, vault: otherVault, clock: clock.now },
        { recordId: 'dev-k.0', actor: 'auditor', reason: 'incident 43' },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotaryError);
      expect(err).toMatchObject({
        code: 'key-unavailable',
        message: expect.stringContaining(
          'the master key of device dev-k cannot be unwrapped (unwrap-failed)',
        ),
      });
      const [event] = await audit();
      expect(event).toEqual({
        id: (err as NotaryError).details?.auditId,
        at: clock.now(),
        actor: 'auditor',
        action: 'record-key-released',
        target: 'dev-k.0',
        reason: 'incident 43',
        outcome: 'failed',
        error: { code: 'unwrap-failed', message: expect.stringContaining('cannot unwrap') },
      });
    });

    it('refuses without a reason, before anything is audited or released', async () => {
      await provision();
      await ingestSealed('x');
      await expect(
        releaseRecordKey(releaseDeps(), { recordId: 'dev-k.0', actor: 'auditor', reason: '  ' }),
      ).rejects.toMatchObject({ code: 'bad-request' });
      expect((await audit()).map((e) => e.action)).toEqual(['device-provisioned']);
    });

    it('names an unknown record and a record of an unregistered device', async () => {
      await expect(
        releaseRecordKey(releaseDeps(), { recordId: 'dev-k.0', actor: 'auditor', reason: 'looking' }),
      ).rejects.toMatchObject({ code: 'record-not-found' });
      // Ingest refuses records of unknown devices, so such a record is in the index only if the index and the
      // registry disagree (a damaged or restored store): here ingest consulted another registry.
      const elsewhere = await openLocalStack({ clock: clock.now });
      try {
        await provisionLegacyDevices(elsewhere.index, [dev.deviceId]);
        await ingestSealed('x', elsewhere.index);
      } finally {
        await elsewhere.close();
      }
      await expect(
        releaseRecordKey(releaseDeps(), { recordId: 'dev-k.0', actor: 'auditor', reason: 'looking' }),
      ).rejects.toMatchObject({ code: 'device-not-found' });
      expect(await audit()).toEqual([]);
    });
  });
});
