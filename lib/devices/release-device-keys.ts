/**
 * Key release for a time point or a range of one device's records (docs/api.md "Key release"): the seed's
 * "tell us the time point and we give you the key", and its "series of decryption keys". It releases the
 * per-record keys only, one HKDF output per record (lib/core/record-key.ts), never the master key, so a key
 * released for one range decrypts nothing outside it.
 *
 * The whole release is ONE audit entry naming the range and the count, written before any key is derived.
 * The range is resolved first (record ids, seqs, timestamps and hashes only, about 150 bytes a record), so the
 * entry's count is exactly what the answer holds; keys are then derived one by one as the answer is written.
 */
import {
  assertAuthorized,
  assertRecordVisible,
  hasTimeWindow,
  outOfScopeError,
  type Principal,
  timeInScope,
  timeRangeInScope,
} from '../access/scope.js';
import { fromBase64, toBase64 } from '../core/bytes.js';
import { NotaryError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { deriveRecordKey } from '../core/record-key.js';
import type { AuditEvent, AuditLog, DeviceRegistry, KeyVault, RecordEntry, RecordIndex } from '../ports.js';
import { masterKeyContext } from './provision-device.js';

export const KEYS_FORMAT = 'iot-notary.keys.v1';
/** Default most records one release may cover (KEY_RELEASE_MAX_RECORDS). */
export const DEFAULT_KEY_RELEASE_MAX_RECORDS = 100_000;

/** A time point, a half-open range of device time [from, to), or an inclusive range of seqs. */
export type KeyReleaseRange =
  | { at: number }
  | { from: number; to: number }
  | { fromSeq: number; toSeq: number };

export interface ReleasedKey {
  recordId: string;
  seq: number;
  timestamp: number;
  /** Hex: the record's Merkle leaf hash, so each key can be matched to its envelope and proof. */
  recordHash: string;
  /** Base64 of the 32-byte AES-256-GCM record key. */
  key: string;
}

export interface DeviceKeyRelease {
  format: typeof KEYS_FORMAT;
  deviceId: string;
  range: KeyReleaseRange;
  algorithm: 'AES-256-GCM';
  count: number;
  auditId: string;
  /**
   * The keys in seq order (by time for a time range), derived as they are read; it can be read once. The master
   * key is zeroed when iteration ends, whether it ran to the end or was stopped (a client that went away).
   */
  keys: Generator<ReleasedKey, void, undefined>;
}

export interface ReleaseDeviceKeysDeps {
  index: RecordIndex & DeviceRegistry & AuditLog;
  vault: KeyVault;
  clock: () => number;
}

type Target = Pick<RecordEntry, 'recordId' | 'seq' | 'timestamp' | 'recordHash'>;

const PAGE = 1000;
const light = (r: RecordEntry): Target => ({
  recordId: r.recordId,
  seq: r.seq,
  timestamp: r.timestamp,
  recordHash: r.recordHash,
});

/** The vault's stable code (KeyVaultError: unwrap-failed, bad-wrapped-key), else a generic one. */
function vaultErrorCode(e: unknown): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[a-z0-9-]{1,64}$/.test(code) ? code : 'unwrap-failed';
}

function tooWide(max: number): NotaryError {
  return new NotaryError(
    'range-too-wide',
    `one release covers at most ${max} records; split the range into several releases`,
    { maxRecords: max },
  );
}

async function resolveRange(
  deps: ReleaseDeviceKeysDeps,
  deviceId: string,
  range: KeyReleaseRange,
  p: Principal,
  max: number,
): Promise<Target[]> {
  const scope = p.role === 'auditor' ? p.scope : undefined;
  if ('at' in range) {
    if (scope && !timeInScope(scope, range.at)) throw outOfScopeError();
    const rec = await deps.index.recordInForceAt(deviceId, range.at);
    // In force at `at` but sealed before the window: as invisible to a windowed token as a missing record.
    assertRecordVisible(p, rec);
    if (!rec)
      throw new NotaryError(
        'record-not-found',
        `device ${deviceId} has no record at or before ${new Date(range.at).toISOString()}`,
      );
    return [light(rec)];
  }
  if ('from' in range) {
    if (scope && !timeRangeInScope(scope, range)) throw outOfScopeError();
    const out: Target[] = [];
    let cursor: string | undefined;
    do {
      const page = await deps.index.listByTime(deviceId, {
        from: range.from,
        to: range.to,
        limit: PAGE,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const r of page.items) out.push(light(r));
      if (out.length > max) throw tooWide(max);
      cursor = page.next;
    } while (cursor !== undefined);
    return out;
  }
  if (range.toSeq - range.fromSeq + 1 > max) throw tooWide(max);
  const out: Target[] = [];
  for (let next = range.fromSeq; next <= range.toSeq; ) {
    const page = await deps.index.listBySeq(deviceId, { fromSeq: next, toSeq: range.toSeq, limit: PAGE });
    for (const r of page) {
      if (scope && !timeInScope(scope, r.timestamp)) throw outOfScopeError();
      out.push(light(r));
    }
    const last = page.at(-1);
    if (page.length < PAGE || !last) break;
    next = last.seq + 1;
  }
  // A windowed token learns nothing from an empty seq range either: it is answered like one outside.
  if (scope && hasTimeWindow(scope) && out.length === 0) throw outOfScopeError();
  return out;
}

function auditDetails(range: KeyReleaseRange, targets: readonly Target[]): Record<string, string | number> {
  const first = targets[0];
  const last = targets.at(-1);
  return {
    ...('at' in range
      ? { range: 'at', at: range.at }
      : 'from' in range
        ? { range: 'time', from: range.from, to: range.to }
        : { range: 'seq', fromSeq: range.fromSeq, toSeq: range.toSeq }),
    count: targets.length,
    ...(first && last ? { firstRecord: first.recordId, lastRecord: last.recordId } : {}),
  };
}

function* deriveKeys(
  master: Uint8Array | undefined,
  deviceId: string,
  targets: readonly Target[],
): Generator<ReleasedKey, void, undefined> {
  try {
    if (!master) return;
    for (const t of targets) {
      const key = deriveRecordKey(master, deviceId, t.timestamp, t.seq);
      yield { ...t, key: toBase64(key) } satisfies ReleasedKey;
      key.fill(0);
    }
  } finally {
    master?.fill(0);
  }
}

export async function releaseDeviceKeys(
  deps: ReleaseDeviceKeysDeps,
  req: {
    deviceId: string;
    range: KeyReleaseRange;
    reason: string;
    principal: Principal;
    maxRecords: number;
  },
): Promise<DeviceKeyRelease> {
  if (req.reason.trim().length < 3)
    throw new NotaryError('bad-request', 'a reason is required to release keys');
  // The HTTP edge checked this before anything was looked up; checked again so no other caller can skip it.
  assertAuthorized(req.principal, { kind: 'key-release', deviceId: req.deviceId });
  const targets = await resolveRange(deps, req.deviceId, req.range, req.principal, req.maxRecords);
  const device = await deps.index.getDevice(req.deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${req.deviceId}`);

  const at = deps.clock();
  const event: Omit<AuditEvent, 'outcome'> = {
    id: newId(at, 'au-'),
    at,
    actor: req.principal.actor,
    action: 'record-keys-released',
    target: req.deviceId,
    reason: req.reason,
    details: auditDetails(req.range, targets),
  };
  // As for one record's key (release-record-key.ts): an attempt the vault cannot serve is audited as failed
  // and answered key-unavailable; keys go out only after the 'succeeded' entry is durable.
  let master: Uint8Array | undefined;
  if (targets.length > 0) {
    try {
      master = await deps.vault.unwrap(
        fromBase64(device.wrappedMasterKey) ?? new Uint8Array(0),
        masterKeyContext(req.deviceId),
      );
    } catch (e) {
      const error = { code: vaultErrorCode(e), message: e instanceof Error ? e.message : String(e) };
      try {
        await deps.index.appendAudit({ ...event, outcome: 'failed', error });
      } catch (auditError) {
        throw new AggregateError([e, auditError], 'key release failed, and so did writing its audit event');
      }
      throw new NotaryError(
        'key-unavailable',
        `the master key of device ${req.deviceId} cannot be unwrapped (${error.code}); no key was released`,
        { auditId: event.id },
        { cause: e },
      );
    }
  }
  try {
    await deps.index.appendAudit({ ...event, outcome: 'succeeded' });
  } catch (err) {
    master?.fill(0);
    throw err;
  }
  const auditId = event.id;
  return {
    format: KEYS_FORMAT,
    deviceId: req.deviceId,
    range: req.range,
    algorithm: 'AES-256-GCM',
    count: targets.length,
    auditId,
    keys: deriveKeys(master, req.deviceId, targets),
  };
}
