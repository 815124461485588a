/**
 * Run-time device provisioning on AWS IoT (docs/deploy.md "Provisioning a device"): a device that made its own
 * key pair sends a CSR; AWS IoT signs it (the private key never leaves the device), the certificate is attached
 * to the device's thing (thing name = device id) and to the stage's device policy, and activated. Nothing per
 * device is in the deploy.
 *
 * Safe to repeat after a crash at any step. The thing itself is the journal: right after the CSR is signed,
 * the thing's attributes record which certificate was made for which key (`csrKey`: the first 32 hex of
 * SHA-256 of the CSR's public key; `certificateId`), before anything else happens to it. A retry with the same
 * CSR finds that record and carries on with that certificate instead of signing another:
 *   1. the device is in the index (registered now when the request carries its master key);
 *   2. the thing exists (DescribeThing, and CreateThing when it does not);
 *   3. the thing's record names a certificate for this key, or the CSR is signed now (INACTIVE) and recorded;
 *   4. the certificate is attached to the thing, then to the policy (attaching twice is a no-op);
 *   5. it is made ACTIVE, last, so a certificate is only ever usable once it is fully attached.
 * The one window left: a crash between signing (3) and recording it leaves an INACTIVE certificate that nothing
 * names; it can connect nowhere, and a retry signs another. docs/deploy.md says how to find such leftovers.
 */
import { toHex } from '../core/bytes.js';
import { isDeviceId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';
import { sha256 } from '../core/hash.js';
import { newId } from '../core/ids.js';
import type { AuditLog, DeviceRegistry, IotCertificate, IotControlPlane } from '../ports.js';
import { CsrError, csrPublicKey } from './csr.js';

export interface DeviceCertificateDeps {
  iot: IotControlPlane;
  /** The stage's device policy (sst.config.ts `DevicePolicy`: `iot-notary-<stage>-device`). */
  policyName: string;
  devices: DeviceRegistry & AuditLog;
  clock: () => number;
  /** Registers a device that is not in the index yet (provisionDevice with the request's master key). */
  register?: (deviceId: string, masterKey: string) => Promise<void>;
}

export interface IssuedCertificate {
  deviceId: string;
  thingName: string;
  certificateId: string;
  certificateArn: string;
  certificatePem: string;
  policyName: string;
  /** False when a previous attempt had already made this certificate (a retry). */
  created: boolean;
  /** Whether this call registered the device in the index. */
  registered: boolean;
}

const certificateIdOf = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** Thing attributes that journal the certificate made for a key (attribute values allow [a-zA-Z0-9_.,@/:#=-]). */
export const THING_CSR_KEY = 'csrKey';
export const THING_CERTIFICATE_ID = 'certificateId';

function checkDeviceId(deviceId: string): void {
  if (!isDeviceId(deviceId))
    throw new NotaryError('bad-request', 'deviceId must be 1-64 of [A-Za-z0-9_-] (it is the thing name)');
}

export async function issueDeviceCertificate(
  deps: DeviceCertificateDeps,
  req: { deviceId: string; csrPem: string; masterKey?: string; actor: string },
): Promise<IssuedCertificate> {
  checkDeviceId(req.deviceId);
  let csrKey: Uint8Array;
  try {
    csrKey = csrPublicKey(req.csrPem);
  } catch (e) {
    if (e instanceof CsrError) throw new NotaryError('bad-request', `csr: ${e.message}`);
    throw e;
  }

  let registered = false;
  if (!(await deps.devices.getDevice(req.deviceId))) {
    if (req.masterKey === undefined || !deps.register) {
      throw new NotaryError(
        'device-not-found',
        `no device ${req.deviceId}: register it with POST /v1/devices, or send its masterKey with the CSR`,
      );
    }
    await deps.register(req.deviceId, req.masterKey);
    registered = true;
  }

  const thingName = req.deviceId;
  // Created only when missing: the thing's attributes are the journal below, and a CreateThing over an
  // existing thing must not be what resets them (moto re-creates the thing; AWS refuses a differing one).
  let journal = await deps.iot.thingAttributes(thingName);
  if (!journal) {
    await deps.iot.ensureThing(thingName);
    journal = {};
  }

  const csrKeyTag = toHex(sha256(csrKey)).slice(0, 32);
  let cert: IotCertificate | undefined;
  if (journal[THING_CSR_KEY] === csrKeyTag && journal[THING_CERTIFICATE_ID]) {
    cert = await deps.iot.describeCertificate(journal[THING_CERTIFICATE_ID]);
  }
  const created = cert === undefined;
  if (!cert) {
    cert = await deps.iot.createCertificateFromCsr(req.csrPem);
    await deps.iot.setThingAttributes(thingName, {
      [THING_CSR_KEY]: csrKeyTag,
      [THING_CERTIFICATE_ID]: cert.certificateId,
    });
  }
  if (!(await deps.iot.listThingPrincipals(thingName)).includes(cert.certificateArn)) {
    await deps.iot.attachThingPrincipal(thingName, cert.certificateArn);
  }
  if (cert.status === 'REVOKED') {
    throw new NotaryError(
      'conflict',
      `the certificate ${cert.certificateId} of this key is revoked; the device needs a new key pair and CSR`,
    );
  }
  await deps.iot.attachPolicy(deps.policyName, cert.certificateArn);
  if (cert.status !== 'ACTIVE') await deps.iot.setCertificateStatus(cert.certificateId, 'ACTIVE');

  const at = deps.clock();
  await deps.devices.appendAudit({
    id: newId(at, 'au-'),
    at,
    actor: req.actor,
    action: 'device-certificate-issued',
    target: req.deviceId,
    outcome: 'succeeded',
    details: { certificateId: cert.certificateId, created: created ? 'yes' : 'no (retry)' },
  });
  return {
    deviceId: req.deviceId,
    thingName,
    certificateId: cert.certificateId,
    certificateArn: cert.certificateArn,
    certificatePem: cert.certificatePem,
    policyName: deps.policyName,
    created,
    registered,
  };
}

/**
 * Deprovisioning: every certificate attached to the device's thing (and the one its journal names) is
 * deactivated, detached from the policy and the thing, and deleted; then the thing is deleted. The device
 * stays in the index (its records and proofs stay verifiable). Each step succeeds on what is already gone, so
 * an interrupted run can be repeated.
 */
export async function removeDeviceCertificates(
  deps: Omit<DeviceCertificateDeps, 'register'>,
  req: { deviceId: string; actor: string },
): Promise<{ deviceId: string; certificatesRemoved: string[] }> {
  checkDeviceId(req.deviceId);
  const removed: string[] = [];
  const arns = new Set(await deps.iot.listThingPrincipals(req.deviceId));
  // The journal's certificate too: a run interrupted after detaching it from the thing left it named there.
  const journaled = (await deps.iot.thingAttributes(req.deviceId))?.[THING_CERTIFICATE_ID];
  if (journaled) {
    const c = await deps.iot.describeCertificate(journaled);
    if (c) arns.add(c.certificateArn);
  }
  for (const arn of arns) {
    const id = certificateIdOf(arn);
    // Inactive first: the device is cut off before anything else changes.
    await deps.iot.setCertificateStatus(id, 'INACTIVE');
    await deps.iot.detachPolicy(deps.policyName, arn);
    await deps.iot.detachThingPrincipal(req.deviceId, arn);
    await deps.iot.deleteCertificate(id);
    removed.push(id);
  }
  await deps.iot.deleteThing(req.deviceId);
  const at = deps.clock();
  await deps.devices.appendAudit({
    id: newId(at, 'au-'),
    at,
    actor: req.actor,
    action: 'device-certificates-removed',
    target: req.deviceId,
    outcome: 'succeeded',
    details: { certificates: removed.length },
  });
  return { deviceId: req.deviceId, certificatesRemoved: removed };
}
