/**
 * Provisioning: the operator (or the device stub acting as the factory) registers a device id and the
 * device's master key. The master key is wrapped by the key vault at once and only the wrapped form is
 * stored; the response carries the device's MQTT password, once, and never the key.
 *
 * With a signing key (the public half of a key the device made itself), the device is created without keys
 * and then the key is registered like any later registration (a register event queued for anchoring, then the
 * key active): a crash in between leaves a device that refuses every record until the operator registers a
 * key, never a key without its event.
 */
import { fromBase64 } from '../core/bytes.js';
import { isDeviceId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { MASTER_KEY_BYTES } from '../core/record-key.js';
import type {
  AuditLog,
  DeviceKeyRegistry,
  DeviceRegistry,
  DeviceSessions,
  KeyVault,
  StatementStore,
} from '../ports.js';
import { devicePublishTopics, deviceSubscribeTopics } from '../routing/routes.js';
import { credentialHashOf, newDevicePassword } from './device-credentials.js';
import { normalizedKey, type PublicKeyInput, registerKey } from './device-keys.js';

export interface ProvisionDeps {
  devices: DeviceRegistry & DeviceKeyRegistry & AuditLog;
  statements: StatementStore;
  vault: KeyVault;
  clock: () => number;
  /**
   * The broker's live connections, closed when a device's password changes. Absent only where the password
   * is not what devices connect with (AWS IoT: certificates; docs/deploy.md).
   */
  sessions?: DeviceSessions;
}

export interface ProvisionedDevice {
  deviceId: string;
  mqtt: { clientId: string; username: string; password: string; publish: string[]; subscribe: string[] };
  /** Whether ingest accepts unsigned (v1) envelopes from the device. */
  allowUnsigned?: boolean;
  /** The registered signing key and its register event (queued for anchoring). */
  signingKey?: { keyId: string; alg: string; registeredBy: string };
}

const MASTER_KEY_BASE64 = 4 * Math.ceil(MASTER_KEY_BYTES / 3);

export const masterKeyContext = (deviceId: string): Record<string, string> => ({
  purpose: 'device-master-key',
  deviceId,
});

export async function provisionDevice(
  deps: ProvisionDeps,
  req: {
    deviceId: string;
    masterKey: string;
    actor: string;
    signingKey?: PublicKeyInput;
    /** Default: false with a signing key, true without one. */
    allowUnsigned?: boolean;
  },
): Promise<ProvisionedDevice> {
  if (!isDeviceId(req.deviceId))
    throw new NotaryError('bad-request', 'deviceId must be 1-64 characters of [A-Za-z0-9_-]');
  // Length first: nothing longer than a 32-byte key's base64 is worth decoding.
  const key = req.masterKey.length === MASTER_KEY_BASE64 ? fromBase64(req.masterKey) : undefined;
  if (!key || key.length !== MASTER_KEY_BYTES) {
    throw new NotaryError('bad-request', `masterKey must be ${MASTER_KEY_BYTES} bytes, base64`);
  }
  // Refused before anything is stored.
  if (req.signingKey) normalizedKey(req.signingKey);
  const allowUnsigned = req.allowUnsigned ?? req.signingKey === undefined;
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
    allowUnsigned,
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
    outcome: 'succeeded',
    ...(req.signingKey ? { reason: `with a ${req.signingKey.alg} signing key` } : {}),
  });
  const registered = req.signingKey
    ? await registerKey(deps, {
        ...req.signingKey,
        deviceId: req.deviceId,
        actor: req.actor,
        reason: 'provisioning',
      })
    : undefined;
  return {
    ...credentialsResponse(req.deviceId, password),
    allowUnsigned,
    ...(registered
      ? {
          signingKey: {
            keyId: registered.key.keyId,
            alg: registered.key.alg,
            registeredBy: registered.event.statementId,
          },
        }
      : {}),
  };
}

/**
 * Issues a new MQTT password, for a device that lost its own or whose password may have been stolen. The old
 * one stops working at once: new CONNECTs are checked against the new hash, and every connection already open
 * (or still authenticating) with the old one is closed.
 */
export async function rotateDeviceCredentials(
  deps: ProvisionDeps,
  req: { deviceId: string; actor: string },
): Promise<ProvisionedDevice & { sessionsClosed: number }> {
  const device = await deps.devices.getDevice(req.deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${req.deviceId}`);
  const password = newDevicePassword();
  await deps.devices.setCredentialHash(req.deviceId, credentialHashOf(password));
  // Only after the new hash is committed: a CONNECT authenticated from here on cannot have used the old one.
  const sessionsClosed = (await deps.sessions?.disconnect(req.deviceId)) ?? 0;
  const at = deps.clock();
  await deps.devices.appendAudit({
    id: newId(at, 'au-'),
    at,
    actor: req.actor,
    action: 'credential-rotated',
    target: req.deviceId,
    outcome: 'succeeded',
  });
  return { ...credentialsResponse(req.deviceId, password), sessionsClosed };
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
