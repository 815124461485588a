/**
 * Origin checks for tests that ingest records through lib/ingest: the real key-state reader over the real
 * device registry, and lib/core's verifier. Records pass only for devices that exist in the registry, so a
 * test provisions its devices first; `provisionLegacyDevices` makes them as devices from before signing keys
 * were (unsigned records allowed, no keys), which is what a test of something other than origin needs.
 */
import { DeviceKeyCache } from '../../lib/ingest/device-key-cache.js';
import type { OriginDeps } from '../../lib/ingest/ingest-envelope.js';
import { coreVerifier } from '../../lib/ingest/signature-verifier.js';
import type { DeviceRegistry } from '../../lib/ports.js';

/** Reads the registry on every record (no caching), verifies with the core verifier. */
export function testOrigin(devices: Pick<DeviceRegistry, 'getDevice'>): OriginDeps {
  return { keys: new DeviceKeyCache(devices, { maxAgeMs: 0, clock: Date.now }), verifier: coreVerifier };
}

export async function provisionLegacyDevices(
  devices: Pick<DeviceRegistry, 'createDevice'>,
  deviceIds: readonly string[],
  at = 1_700_000_000_000,
): Promise<void> {
  for (const deviceId of deviceIds) {
    await devices.createDevice({
      deviceId,
      createdAt: at,
      status: 'active',
      credentialHash: '0'.repeat(64),
      wrappedMasterKey: 'AA==',
      keys: [],
      allowUnsigned: true,
      keysRevision: 0,
    });
  }
}
