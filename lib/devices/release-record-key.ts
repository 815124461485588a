/**
 * The audited key-release path, the seed's "tell us the time point and we give you the key": derives the
 * one record's key from the device master key and hands it out. It is the only place a key leaves the
 * system, and it releases a per-record key, never the master.
 *
 * Every attempt on an existing record of a registered device is audited with its outcome. The key is
 * returned only after its 'succeeded' event is durable, so no key leaves without a record of it; an attempt
 * the vault cannot serve is recorded as 'failed' with the vault's error code, and answered key-unavailable.
 */
import { fromBase64, toBase64 } from '../core/bytes.js';
import { NotaryError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { deriveRecordKey } from '../core/record-key.js';
import type { AuditEvent, AuditLog, DeviceRegistry, KeyVault, RecordIndex } from '../ports.js';
import { getRecordEntry } from '../verify/record-proof.js';
import { masterKeyContext } from './provision-device.js';

export async function releaseRecordKey(
  deps: { index: RecordIndex & DeviceRegistry & AuditLog; vault: KeyVault; clock: () => number },
  req: { recordId: string; actor: string; reason: string },
): Promise<{ recordId: string; algorithm: 'AES-256-GCM'; key: string; auditId: string }> {
  if (req.reason.trim().length < 3)
    throw new NotaryError('bad-request', 'a reason is required to release a key');
  const rec = await getRecordEntry(deps.index, req.recordId);
  const device = await deps.index.getDevice(rec.deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${rec.deviceId}`);
  const at = deps.clock();
  const event: Omit<AuditEvent, 'outcome'> = {
    id: newId(at, 'au-'),
    at,
    actor: req.actor,
    action: 'record-key-released',
    target: rec.recordId,
    reason: req.reason,
  };

  let key: Uint8Array;
  try {
    const master = await deps.vault.unwrap(
      fromBase64(device.wrappedMasterKey) ?? new Uint8Array(0),
      masterKeyContext(rec.deviceId),
    );
    try {
      key = deriveRecordKey(master, rec.deviceId, rec.timestamp, rec.seq);
    } finally {
      master.fill(0);
    }
  } catch (e) {
    const error = { code: vaultErrorCode(e), message: e instanceof Error ? e.message : String(e) };
    try {
      await deps.index.appendAudit({ ...event, outcome: 'failed', error });
    } catch (auditError) {
      throw new AggregateError([e, auditError], 'key release failed, and so did writing its audit event');
    }
    throw new NotaryError(
      'key-unavailable',
      `the master key of device ${rec.deviceId} cannot be unwrapped (${error.code}): the key vault does not ` +
        'hold the key it was wrapped with; no key was released',
      { auditId: event.id },
      { cause: e },
    );
  }
  try {
    await deps.index.appendAudit({ ...event, outcome: 'succeeded' });
    return { recordId: rec.recordId, algorithm: 'AES-256-GCM', key: toBase64(key), auditId: event.id };
  } finally {
    key.fill(0);
  }
}

/** The vault's stable code (KeyVaultError: unwrap-failed, bad-wrapped-key), else a generic one. */
function vaultErrorCode(e: unknown): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[a-z0-9-]{1,64}$/.test(code) ? code : 'unwrap-failed';
}
