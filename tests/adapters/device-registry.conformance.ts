/**
 * Conformance suite for the DeviceRegistry port (lib/ports.ts): the device registry and, through DeviceKeyRegistry, the guarded changes of a device's keys. Every adapter runs it unchanged
 * (tests/adapters/local.test.ts on SQLite, tests/aws/conformance.test.ts on dynalite), e.g.:
 *
 *   describeDeviceRegistryConformance('Sqlite…', async () => ({ store, cleanup }));
 *
 * `make` is called once per test and must return an empty store; `cleanup` must also close it. Ordering is
 * asserted only where the port promises one; paging is asserted to visit every item exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceKeyRegistry, DeviceRegistry } from '../../lib/ports.js';
import {
  collectPages,
  cursorJson,
  deviceEntry,
  deviceKey,
  expectEveryCursorRefused,
  hex32,
  type SubPortFixture,
  withCursor,
} from './index-fixtures.js';

export function describeDeviceRegistryConformance(
  name: string,
  make: () => Promise<SubPortFixture<DeviceRegistry & DeviceKeyRegistry>>,
): void {
  describe(`DeviceRegistry conformance: ${name}`, () => {
    let fx: SubPortFixture<DeviceRegistry & DeviceKeyRegistry>;
    let store: DeviceRegistry & DeviceKeyRegistry;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe('devices', () => {
      it('createDevice creates once; a second create reports exists and keeps the first', async () => {
        const d = deviceEntry('dev-1');
        expect(await store.createDevice(d)).toBe('created');
        expect(
          await store.createDevice({ ...d, credentialHash: hex32('attacker'), status: 'disabled' }),
        ).toBe('exists');
        expect(await store.getDevice('dev-1')).toEqual(d);
        expect(await store.getDevice('dev-2')).toBeUndefined();
      });

      it('setCredentialHash replaces only the credential hash', async () => {
        const d = deviceEntry('dev-1', { status: 'disabled' });
        await store.createDevice(d);
        await store.setCredentialHash('dev-1', hex32('new password'));
        expect(await store.getDevice('dev-1')).toEqual({ ...d, credentialHash: hex32('new password') });
      });

      it('a device is created with its keys and allowUnsigned, and reads back as written', async () => {
        const d = deviceEntry('dev-1', { keys: [deviceKey('a')], allowUnsigned: false });
        expect(await store.createDevice(d)).toBe('created');
        expect(await store.getDevice('dev-1')).toEqual(d);
        expect((await store.listDevices({ limit: 10 })).items).toEqual([d]);
      });

      it('updateDeviceKeys replaces keys and allowUnsigned at the expected revision, and bumps it', async () => {
        await store.createDevice(deviceEntry('dev-1'));
        const a = deviceKey('a');
        expect(await store.updateDeviceKeys('dev-1', { keys: [a], allowUnsigned: false }, 0)).toBe('updated');
        expect(await store.getDevice('dev-1')).toEqual(
          deviceEntry('dev-1', { keys: [a], allowUnsigned: false, keysRevision: 1 }),
        );
        const rotated = [
          {
            ...a,
            status: 'revoked' as const,
            revokedBy: { statementId: `dev-1:${hex32('rot')}`, type: 'rotate' as const, at: 2000 },
          },
          deviceKey('b', { alg: 'p256' }),
        ];
        expect(await store.updateDeviceKeys('dev-1', { keys: rotated, allowUnsigned: false }, 1)).toBe(
          'updated',
        );
        const stored = await store.getDevice('dev-1');
        expect(stored?.keys).toEqual(rotated);
        expect(stored?.keysRevision).toBe(2);
        // Credentials are a separate field: rotating them leaves the keys and the revision alone.
        await store.setCredentialHash('dev-1', hex32('other'));
        expect((await store.getDevice('dev-1'))?.keysRevision).toBe(2);
      });

      it('updateDeviceKeys at a stale revision is a conflict that writes nothing; unknown devices are not created', async () => {
        await store.createDevice(deviceEntry('dev-1'));
        await store.updateDeviceKeys('dev-1', { keys: [deviceKey('a')], allowUnsigned: true }, 0);
        expect(await store.updateDeviceKeys('dev-1', { keys: [], allowUnsigned: false }, 0)).toBe('conflict');
        expect(await store.getDevice('dev-1')).toEqual(
          deviceEntry('dev-1', { keys: [deviceKey('a')], keysRevision: 1 }),
        );
        expect(await store.updateDeviceKeys('dev-9', { keys: [], allowUnsigned: false }, 0)).toBe(
          'not-found',
        );
        expect(await store.getDevice('dev-9')).toBeUndefined();
      });

      it('concurrent updateDeviceKeys at one revision: exactly one is applied', async () => {
        await store.createDevice(deviceEntry('dev-1'));
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.updateDeviceKeys('dev-1', { keys: [deviceKey(`k${i}`)], allowUnsigned: false }, 0),
          ),
        );
        expect(results.filter((r) => r === 'updated')).toHaveLength(1);
        expect(results.filter((r) => r === 'conflict')).toHaveLength(9);
        const winner = results.indexOf('updated');
        expect((await store.getDevice('dev-1'))?.keys).toEqual([deviceKey(`k${winner}`)]);
      });

      it('listDevices pages through every device exactly once', async () => {
        const ids = Array.from({ length: 9 }, (_, i) => `dev-${String(i).padStart(3, '0')}`);
        for (const id of [...ids].reverse()) await store.createDevice(deviceEntry(id));
        const { items, pages } = await collectPages(2, (c) => store.listDevices(withCursor({ limit: 2 }, c)));
        expect(pages).toBeGreaterThanOrEqual(5);
        expect(items.map((d) => d.deviceId).sort()).toEqual(ids);
        expect(items.find((d) => d.deviceId === 'dev-004')).toEqual(deviceEntry('dev-004'));
        const one = await store.listDevices({ limit: 100 });
        expect(one.items).toHaveLength(9);
        expect(one.next).toBeUndefined();
      });
    });

    describe('cursors', () => {
      it('every list refuses a cursor it could not have issued with invalid-cursor, even on an empty store', async () => {
        await expectEveryCursorRefused([
          ['listDevices', (cursor) => store.listDevices({ limit: 5, cursor })],
        ]);
      });

      it("a cursor of another list's shape is refused too", async () => {
        await expect(store.listDevices({ limit: 5, cursor: cursorJson([5, 'x']) })).rejects.toMatchObject({
          code: 'invalid-cursor',
        });
      });
    });
  });
}
