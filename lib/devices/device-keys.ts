/**
 * A device's signing keys (docs/device-keys.md): the rules that change them and the checks ingest runs
 * against them. The key state lives on the device's registry entry (DeviceEntry.keys), one conditional write
 * per change guarded by its revision; every change is also a key event, a statement stored and anchored in
 * the same batches as records, which is what a verifier checks (the state is the backend's fast copy).
 *
 * Write order, and why:
 *  - Operator events (register, revoke) store the statement first, then change the state. A crash between
 *    leaves an anchored event the state does not reflect yet; the operator's retry writes a second event (a
 *    new time, so new bytes) and the state. Two register or revoke events for one key say the same thing.
 *  - A rotation (the device's own statement) changes the state first, then stores the statement. Two
 *    rotations away from one key can race; the revision lets exactly one win, and the loser is refused before
 *    anything of it is stored, so the log never holds a rotation the backend did not apply. A crash between
 *    leaves the state naming a statement not stored yet; the device's retry (it is not acked) finds its own
 *    rotation applied and stores the statement. The device uses the new key only after the ack.
 *
 * Refusals are values (KeyOutcome) with the stable codes of docs/topics.md, for ingest to ack and
 * dead-letter; operator requests that cannot be served throw NotaryError, mapped by the API.
 *
 * Size (over 500 lines): the operator's changes, the device's rotations and heads, and the view share the
 * write orders above and the revision guard; split apart, each half would restate them. A split by actor
 * (operator / device) is the natural next cut.
 */
import { fromBase64, toBase64, toHex } from '../core/bytes.js';
import { headDigest, parseHead } from '../core/device-head.js';
import {
  keyIdOf,
  normalizePublicKey,
  PUBLIC_KEY_BYTES,
  type SigAlg,
  verifyDigest,
} from '../core/device-signature.js';
import { isNotaryError, NotaryError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import {
  encodeKeyEvent,
  keyEventDigest,
  parseKeyEvent,
  type RevokeReason,
  type RotateEvent,
} from '../core/key-event.js';
import { leafHashOf } from '../core/leaf.js';
import {
  type AuditEvent,
  type AuditLog,
  type BatchState,
  type BatchStore,
  type DeviceEntry,
  type DeviceKey,
  type DeviceKeyRegistry,
  type DeviceRegistry,
  type KeyEventRef,
  type StatementEntry,
  type StatementStore,
  statementIdOf,
} from '../ports.js';
import { StorageError } from '../storage-error.js';

export interface DeviceKeysDeps {
  devices: DeviceRegistry & DeviceKeyRegistry & AuditLog;
  statements: StatementStore;
  clock: () => number;
}

/**
 * Checks one signature over a 32-byte digest. Default: the pure core verifier. Ingest may pass a faster one
 * (node:crypto in a worker pool); it must agree with the core's on every input.
 */
export type DigestVerifier = (
  alg: SigAlg,
  publicKey: Uint8Array,
  digest: Uint8Array,
  sig: Uint8Array,
) => boolean | Promise<boolean>;

/** How many times a change is retried after another writer changed the same device's keys first. */
const UPDATE_ATTEMPTS = 8;

// ------------------------------------------------------------------------------------------ reading

/** Where a key stands for one device; `active` carries what verifying needs. */
export type KeyState =
  | { state: 'active'; key: DeviceKey; alg: SigAlg; publicKey: Uint8Array }
  | { state: 'revoked'; key: DeviceKey }
  | { state: 'unknown' };

/** The state of `keyId` (hex or bytes) among a device's keys; pure. */
export function keyStateOf(device: DeviceEntry | undefined, keyId: string | Uint8Array): KeyState {
  const id = typeof keyId === 'string' ? keyId : toHex(keyId);
  const key = device?.keys.find((k) => k.keyId === id);
  if (!key) return { state: 'unknown' };
  if (key.status === 'revoked') return { state: 'revoked', key };
  const publicKey = fromBase64(key.publicKey);
  // A stored key that does not decode is not a key anyone can sign with.
  if (publicKey?.length !== PUBLIC_KEY_BYTES[key.alg]) return { state: 'unknown' };
  return { state: 'active', key, alg: key.alg, publicKey };
}

/** The state of a key of a device, read from the registry: what ingest asks before checking a signature. */
export async function keyForSignature(
  deps: { devices: DeviceRegistry },
  deviceId: string,
  keyId: string | Uint8Array,
): Promise<KeyState> {
  return keyStateOf(await deps.devices.getDevice(deviceId), keyId);
}

/** A refusal for ingest: acked `rejected` with this code and dead-lettered. */
export interface KeyRefusal {
  status: 'rejected';
  code:
    | 'unsigned-not-allowed'
    | 'key-unknown'
    | 'key-revoked'
    | 'key-exists'
    | 'signature-invalid'
    | 'device-mismatch'
    | 'device-unknown'
    | 'not-a-rotation'
    | 'timestamp-in-future'
    | string;
  reason: string;
}

const refuse = (code: KeyRefusal['code'], reason: string): KeyRefusal => ({
  status: 'rejected',
  code,
  reason,
});

/**
 * Whether a record's signer may sign for this device now (pure): a v1 record (no signature) needs
 * `allowUnsigned`; a v2 record needs an active key of the device under its key id. The signature itself is
 * checked by the caller with the key returned.
 */
export function signerCheck(
  device: DeviceEntry | undefined,
  signature: { alg: SigAlg; keyId: Uint8Array } | undefined,
): { ok: true; key?: { alg: SigAlg; publicKey: Uint8Array } } | ({ ok: false } & Omit<KeyRefusal, 'status'>) {
  if (!device) return { ok: false, code: 'device-unknown', reason: 'the device is not provisioned' };
  if (!signature) {
    return device.allowUnsigned
      ? { ok: true }
      : {
          ok: false,
          code: 'unsigned-not-allowed',
          reason: 'this device must sign its records (envelope v2)',
        };
  }
  const s = keyStateOf(device, signature.keyId);
  if (s.state === 'unknown')
    return { ok: false, code: 'key-unknown', reason: `key ${toHex(signature.keyId)} is not registered` };
  if (s.state === 'revoked')
    return {
      ok: false,
      code: 'key-revoked',
      reason: `key ${s.key.keyId} was ${s.key.revokedBy?.type === 'rotate' ? 'rotated away' : 'revoked'}`,
    };
  if (s.alg !== signature.alg)
    return { ok: false, code: 'key-unknown', reason: `key ${s.key.keyId} is not a ${signature.alg} key` };
  return { ok: true, key: { alg: s.alg, publicKey: s.publicKey } };
}

// ------------------------------------------------------------------------------------------ writing

/** Applies `change` to the device's keys with retries on concurrent updates; `change` may refuse by throwing. */
async function updateKeys(
  deps: Pick<DeviceKeysDeps, 'devices'>,
  deviceId: string,
  change: (device: DeviceEntry) => { keys: DeviceKey[]; allowUnsigned: boolean } | 'unchanged',
): Promise<DeviceEntry> {
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    const device = await deps.devices.getDevice(deviceId);
    if (!device) throw new NotaryError('device-not-found', `no device ${deviceId}`);
    const next = change(device);
    if (next === 'unchanged') return device;
    const r = await deps.devices.updateDeviceKeys(deviceId, next, device.keysRevision);
    if (r === 'updated') return { ...device, ...next, keysRevision: device.keysRevision + 1 };
    if (r === 'not-found') throw new NotaryError('device-not-found', `no device ${deviceId}`);
  }
  throw new NotaryError('conflict', `the keys of device ${deviceId} kept changing; try again`);
}

/**
 * Runs an operator's change and then writes its audit event with the outcome (docs/api.md, GET /v1/audit):
 * `succeeded`, or `failed` with the error's stable code when the change failed after its checks passed.
 * Refusals before anything was attempted (bad request, unknown device or key) are not audited.
 */
async function audited<T>(
  deps: Pick<DeviceKeysDeps, 'devices'>,
  event: Omit<AuditEvent, 'outcome' | 'error'>,
  change: () => Promise<T>,
): Promise<T> {
  let out: T;
  try {
    out = await change();
  } catch (e) {
    const error = {
      code: isNotaryError(e) ? e.code : 'internal',
      message: e instanceof Error ? e.message : String(e),
    };
    try {
      await deps.devices.appendAudit({ ...event, outcome: 'failed', error });
    } catch (auditError) {
      throw new AggregateError([e, auditError], `${event.action} failed, and so did writing its audit event`);
    }
    throw e;
  }
  await deps.devices.appendAudit({ ...event, outcome: 'succeeded' });
  return out;
}

/** Stores a key event as a statement (queued for anchoring); the same bytes again are found, not doubled. */
async function storeKeyEvent(
  deps: Pick<DeviceKeysDeps, 'statements'>,
  e: { deviceId: string; bytes: Uint8Array; type: KeyEventRef['type']; keyId: string; receivedAt: number },
): Promise<StatementEntry> {
  const leafHash = toHex(leafHashOf(e.bytes));
  const entry: StatementEntry = {
    statementId: statementIdOf(e.deviceId, leafHash),
    deviceId: e.deviceId,
    kind: 'key-event',
    leaf: toBase64(e.bytes),
    leafHash,
    receivedAt: e.receivedAt,
    keyEvent: { type: e.type, keyId: e.keyId },
  };
  const put = await deps.statements.putStatement(entry);
  return put.outcome === 'created' ? entry : put.existing;
}

export interface PublicKeyInput {
  alg: SigAlg;
  /** Raw public key: 32 bytes Ed25519; 33 (compressed) or 65 (uncompressed) bytes P-256. */
  publicKey: Uint8Array;
}

/** The normalised key and its id; a key that is not a valid point is a bad request. */
export function normalizedKey(input: PublicKeyInput): { alg: SigAlg; publicKey: Uint8Array; keyId: string } {
  const n = normalizePublicKey(input.alg, input.publicKey);
  if (!n.ok) throw new NotaryError('bad-request', `publicKey: ${n.message}`);
  return { alg: input.alg, publicKey: n.publicKey, keyId: toHex(keyIdOf(input.alg, n.publicKey)) };
}

export interface KeyChange {
  deviceId: string;
  key: DeviceKey;
  /** The key event that records the change, queued for anchoring. */
  event: { statementId: string; leafHash: string; type: KeyEventRef['type'] };
}

/**
 * The operator registers a key for a device (at provisioning, or after the device lost its key): a register
 * event, then the key is active. Audited. A key the device has or had is refused (`key-exists`): a revoked
 * key never comes back.
 */
export async function registerKey(
  deps: DeviceKeysDeps,
  req: PublicKeyInput & { deviceId: string; actor: string; reason?: string },
): Promise<KeyChange> {
  const k = normalizedKey(req);
  const device = await deps.devices.getDevice(req.deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${req.deviceId}`);
  if (device.keys.some((x) => x.keyId === k.keyId))
    throw new NotaryError('key-exists', `device ${req.deviceId} already has (or had) key ${k.keyId}`);
  const at = deps.clock();
  return audited(
    deps,
    {
      id: newId(at, 'au-'),
      at,
      actor: req.actor,
      action: 'device-key-registered',
      target: `${req.deviceId}/keys/${k.keyId}`,
      ...(req.reason === undefined ? {} : { reason: req.reason }),
    },
    async () => {
      const bytes = encodeKeyEvent({
        type: 'register',
        deviceId: req.deviceId,
        time: at,
        alg: k.alg,
        publicKey: k.publicKey,
      });
      const stored = await storeKeyEvent(deps, {
        deviceId: req.deviceId,
        bytes,
        type: 'register',
        keyId: k.keyId,
        receivedAt: at,
      });
      const key: DeviceKey = {
        keyId: k.keyId,
        alg: k.alg,
        publicKey: toBase64(k.publicKey),
        status: 'active',
        registeredBy: { statementId: stored.statementId, type: 'register', at },
      };
      await updateKeys(deps, req.deviceId, (d) => {
        if (d.keys.some((x) => x.keyId === k.keyId))
          throw new NotaryError('key-exists', `device ${req.deviceId} already has (or had) key ${k.keyId}`);
        return { keys: [...d.keys, key], allowUnsigned: d.allowUnsigned };
      });
      return {
        deviceId: req.deviceId,
        key,
        event: { statementId: stored.statementId, leafHash: stored.leafHash, type: 'register' as const },
      };
    },
  );
}

/** The operator revokes a key: a revoke event, then ingest refuses the key at once. Audited. */
export async function revokeKey(
  deps: DeviceKeysDeps,
  req: { deviceId: string; keyId: string; code: RevokeReason; reason: string; actor: string },
): Promise<KeyChange> {
  const device = await deps.devices.getDevice(req.deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${req.deviceId}`);
  const key = device.keys.find((x) => x.keyId === req.keyId);
  if (!key) throw new NotaryError('key-not-found', `device ${req.deviceId} has no key ${req.keyId}`);
  if (key.status === 'revoked')
    throw new NotaryError('key-revoked', `key ${req.keyId} of device ${req.deviceId} is already revoked`, {
      revokedBy: key.revokedBy,
    });
  const publicKey = fromBase64(key.publicKey);
  if (!publicKey)
    throw new StorageError(
      'storage-malformed',
      `device ${req.deviceId}: stored key ${key.keyId} is not base64`,
    );
  const at = deps.clock();
  return audited(
    deps,
    {
      id: newId(at, 'au-'),
      at,
      actor: req.actor,
      action: 'device-key-revoked',
      target: `${req.deviceId}/keys/${req.keyId}`,
      reason: `${req.code}: ${req.reason}`,
    },
    async () => {
      const bytes = encodeKeyEvent({
        type: 'revoke',
        deviceId: req.deviceId,
        time: at,
        alg: key.alg,
        publicKey,
        reason: req.code,
      });
      const stored = await storeKeyEvent(deps, {
        deviceId: req.deviceId,
        bytes,
        type: 'revoke',
        keyId: key.keyId,
        receivedAt: at,
      });
      const revokedBy = { statementId: stored.statementId, type: 'revoke' as const, at, reason: req.code };
      const after = await updateKeys(deps, req.deviceId, (d) => {
        const current = d.keys.find((x) => x.keyId === req.keyId);
        // Revoked meanwhile (a concurrent revoke or a rotation): the first retirement stands.
        if (!current || current.status === 'revoked') return 'unchanged';
        return {
          keys: d.keys.map((x) => (x.keyId === req.keyId ? { ...x, status: 'revoked', revokedBy } : x)),
          allowUnsigned: d.allowUnsigned,
        };
      });
      return {
        deviceId: req.deviceId,
        key: after.keys.find((x) => x.keyId === req.keyId) ?? {
          ...key,
          status: 'revoked' as const,
          revokedBy,
        },
        event: { statementId: stored.statementId, leafHash: stored.leafHash, type: 'revoke' as const },
      };
    },
  );
}

/** The operator allows or forbids unsigned (v1) envelopes for a device. Audited. */
export async function setAllowUnsigned(
  deps: Pick<DeviceKeysDeps, 'devices' | 'clock'>,
  req: { deviceId: string; allowUnsigned: boolean; actor: string },
): Promise<DeviceEntry> {
  if (!(await deps.devices.getDevice(req.deviceId)))
    throw new NotaryError('device-not-found', `no device ${req.deviceId}`);
  const at = deps.clock();
  return audited(
    deps,
    {
      id: newId(at, 'au-'),
      at,
      actor: req.actor,
      action: 'device-updated',
      target: req.deviceId,
      reason: `allowUnsigned=${req.allowUnsigned}`,
    },
    () =>
      updateKeys(deps, req.deviceId, (d) =>
        d.allowUnsigned === req.allowUnsigned
          ? 'unchanged'
          : { keys: d.keys, allowUnsigned: req.allowUnsigned },
      ),
  );
}

// ------------------------------------------------------------------------------------------ device statements

export type StatementOutcome = { status: 'stored' | 'duplicate'; statementId: string } | KeyRefusal;

export interface DeviceStatementDeps extends DeviceKeysDeps {
  /** How far a device clock may be ahead of the backend's (MAX_CLOCK_SKEW_MS). */
  maxClockSkewMs: number;
  verify?: DigestVerifier;
}

/**
 * A rotation published by the device (devices/{id}/keys): both signatures checked, the old key retired, the
 * new key active, the event stored for anchoring. `stored` once applied; `duplicate` for a redelivery.
 */
export async function acceptRotation(
  deps: DeviceStatementDeps,
  msg: { deviceId: string; bytes: Uint8Array },
): Promise<StatementOutcome> {
  const parsed = parseKeyEvent(msg.bytes);
  if (!parsed.ok) return refuse(`key-event-${parsed.code}`, parsed.message);
  const event = parsed.event;
  if (event.type !== 'rotate')
    return refuse('not-a-rotation', `a device publishes rotations only; this is a ${event.type} event`);
  if (event.deviceId !== msg.deviceId)
    return refuse('device-mismatch', `event is for device ${event.deviceId}, published by ${msg.deviceId}`);
  // Taken before the keys change, so a record checked against the new key is never accepted earlier.
  const receivedAt = deps.clock();
  if (event.time > receivedAt + deps.maxClockSkewMs)
    return refuse('timestamp-in-future', `time ${event.time} is ${event.time - receivedAt} ms ahead`);
  const newKeyId = toHex(parsed.keyId);
  const oldKeyId = toHex(event.oldKeyId);
  const leafHash = toHex(leafHashOf(parsed.bytes));
  const statementId = statementIdOf(msg.deviceId, leafHash);
  const device = await deps.devices.getDevice(msg.deviceId);
  if (!device) return refuse('device-unknown', `device ${msg.deviceId} is not provisioned`);

  // Applied already (a redelivery, or a retry after a crash before the statement was stored).
  const applied = device.keys.find((k) => k.keyId === newKeyId)?.registeredBy.statementId === statementId;
  if (!applied) {
    const refusal = await checkRotation(deps, device, event, oldKeyId, newKeyId);
    if (refusal) return refusal;
    const newKey: DeviceKey = {
      keyId: newKeyId,
      alg: event.alg,
      publicKey: toBase64(event.publicKey),
      status: 'active',
      registeredBy: { statementId, type: 'rotate', at: receivedAt },
    };
    let lost: KeyRefusal | undefined;
    try {
      await updateKeys(deps, msg.deviceId, (d) => {
        if (d.keys.find((k) => k.keyId === newKeyId)?.registeredBy.statementId === statementId)
          return 'unchanged';
        const old = d.keys.find((k) => k.keyId === oldKeyId);
        if (old?.status !== 'active') {
          lost = refuse('key-revoked', `key ${oldKeyId} was retired while this rotation was applied`);
          return 'unchanged';
        }
        if (d.keys.some((k) => k.keyId === newKeyId)) {
          lost = refuse('key-exists', `key ${newKeyId} is or was a key of this device`);
          return 'unchanged';
        }
        const revokedBy = { statementId, type: 'rotate' as const, at: receivedAt };
        return {
          keys: [
            ...d.keys.map((k) =>
              k.keyId === oldKeyId ? { ...k, status: 'revoked' as const, revokedBy } : k,
            ),
            newKey,
          ],
          allowUnsigned: d.allowUnsigned,
        };
      });
    } catch (e) {
      if (e instanceof NotaryError && e.code === 'device-not-found')
        return refuse('device-unknown', `device ${msg.deviceId} is not provisioned`);
      throw e;
    }
    if (lost) return lost;
  }
  const stored = await storeKeyEvent(deps, {
    deviceId: msg.deviceId,
    bytes: parsed.bytes,
    type: 'rotate',
    keyId: newKeyId,
    receivedAt,
  });
  // The statement existed before this delivery: the device is told it was a redelivery.
  const redelivered = applied && stored.receivedAt !== receivedAt;
  return { status: redelivered ? 'duplicate' : 'stored', statementId: stored.statementId };
}

async function checkRotation(
  deps: DeviceStatementDeps,
  device: DeviceEntry,
  event: RotateEvent,
  oldKeyId: string,
  newKeyId: string,
): Promise<KeyRefusal | undefined> {
  const old = keyStateOf(device, oldKeyId);
  if (old.state === 'unknown') return refuse('key-unknown', `key ${oldKeyId} is not registered`);
  if (old.state === 'revoked') return refuse('key-revoked', `key ${oldKeyId} is already retired`);
  if (device.keys.some((k) => k.keyId === newKeyId))
    return refuse('key-exists', `key ${newKeyId} is or was a key of this device`);
  const verify = deps.verify ?? verifyDigest;
  const d = keyEventDigest(event);
  if (!(await verify(event.alg, event.publicKey, d, event.newSig)))
    return refuse('signature-invalid', 'the new key did not sign the rotation');
  if (!(await verify(old.alg, old.publicKey, d, event.oldSig)))
    return refuse('signature-invalid', 'the old key did not sign the rotation');
  return undefined;
}

/**
 * A head published by the device (devices/{id}/heads): signed by an active key of the device, its time not
 * ahead of the backend clock by more than the skew; stored for anchoring. A redelivery is `duplicate`.
 */
export async function acceptHead(
  deps: DeviceStatementDeps,
  msg: { deviceId: string; bytes: Uint8Array },
): Promise<StatementOutcome & { count?: number }> {
  const parsed = parseHead(msg.bytes);
  if (!parsed.ok) return refuse(`head-${parsed.code}`, parsed.message);
  const head = parsed.head;
  if (head.deviceId !== msg.deviceId)
    return refuse('device-mismatch', `head is for device ${head.deviceId}, published by ${msg.deviceId}`);
  const device = await deps.devices.getDevice(msg.deviceId);
  const signer = signerCheck(device, { alg: head.alg, keyId: head.keyId });
  if (!signer.ok) return refuse(signer.code, signer.reason);
  const key = signer.key as { alg: SigAlg; publicKey: Uint8Array };
  if (!(await (deps.verify ?? verifyDigest)(key.alg, key.publicKey, headDigest(head), head.sig)))
    return refuse('signature-invalid', 'the head signature does not verify');
  // After the key check, as for records: acceptance order follows the key state it was checked against.
  const receivedAt = deps.clock();
  if (head.time > receivedAt + deps.maxClockSkewMs)
    return refuse('timestamp-in-future', `time ${head.time} is ${head.time - receivedAt} ms ahead`);
  const leafHash = toHex(leafHashOf(parsed.bytes));
  const put = await deps.statements.putStatement({
    statementId: statementIdOf(msg.deviceId, leafHash),
    deviceId: msg.deviceId,
    kind: 'head',
    leaf: toBase64(parsed.bytes),
    leafHash,
    receivedAt,
    head: { count: head.count, time: head.time },
  });
  return {
    status: put.outcome === 'created' ? 'stored' : 'duplicate',
    statementId: statementIdOf(msg.deviceId, leafHash),
    count: head.count,
  };
}

// ------------------------------------------------------------------------------------------ listing

export interface KeyEventView {
  statementId: string;
  type: KeyEventRef['type'];
  /** Hex id of the subject key (registered, rotated to, revoked). */
  keyId: string;
  receivedAt: number;
  /** Base64 of the key event's bytes: the leaf. */
  leaf: string;
  leafHash: string;
  /** 'queued' until it is in a batch; then the batch's state (built, anchored, final). */
  anchoring: 'queued' | BatchState;
  batch?: { batchId: string; leafIndex: number };
}

export interface DeviceKeysView {
  deviceId: string;
  allowUnsigned: boolean;
  keys: DeviceKey[];
  /** In acceptance order. */
  keyEvents: KeyEventView[];
}

const KEY_EVENT_PAGE = 200;

/** The device's keys with their state, and its key events with their anchoring state. */
export async function describeDeviceKeys(
  deps: { devices: DeviceRegistry; statements: StatementStore; batches: BatchStore },
  deviceId: string,
): Promise<DeviceKeysView> {
  const device = await deps.devices.getDevice(deviceId);
  if (!device) throw new NotaryError('device-not-found', `no device ${deviceId}`);
  const events: StatementEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.statements.listKeyEvents(deviceId, {
      limit: KEY_EVENT_PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    events.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  const states = new Map<string, BatchState | undefined>();
  for (const id of new Set(events.flatMap((e) => (e.batch ? [e.batch.batchId] : [])))) {
    states.set(id, (await deps.batches.getBatch(id))?.state);
  }
  return {
    deviceId,
    allowUnsigned: device.allowUnsigned,
    keys: device.keys,
    keyEvents: events.map((e) => ({
      statementId: e.statementId,
      type: e.keyEvent?.type ?? 'register',
      keyId: e.keyEvent?.keyId ?? '',
      receivedAt: e.receivedAt,
      leaf: e.leaf,
      leafHash: e.leafHash,
      anchoring: e.batch ? (states.get(e.batch.batchId) ?? 'built') : 'queued',
      ...(e.batch ? { batch: e.batch } : {}),
    })),
  };
}
