/**
 * Provisioning: the operator (or the device stub acting as the factory) registers a device id and the
 * device's master key. The master key is wrapped by the key vault at once and only the wrapped form is
 * stored; the response carries the device's MQTT password, once, and never the key.
 */
import { fromBase64 } from '../core/bytes.js';
import { isDeviceId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { MASTER_KEY_BYTES } from '../core/record-key.js';
import type { AuditLog, DeviceRegistry, KeyVault } from '../ports.js';
import { devicePublishTopics, deviceSubscribeTopics } from '../routing/routes.js';
import { credentialHashOf, newDevicePassword } from './device-credentials.js';

export interface ProvisionDeps {
  devices: DeviceRegistry & AuditLog;
  vault: KeyVault;
  clock: () => number;
}

export interface ProvisionedDevice {
  deviceId: string;
  mqtt: { clientId: string; username: string; password: string; publish: string[]; subscribe: string[] };
}

export const masterKeyContext = (deviceId: string): Record<string, string> => ({
  purpose: 'device-master-key',
  deviceId,
});

export async function provisionDevice(
  deps: ProvisionDeps,
  req: { deviceId: string; masterKey: string; actor: string },
): Promise<ProvisionedDevice> {
  if (!isDeviceId(req.deviceId))
    throw new NotaryError('bad-request', 'deviceId must be 1-64 characters of [A-Za-z0-9_-]');
  const key = fromBase64(req.masterKey);
  if (!key || key.length !== MASTER_KEY_BYTES) {
    throw new NotaryError('bad-request', `masterKey must be ${MASTER_KEY_BYTES} bytes, base64`);
  }
  const wrapped = await deps.vault.wrap(key, masterKeyContext(req.deviceId));
  key.fill(0);
  const password = newDevicePassword();
  const at = deps.clock();
  const created = await deps.devices.createDevice({
    deviceId: req.deviceId,
    createdAt: at,
    status: 'active',
    credentialHash: credentialHashOf(password),
    wrappedMasterKey: Buffer.from(wrapped).toString('base64'),
    keys: [],
    allowUnsigned: true,
    keysRevision: 0,
  });
  if (created === 'exists')
    throw new NotaryError('device-exists', `device ${req.deviceId} is already provisioned`);
  await deps.devices.appendAudit({
    id: newId(at, 'au-'),
    at,
    actor: req.actor,
    action: 'device-provisioned',
    target: req.deviceId,
  });
  return credentialsResponse(req.deviceId, password);
}

/** Issues a new MQTT password, for a device that lost its own; the old one stops working at once. */
export async function rotateDeviceCredentials(
  deps: ProvisionDeps,
  req: { deviceId: string; actor: string },
): Promise<ProvisionedDevice> {
  const device = await deps.devices.getDevice(req.deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${req.deviceId}`);
  const password = newDevicePassword();
  await deps.devices.setCredentialHash(req.deviceId, credentialHashOf(password));
  const at = deps.clock();
  await deps.devices.appendAudit({
    id: newId(at, 'au-'),
    at,
    actor: req.actor,
    action: 'credential-rotated',
    target: req.deviceId,
  });
  return credentialsResponse(req.deviceId, password);
}

function credentialsResponse(deviceId: string, password: string): ProvisionedDevice {
  return {
    deviceId,
    mqtt: {
      clientId: deviceId,
      username: deviceId,
      password,
      publish: devicePublishTopics(deviceId),
      subscribe: deviceSubscribeTopics(deviceId),
    },
  };
}
