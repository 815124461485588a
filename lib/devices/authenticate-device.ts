import type { DeviceRegistry } from '../ports.js';
import { credentialMatches } from './device-credentials.js';

export type DeviceAuthResult =
  | { ok: true; deviceId: string }
  | {
      ok: false;
      code:
        | 'client-id-mismatch'
        | 'certificate-mismatch'
        | 'unknown-device'
        | 'bad-credentials'
        | 'device-disabled';
      reason: string;
    };

/**
 * MQTT CONNECT check for the embedded broker: username is the device id, the client id must equal it (as AWS
 * IoT policies pin iot:Connection.Thing.ThingName), and the password must match the stored hash.
 */
export async function authenticateDevice(
  registry: DeviceRegistry,
  c: { clientId: string; username: string | undefined; password: Uint8Array | undefined },
): Promise<DeviceAuthResult> {
  const username = c.username ?? '';
  if (c.clientId !== username) {
    return {
      ok: false,
      code: 'client-id-mismatch',
      reason: 'client id must equal the username (the device id)',
    };
  }
  const device = username ? await registry.getDevice(username) : undefined;
  // Unknown device and wrong password read the same to the client; the dead letter keeps them apart.
  if (!device) return { ok: false, code: 'unknown-device', reason: `no device ${JSON.stringify(username)}` };
  if (!c.password || !credentialMatches(Buffer.from(c.password).toString('utf8'), device.credentialHash)) {
    return { ok: false, code: 'bad-credentials', reason: 'password does not match' };
  }
  if (device.status !== 'active') return { ok: false, code: 'device-disabled', reason: 'device is disabled' };
  return { ok: true, deviceId: device.deviceId };
}

/**
 * MQTT CONNECT check on a mutual-TLS listener, as AWS IoT does it: the client certificate (already verified
 * against the client CA by the TLS handshake) is the credential, and its subject CN is the device id. The
 * client id must equal it; a username, if sent, too; a password is not looked at. The device must be
 * provisioned and active, so an operator can still refuse a device whose certificate stays valid.
 */
export async function authenticateDeviceByCertificate(
  registry: DeviceRegistry,
  c: { clientId: string; username: string | undefined; certificateCn: string | undefined },
): Promise<DeviceAuthResult> {
  if (!c.certificateCn || c.clientId !== c.certificateCn) {
    return {
      ok: false,
      code: 'certificate-mismatch',
      reason: `client id must equal the client certificate's CN (${JSON.stringify(c.certificateCn ?? null)})`,
    };
  }
  if (c.username !== undefined && c.username !== '' && c.username !== c.clientId) {
    return { ok: false, code: 'client-id-mismatch', reason: 'username, if sent, must equal the client id' };
  }
  const device = await registry.getDevice(c.clientId);
  if (!device)
    return { ok: false, code: 'unknown-device', reason: `no device ${JSON.stringify(c.clientId)}` };
  if (device.status !== 'active') return { ok: false, code: 'device-disabled', reason: 'device is disabled' };
  return { ok: true, deviceId: device.deviceId };
}
