/**
 * The audited key-release path, the seed's "tell us the time point and we give you the key": derives the
 * one record's key from the device master key and hands it out, writing who asked and why to the audit log
 * first. It is the only place a key leaves the system, and it releases a per-record key, never the master.
 */
import { fromBase64, toBase64 } from '../core/bytes.js';
import { NotaryError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { deriveRecordKey } from '../core/record-key.js';
import type { AuditLog, DeviceRegistry, KeyVault, RecordIndex } from '../ports.js';
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
  const auditId = newId(at, 'au-');
  await deps.index.appendAudit({
    id: auditId,
    at,
    actor: req.actor,
    action: 'record-key-released',
    target: rec.recordId,
    reason: req.reason,
  });
  const master = await deps.vault.unwrap(
    fromBase64(device.wrappedMasterKey) ?? new Uint8Array(0),
    masterKeyContext(rec.deviceId),
  );
  const key = deriveRecordKey(master, rec.deviceId, rec.timestamp, rec.seq);
  master.fill(0);
  return { recordId: rec.recordId, algorithm: 'AES-256-GCM', key: toBase64(key), auditId };
}
