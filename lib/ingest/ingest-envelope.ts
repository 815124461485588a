/**
 * Ingest of one record envelope, in the order that makes every step safe to repeat and nothing half-written:
 *
 *   1. validate structure, device and clock       (reject: nothing stored)
 *   2. check the ciphertext hash                  (reject: nothing stored)
 *   3. look for the same (device, seq)            (same hash: duplicate)
 *   4. check the origin against the device's keys (reject: nothing stored; docs/device-keys.md)
 *   5. (device, seq) taken by another hash        (replay, rejected)
 *   6. store the envelope under its record hash   (content-derived key: a retry rewrites identical bytes)
 *   7. conditional put of the index entry         (which is also the anchor-queue entry)
 *   8. the caller acks
 *
 * A crash between 6 and 7 leaves an unreferenced object and no ack; the device resends and step 6 repeats.
 *
 * Step 4: a v2 envelope must name an active key of its device and carry a valid signature by it; a v1
 * envelope is accepted only from a device that allows unsigned records. A redelivery of a stored record is a
 * duplicate even if its key was revoked since: those bytes were checked when they were first accepted.
 * Steps 3-7 hold the device's gate shared, so no rotation of the device runs in between (device-gate.ts).
 */
import { toBase64, toHex } from '../core/bytes.js';
import { recordIdOf } from '../core/device-id.js';
import {
  checkCiphertextHash,
  type ParsedEnvelope,
  parseEnvelope,
  type RecordHeader,
  recordHashOf,
  recordSigningDigest,
} from '../core/envelope.js';
import { signerCheck } from '../devices/device-keys.js';
import type { ObjectStore, RecordEntry, RecordIndex, Via } from '../ports.js';
import { recordObjectKey } from '../record-object.js';
import type { DeviceGate } from './device-gate.js';
import type { DeviceKeyCache } from './device-key-cache.js';
import type { SignatureVerifier } from './signature-verifier.js';
import type { StoredSeqBound } from './stored-seq-bound.js';

export interface IngestLimits {
  /** How far ahead of the backend clock a device timestamp may be. */
  maxClockSkewMs: number;
}

/** What checks a record's origin: the devices' key state (cached) and a signature verifier. */
export interface OriginDeps {
  keys: Pick<DeviceKeyCache, 'get' | 'generation'>;
  verifier: Pick<SignatureVerifier, 'verify'>;
  /**
   * Keeps records and key rotations of one device from overlapping in this process (lib/ingest/device-gate.ts).
   * The runtimes always pass one; without it, acceptance times are plain clock readings.
   */
  gate?: DeviceGate;
}

export interface IngestDeps {
  objects: ObjectStore;
  index: RecordIndex;
  clock: () => number;
  limits: IngestLimits;
  origin: OriginDeps;
  /**
   * Lets step 3 skip the lookup of a seq no record can hold yet (lib/ingest/stored-seq-bound.ts). Without it,
   * every record is looked up.
   */
  seqs?: StoredSeqBound;
}

export type IngestOutcome =
  | { status: 'stored' | 'duplicate'; recordId: string; seq: number }
  | { status: 'rejected'; code: string; reason: string; seq?: number };

export { recordObjectKey };

const reject = (code: string, reason: string, seq?: number): IngestOutcome =>
  seq === undefined ? { status: 'rejected', code, reason } : { status: 'rejected', code, reason, seq };

export async function ingestEnvelope(
  deps: IngestDeps,
  msg: { deviceId: string; bytes: Uint8Array; via: Via },
): Promise<IngestOutcome> {
  const pre = precheck(deps, msg);
  if (!pre.ok) return pre.outcome;
  // From the key read until the record is stored, no rotation of this device runs in this process.
  const accept = async (stamp: () => number): Promise<IngestOutcome> => {
    const admitted = await admit(deps, pre, stamp);
    return admitted.status === 'admitted'
      ? store(deps, msg, pre.env, admitted.receivedAt, pre.recordHash)
      : admitted;
  };
  const gate = deps.origin.gate;
  return gate ? gate.shared(msg.deviceId, accept) : accept(deps.clock);
}

/** An envelope that passed steps 1-2, with what later steps need. */
export interface Prechecked {
  ok: true;
  env: ParsedEnvelope;
  recordHash: string;
  recordId: string;
}

/** Steps 1-2: structure, device, clock and ciphertext hash. Nothing is read or stored. */
export function precheck(
  deps: Pick<IngestDeps, 'clock' | 'limits'>,
  msg: { deviceId: string; bytes: Uint8Array },
): Prechecked | { ok: false; outcome: IngestOutcome } {
  const refuse = (code: string, reason: string, seq?: number) => ({
    ok: false as const,
    outcome: reject(code, reason, seq),
  });
  const env = parseEnvelope(msg.bytes);
  if (!env.ok) return refuse(env.code, env.message);
  const { header } = env;
  if (header.deviceId !== msg.deviceId) {
    return refuse(
      'device-mismatch',
      `envelope is for device ${header.deviceId}, published by ${msg.deviceId}`,
      header.seq,
    );
  }
  const now = deps.clock();
  if (header.timestamp > now + deps.limits.maxClockSkewMs) {
    return refuse(
      'timestamp-in-future',
      `timestamp ${header.timestamp} is ${header.timestamp - now} ms ahead of the backend clock`,
      header.seq,
    );
  }
  const hashCheck = checkCiphertextHash(env);
  if (!hashCheck.ok) return refuse(hashCheck.code, hashCheck.message, header.seq);
  return {
    ok: true,
    env,
    recordHash: toHex(recordHashOf(env.headerBytes)),
    recordId: recordIdOf(header.deviceId, header.seq),
  };
}

/**
 * Steps 3-5, for an envelope that passed `precheck`: the answer (duplicate, refused) or the acceptance time to
 * store it with. The caller holds the device's gate shared and stores the admitted envelope before releasing it.
 */
export async function admit(
  deps: IngestDeps,
  pre: Prechecked,
  stamp: () => number,
): Promise<IngestOutcome | { status: 'admitted'; receivedAt: number }> {
  const { env, recordHash, recordId } = pre;
  const { header } = env;
  const lookup = deps.seqs ? await deps.seqs.mayBeStored(header.deviceId, header.seq) : true;
  // Both reads at once: on AWS each is a round trip to DynamoDB.
  const [looked, origin] = await Promise.all([
    lookup ? deps.index.getRecord(header.deviceId, header.seq) : undefined,
    checkOrigin(deps.origin, header, env.headerBytes),
  ]);
  // A refusal on origin is rare; the record is read first whatever the bound said, because a redelivery of a
  // stored record is a duplicate even if its key was revoked since.
  const seen = origin.ok || lookup ? looked : await deps.index.getRecord(header.deviceId, header.seq);
  if (seen?.recordHash === recordHash) return { status: 'duplicate', recordId, seq: header.seq };
  if (!origin.ok) return reject(origin.code, origin.reason, header.seq);
  if (seen) return sameOrReplay(seen, recordHash, recordId, header.seq);
  // Acceptance time, which orders the record among key events in the log, is taken after the key state was
  // read; if that state changed meanwhile (a revocation through this process), it is read again.
  const receivedAt = stamp();
  if (deps.origin.keys.generation(header.deviceId) !== origin.generation) {
    const again = await checkOrigin(deps.origin, header, env.headerBytes, {
      fresh: true,
      signature: false,
    });
    if (!again.ok) return reject(again.code, again.reason, header.seq);
  }
  deps.seqs?.storing(header.deviceId, header.seq);
  return { status: 'admitted', receivedAt };
}

/**
 * Steps 6-7 alone: stores an envelope and its index entry (the anchor-queue entry) with no check at all but
 * that it parses. Ingest calls it once every check passed. Tests call it to play an operator who writes to the
 * stores behind ingest's back, which is exactly what holding DATA_DIR or the tables allows: what such a record
 * looks like to a verifier is what the proofs must show (tests/e2e/forgery.test.ts).
 */
export async function storeEnvelope(
  deps: Pick<IngestDeps, 'objects' | 'index'>,
  msg: { bytes: Uint8Array; via: Via; receivedAt: number },
): Promise<IngestOutcome> {
  const env = parseEnvelope(msg.bytes);
  if (!env.ok) return reject(env.code, env.message);
  return store(deps, msg, env, msg.receivedAt);
}

async function store(
  deps: Pick<IngestDeps, 'objects' | 'index'>,
  msg: { bytes: Uint8Array; via: Via },
  env: ParsedEnvelope,
  receivedAt: number,
  // Ingest hashed the header already (precheck); a SHA-256 per record saved on the broker's thread.
  recordHash = toHex(recordHashOf(env.headerBytes)),
): Promise<IngestOutcome> {
  const { header } = env;
  const recordId = recordIdOf(header.deviceId, header.seq);
  const objectKey = recordObjectKey(header.deviceId, recordHash);
  // No sha256 passed: the local store does not need one, and S3's adapter computes its checksum itself.
  await deps.objects.put(objectKey, msg.bytes);
  const put = await deps.index.putRecord(
    recordEntryOf(env, { receivedAt, objectKey, via: msg.via, envelopeSize: msg.bytes.length }, recordHash),
  );
  if (put.outcome === 'created') return { status: 'stored', recordId, seq: header.seq };
  if (put.outcome === 'conflict' && put.existing.objectKey !== objectKey) {
    // Lost a race against a different record with the same seq: ours is referenced by nothing.
    await deps.objects.delete(objectKey);
  }
  return sameOrReplay(put.existing, recordHash, recordId, header.seq);
}

/** The index entry of a parsed envelope stored at `objectKey` (at `objectRange` in it, for a pack). */
export function recordEntryOf(
  env: ParsedEnvelope,
  at: Pick<RecordEntry, 'receivedAt' | 'objectKey' | 'objectRange' | 'via' | 'envelopeSize'>,
  recordHash = toHex(recordHashOf(env.headerBytes)),
): RecordEntry {
  const { header } = env;
  return {
    recordId: recordIdOf(header.deviceId, header.seq),
    deviceId: header.deviceId,
    seq: header.seq,
    timestamp: header.timestamp,
    receivedAt: at.receivedAt,
    recordHash,
    prevHash: toHex(header.prevHash),
    ciphertextHash: toHex(header.ciphertextHash),
    ciphertextLength: header.ciphertextLength,
    envelopeSize: at.envelopeSize,
    header: toBase64(env.headerBytes),
    objectKey: at.objectKey,
    ...(at.objectRange ? { objectRange: at.objectRange } : {}),
    via: at.via,
  };
}

type OriginCheck = { ok: true; generation: number } | { ok: false; code: string; reason: string };

/**
 * May this device have sent this header (docs/device-keys.md)? A refusal read from the cache is confirmed by a
 * fresh read first: the cache may predate a key registered or rotated to since.
 */
async function checkOrigin(
  o: OriginDeps,
  header: RecordHeader,
  headerBytes: Uint8Array,
  opts: { fresh?: boolean; signature?: boolean } = {},
): Promise<OriginCheck> {
  const generation = o.keys.generation(header.deviceId);
  let check = signerCheck(
    await o.keys.get(header.deviceId, { fresh: opts.fresh === true }),
    header.signature,
  );
  if (!check.ok && !opts.fresh)
    check = signerCheck(await o.keys.get(header.deviceId, { fresh: true }), header.signature);
  if (!check.ok) return { ok: false, code: check.code, reason: check.reason };
  const sig = header.signature;
  if (sig && check.key && opts.signature !== false) {
    const valid = await o.verifier.verify(
      check.key.alg,
      check.key.publicKey,
      recordSigningDigest(headerBytes),
      sig.sig,
    );
    if (!valid)
      return {
        ok: false,
        code: 'signature-invalid',
        reason: `the signature does not verify under key ${toHex(sig.keyId)}`,
      };
  }
  return { ok: true, generation };
}

export function sameOrReplay(
  existing: RecordEntry,
  recordHash: string,
  recordId: string,
  seq: number,
): IngestOutcome {
  if (existing.recordHash === recordHash) return { status: 'duplicate', recordId, seq };
  return reject(
    'sequence-replayed',
    `seq ${seq} is already stored for this device with a different record hash (${existing.recordHash.slice(0, 16)}…)`,
    seq,
  );
}
