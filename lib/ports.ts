/**
 * The ports: the only interfaces between the use cases in lib/ and the outside world. Each has a local
 * adapter (lib/adapters/local, the embedded default) and a cloud or real-chain adapter, and one conformance
 * suite (tests/adapters) runs over every adapter of a port.
 *
 * They are shaped for the weakest backend they must fit: no transaction spans two items (DynamoDB's emulator
 * has none and the real one caps them), every write that must not happen twice is a conditional put on one
 * item, and every query the API serves is a key lookup or a range on a sort key, never a scan.
 *
 * Size (over 500 lines): every port in one file, so the contracts the adapters meet are read in one place.
 * The index's domain types live in lib/model (one file and one stored-form schema per entity).
 */

import type { Permission, Scope } from './access/scope.js';
import type { LedgerEntry } from './core/ledger-entry.js';
import type { AuditEvent } from './model/audit-event.js';
import type { AnchorRef, BatchEntry, BatchState, VersionedBatch } from './model/batch.js';
import type { DeadLetter } from './model/dead-letter.js';
import type { DeviceEntry, DeviceKey } from './model/device.js';
import type { RecordEntry } from './model/record.js';

// The domain types of the index live in lib/model (one file and one stored-form schema per entity); they are
// re-exported here so that code written against the ports keeps one import.
export type { AuditEvent, AuditOutcome } from './model/audit-event.js';
export type {
  AnchorPhase,
  AnchorRef,
  BatchEntry,
  BatchState,
  InlinePart,
  VersionedBatch,
} from './model/batch.js';
export { DEAD_LETTER_PAYLOAD_LIMIT, type DeadLetter, type DeadLetterSource } from './model/dead-letter.js';
export type { DeviceEntry, DeviceKey, DeviceKeyAlg, DeviceStatus, KeyEventRef } from './model/device.js';
export type { RecordEntry, Via } from './model/record.js';

// ---------------------------------------------------------------------------------------------- objects

export interface UploadGrant {
  url: string;
  method: 'PUT';
  /** Headers the uploader must send unchanged; they bind the checksum the store enforces. */
  headers: Record<string, string>;
  expiresAt: number;
}

export interface ObjectStore {
  /**
   * Stores `body` under `key`, replacing what was there. Resolves only once the bytes are durable. Pass
   * `sha256` when it is already known: stores that check it (S3) then need not hash the body again.
   */
  put(key: string, body: Uint8Array, opts?: { sha256?: Uint8Array }): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined>;
  head(key: string): Promise<{ size: number } | undefined>;
  delete(key: string): Promise<void>;
  /**
   * A URL that accepts one PUT of exactly `size` bytes whose SHA-256 is `sha256`; the store itself refuses
   * other bytes (S3 through x-amz-checksum-sha256, the local store through its upload endpoint).
   */
  createUploadUrl(
    key: string,
    opts: { sha256: Uint8Array; size: number; expiresInSeconds: number },
  ): Promise<UploadGrant>;
  /**
   * Objects whose key starts with `prefix`, in key order, a page at a time (`limit` at most 1000): what the
   * staged-upload sweep reads to find uploads older than their maximum age.
   */
  list(prefix: string, q: { limit: number; cursor?: string }): Promise<Page<StoredObject>>;
}

export interface StoredObject {
  key: string;
  size: number;
  /** When the object was last put (ms since the Unix epoch); S3's LastModified. */
  storedAt: number;
}

// ---------------------------------------------------------------------------------------------- index

export type PutRecordResult =
  | { outcome: 'created' }
  /** Same device and seq, same record hash: a redelivery; nothing was written. */
  | { outcome: 'duplicate'; existing: RecordEntry }
  /** Same device and seq, different content: a replayed or forged sequence number; nothing was written. */
  | { outcome: 'conflict'; existing: RecordEntry };

export interface Page<T> {
  items: T[];
  /**
   * Opaque cursor for the next page; absent on the last page. Every `list…` method taking `cursor` refuses
   * one it could not have issued with NotaryError `invalid-cursor` (lib/core/page-cursor.ts).
   */
  next?: string;
}

export interface RecordIndex {
  /**
   * One conditional write on (deviceId, seq). A created entry without `batch` is, by that fact, queued for
   * anchoring: index entry and queue entry are the same item, so they cannot be half-written.
   */
  putRecord(entry: RecordEntry): Promise<PutRecordResult>;
  getRecord(deviceId: string, seq: number): Promise<RecordEntry | undefined>;
  /** Records of one device with from <= timestamp < to, by timestamp then seq. */
  listByTime(
    deviceId: string,
    q: { from: number; to: number; limit: number; cursor?: string },
  ): Promise<Page<RecordEntry>>;
  /**
   * The record in force at device time `at`: the greatest timestamp <= at, the greatest seq among equal
   * timestamps (the key-release "time point", docs/api.md). Undefined when the device has none that early.
   */
  recordInForceAt(deviceId: string, at: number): Promise<RecordEntry | undefined>;
  /** Records of one device with fromSeq <= seq <= toSeq, by seq. */
  listBySeq(deviceId: string, q: { fromSeq: number; toSeq: number; limit: number }): Promise<RecordEntry[]>;
  /** Highest seq stored for the device, if any. */
  maxSeq(deviceId: string): Promise<number | undefined>;
  /** Oldest queued records first: by receivedAt, then deviceId, then seq (numerically, so 9 before 10). */
  listPending(limit: number): Promise<RecordEntry[]>;
  countPending(): Promise<number>;
  /** Records each listed record's place in a batch, which takes it out of the queue. Idempotent. */
  assignToBatch(
    assignments: readonly { deviceId: string; seq: number; batchId: string; leafIndex: number }[],
  ): Promise<void>;
  /**
   * Records the CID of the record's pinned hot copy. Idempotent: the same CID again changes nothing (the
   * first `pinnedAt` stays); another CID replaces it. An unknown record is left alone: nothing is created.
   */
  setIpfsCid(deviceId: string, seq: number, cid: string, at: number): Promise<void>;
}

/**
 * What a compare-and-set of a batch's anchors did. 'conflict': another writer changed them since they were
 * read (nothing was written; read again and redo the change). 'not-found': no such batch.
 */
export type AnchorsWriteResult =
  | { status: 'written'; version: number }
  | { status: 'conflict' }
  | { status: 'not-found' };

export interface BatchStore {
  /** Conditional on batchId. */
  putBatch(batch: BatchEntry): Promise<'created' | 'exists'>;
  getBatch(batchId: string): Promise<BatchEntry | undefined>;
  /** The batch with the version its anchors were last written at: what compareAndSetAnchors expects. */
  getBatchVersioned(batchId: string): Promise<VersionedBatch | undefined>;
  /**
   * Compare-and-set of the batch's anchors and state: written only if the anchors are still at
   * `expectedVersion`, which the write then moves on. The store keeps the due key of listAnchorsDue in step
   * (the earliest nextCheckAt, lib/anchor/anchor-slots.ts). How one anchor is merged into the list, and the
   * retry on 'conflict', are lib/anchor's (anchor-slots.ts: addAnchor), written once for every adapter.
   */
  compareAndSetAnchors(
    batchId: string,
    expectedVersion: number,
    next: { anchors: AnchorRef[]; state: BatchState },
  ): Promise<AnchorsWriteResult>;
  /** Batches in state 'built', oldest first: what a restarted anchorer must finish before new work. */
  listUnanchored(): Promise<BatchEntry[]>;
  listBatches(q: { limit: number; cursor?: string }): Promise<Page<BatchEntry>>;
  /**
   * Batches with an anchor whose nextCheckAt <= now, the longest overdue first, at most `limit`: what the
   * finality poller looks up. A batch is listed by the earliest nextCheckAt of its anchors.
   */
  listAnchorsDue(now: number, limit: number): Promise<BatchEntry[]>;
}

export interface DeviceRegistry {
  /** Conditional on deviceId; the first write wins and nothing of a second one is kept. */
  createDevice(device: DeviceEntry): Promise<'created' | 'exists'>;
  getDevice(deviceId: string): Promise<DeviceEntry | undefined>;
  setCredentialHash(deviceId: string, credentialHash: string): Promise<void>;
  listDevices(q: { limit: number; cursor?: string }): Promise<Page<DeviceEntry>>;
}

/**
 * Changes to a device's key state (lib/devices/device-keys.ts holds the rules). Separate from DeviceRegistry
 * so that code which only reads devices cannot change keys.
 */
export interface DeviceKeyRegistry {
  /**
   * Replaces the device's `keys` and `allowUnsigned` in one conditional write, provided its `keysRevision`
   * is still `ifRevision`; the revision then becomes ifRevision + 1. 'conflict': someone changed the keys
   * since the caller read them (read again and retry); nothing was written.
   */
  updateDeviceKeys(
    deviceId: string,
    next: { keys: readonly DeviceKey[]; allowUnsigned: boolean },
    ifRevision: number,
  ): Promise<'updated' | 'conflict' | 'not-found'>;
}

// ---------------------------------------------------------------------------------------------- statements

/**
 * Key events and device heads (docs/device-keys.md): the leaves of a batch that are not records. Like a
 * record, a statement without `batch` is queued for anchoring, and entry and queue entry are one item.
 */
export type StatementKind = 'key-event' | 'head';

export interface StatementEntry {
  /** `<deviceId>:<leafHash>`: a statement is named by its content, so a redelivery finds the first one. */
  statementId: string;
  deviceId: string;
  kind: StatementKind;
  /** Base64 of the leaf data: the whole key event or head, `IOTK…` or `IOTH…`. */
  leaf: string;
  /** Hex SHA-256(0x00 | leaf): the Merkle leaf hash. */
  leafHash: string;
  /** Backend clock when it was accepted: its place in the anchoring order (docs/device-keys.md). */
  receivedAt: number;
  /** For a head: records sealed so far, and the device clock when it signed. */
  head?: { count: number; time: number };
  /** For a key event: its type and the subject key's id (hex). */
  keyEvent?: { type: 'register' | 'rotate' | 'revoke'; keyId: string };
  /** Absent while it waits in the anchor queue. */
  batch?: { batchId: string; leafIndex: number };
}

export const statementIdOf = (deviceId: string, leafHash: string): string => `${deviceId}:${leafHash}`;

export function parseStatementId(id: string): { deviceId: string; leafHash: string } | undefined {
  const m = /^([A-Za-z0-9_-]{1,64}):([0-9a-f]{64})$/.exec(id);
  return m ? { deviceId: m[1] as string, leafHash: m[2] as string } : undefined;
}

/**
 * What every StatementStore adapter refuses before writing (RangeError): a malformed id or hash, or a
 * statement without the fields of its kind as non-negative safe integers.
 */
export function checkStatementEntry(e: StatementEntry): void {
  const id = parseStatementId(e.statementId);
  if (!id || id.deviceId !== e.deviceId || id.leafHash !== e.leafHash)
    throw new RangeError(`statementId ${e.statementId} is not <deviceId>:<leafHash> of this statement`);
  const safe = (n: number | undefined) => n !== undefined && Number.isSafeInteger(n) && n >= 0;
  if (!safe(e.receivedAt)) throw new RangeError('receivedAt must be a non-negative safe integer');
  if (e.kind === 'head' && !(safe(e.head?.count) && safe(e.head?.time)))
    throw new RangeError('a head needs head.count and head.time as non-negative safe integers');
  if (e.kind === 'key-event' && !e.keyEvent) throw new RangeError('a key event needs keyEvent');
}

export type PutStatementResult =
  | { outcome: 'created' }
  /** The same leaf was stored before (a redelivery); nothing was written. */
  | { outcome: 'duplicate'; existing: StatementEntry };

export interface HeadQuery {
  /** Order by `count` (then time) or by device `time` (then count). */
  by: 'count' | 'time';
  /** Bounds on the ordering field, inclusive. */
  min?: number;
  max?: number;
  order: 'asc' | 'desc';
  limit: number;
  cursor?: string;
}

export interface StatementStore {
  /** One conditional write on (deviceId, leafHash). A created entry without `batch` is queued for anchoring. */
  putStatement(entry: StatementEntry): Promise<PutStatementResult>;
  getStatement(deviceId: string, leafHash: string): Promise<StatementEntry | undefined>;
  /** A device's key events in acceptance order: by receivedAt, then leafHash. */
  listKeyEvents(deviceId: string, q: { limit: number; cursor?: string }): Promise<Page<StatementEntry>>;
  /** A device's heads by count or by device time (ties broken by the other field, then leafHash). */
  listHeads(deviceId: string, q: HeadQuery): Promise<Page<StatementEntry>>;
  /**
   * Oldest queued statements first: by receivedAt, then key events before heads (so that merged with the
   * records' queue, a key event accepted in the same millisecond as a record precedes it and a head follows
   * it: lib/anchor/anchor-pending.ts), then deviceId, then leafHash.
   */
  listPending(limit: number): Promise<StatementEntry[]>;
  countPending(): Promise<number>;
  /** Records each listed statement's place in a batch, which takes it out of the queue. Idempotent. */
  assignToBatch(
    assignments: readonly { deviceId: string; leafHash: string; batchId: string; leafIndex: number }[],
  ): Promise<void>;
  close(): Promise<void>;
}

/**
 * The live MQTT connections of devices. A broker checks credentials at CONNECT only, so a changed or revoked
 * credential takes effect on open connections only when they are closed: credential rotation (and any future
 * disable) calls disconnect after committing the change. Embedded: LiveDeviceSessions over aedes. AWS: none,
 * since there a device's credential is its certificate, not the password rotation replaces (docs/deploy.md).
 */
export interface DeviceSessions {
  /** Closes every connection of this device, including one still authenticating; resolves with how many. */
  disconnect(deviceId: string): Promise<number>;
}

export interface DeadLetterStore {
  putDeadLetter(d: DeadLetter): Promise<void>;
  /** Newest first. */
  listDeadLetters(q: { limit: number; cursor?: string; deviceId?: string }): Promise<Page<DeadLetter>>;
  /**
   * Retention: deletes dead letters with `at` < `before`, then the oldest beyond the newest `keep`, at most
   * `limit` in all; resolves to how many it deleted, so a caller repeats while that equals `limit`.
   */
  pruneDeadLetters(q: { before: number; keep: number; limit: number }): Promise<number>;
}

export interface AuditLog {
  appendAudit(e: AuditEvent): Promise<void>;
  /** Newest first. */
  listAudit(q: { limit: number; cursor?: string }): Promise<Page<AuditEvent>>;
}

/**
 * The index's sub-ports taken together, for the composition roots and the use cases that need all of them.
 * Each sub-port has its own adapters; lib/adapters/composite-index-store.ts puts them together.
 */
export interface IndexStore extends RecordIndex, BatchStore, DeviceRegistry, DeadLetterStore, AuditLog {
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- chain

export interface ChainTx {
  txId: string;
  /** The anchored bytes exactly as the chain returns them (see docs/proof-bundle.md per chain). */
  data: Uint8Array;
  /** Block height or ledger position, once included. */
  height?: number;
  blockHash?: string;
  time?: number;
  confirmations: number;
  /** What an offline verifier needs beyond the data, e.g. the embedded ledger's signed entry. */
  evidence?: ChainEvidence;
  /** Fee paid once included, in the chain's smallest unit (wei, BigBang units), as a decimal string. */
  fee?: string;
}

export type ChainEvidence = { kind: 'embedded-ledger'; entry: LedgerEntry; publicKey: string };

export interface Chain {
  /** Stable identifier of this ledger, carried in every proof. */
  readonly chainId: string;
  /**
   * Submits one anchor transaction carrying `data`. `dedupKey` lets chains that can, make a retry after a crash
   * return the first transaction instead of paying twice.
   */
  submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }>;
  lookup(txId: string): Promise<ChainTx | undefined>;
  /**
   * Replaces our transaction `txId`, still waiting for a block, by one carrying the same `data` at a higher
   * fee (on EVM: the same nonce, so only one of them can be mined). Returns the txId that now carries the data:
   * the replacement, or `txId` itself when there was nothing to do (already in a block). Absent on chains
   * where a fee bump does not exist or is not needed (the embedded ledger, BigBang).
   */
  replace?(txId: string, data: Uint8Array): Promise<{ txId: string }>;
  /** Public material a verifier needs, if any (the embedded ledger's Ed25519 key). */
  describe(): Promise<ChainDescription>;
  /** Cost and size facts for budgets and inline packets; absent = free and unlimited (embedded ledger). */
  economics?(): Promise<ChainEconomics>;
}

/** What GET /v1/chains lists and a verifier pins. */
export type ChainDescription =
  | { chainId: string; kind: 'embedded-ledger'; publicKey: string }
  /** `address`: the anchoring wallet, from and to of every anchor transaction. */
  | { chainId: string; kind: 'evm'; address: string }
  | { chainId: string; kind: 'bigbang'; address: string; fork?: string };

export interface ChainEconomics {
  /** Largest data one transaction carries. */
  maxDataBytes: number;
  /** Fee of a transaction with `dataBytes` of data, in whole tokens (ETH, BBC), at current prices. */
  feePerTx(dataBytes: number): number;
  /** Display unit of those tokens. */
  unit: string;
  /** Decimals between the smallest unit (ChainTx.fee) and one token: 18 for ETH, 6 for BBC. */
  decimals: number;
}

export type ChainFailureCode =
  | 'insufficient-funds'
  | 'nonce-clash'
  | 'key-locked'
  | 'wrong-passphrase'
  | 'wallet-has-code'
  | 'wrong-chain'
  | 'payload-too-large'
  | 'fee-above-cap'
  | 'tx-rejected'
  | 'tx-decode-failed'
  | 'method-not-found'
  | 'invalid-params'
  | 'rpc-unavailable'
  | 'rpc-malformed-response'
  | 'rpc-error';

/** Every chain adapter's failure: a stable code, and whether waiting and retrying can help. */
export interface ChainFailure extends Error {
  readonly chainId: string;
  readonly code: ChainFailureCode;
  readonly retryable: boolean;
}

export const isChainFailure = (e: unknown): e is ChainFailure =>
  e instanceof Error &&
  typeof (e as { code?: unknown }).code === 'string' &&
  typeof (e as { retryable?: unknown }).retryable === 'boolean' &&
  typeof (e as { chainId?: unknown }).chainId === 'string';

// ---------------------------------------------------------------------------------------------- keys

export interface KeyVault {
  /** Envelope-encrypts a secret. `context` is bound to it and must be given again to unwrap. */
  wrap(plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------- ledger signer

/**
 * The embedded ledger's signing key (docs/proof-bundle.md §4.2: `sig = Ed25519-Sign(ledgerKey, entryHash)`).
 * Adapters: a local Ed25519 key in a file (LocalLedgerSigner) and a non-exportable AWS KMS key of spec
 * ECC_NIST_EDWARDS25519 (KmsLedgerSigner), whose private half never leaves KMS.
 */
export interface LedgerSigner {
  /** The raw 32-byte Ed25519 public key (RFC 8032 encoding): the ledger's chainId is derived from it. */
  readonly publicKey: Uint8Array;
  /**
   * The 64-byte pure Ed25519 signature (RFC 8032 §5.1.6, no prehash, no context) over `message`, checked
   * against `publicKey` before it is returned: a signer never hands out a signature its key does not verify.
   */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------- IoT control plane

/** A device certificate as the IoT control plane describes it. */
export interface IotCertificate {
  certificateId: string;
  certificateArn: string;
  certificatePem: string;
  status: 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_TRANSFER' | 'REGISTER_INACTIVE' | 'PENDING_ACTIVATION';
}

/**
 * The few AWS IoT control-plane calls run-time device provisioning needs (lib/devices/device-certificate.ts).
 * Every method is safe to repeat: creating what exists, attaching what is attached, and detaching or deleting
 * what is gone all succeed, so a provisioning interrupted at any step can simply be run again. The AWS adapter
 * is IotControlPlaneClient (lib/adapters/aws/iot-control-plane.ts); the embedded runtime has none (its devices
 * connect with a password or a client certificate from the operator's own CA).
 */
export interface IotControlPlane {
  /** CreateThing; an existing thing of that name is fine. */
  ensureThing(thingName: string): Promise<void>;
  /** DeleteThing; a thing already gone is fine. */
  deleteThing(thingName: string): Promise<void>;
  /** The thing's attributes; undefined for a thing that does not exist. */
  thingAttributes(thingName: string): Promise<Record<string, string> | undefined>;
  /** Merges these attributes into the thing's (UpdateThing). */
  setThingAttributes(thingName: string, attributes: Record<string, string>): Promise<void>;
  /** The certificate ARNs attached to the thing; none for a thing that does not exist. */
  listThingPrincipals(thingName: string): Promise<string[]>;
  /** Signs a PEM CSR with AWS IoT's CA (CreateCertificateFromCsr); the certificate starts INACTIVE. */
  createCertificateFromCsr(csrPem: string): Promise<IotCertificate>;
  describeCertificate(certificateId: string): Promise<IotCertificate | undefined>;
  setCertificateStatus(certificateId: string, status: 'ACTIVE' | 'INACTIVE'): Promise<void>;
  deleteCertificate(certificateId: string): Promise<void>;
  attachThingPrincipal(thingName: string, certificateArn: string): Promise<void>;
  detachThingPrincipal(thingName: string, certificateArn: string): Promise<void>;
  attachPolicy(policyName: string, certificateArn: string): Promise<void>;
  detachPolicy(policyName: string, certificateArn: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- device replies

/** One reply to a device (an ack, an upload grant), on one of the device's own reply topics. */
export interface OutgoingReply {
  topic: string;
  /** The encoded reply (lib/ingest/device-message.ts: encodeReplies). */
  payload: string;
}

/**
 * Where the replies ingest produces go out to devices, at QoS 1. AWS adapter: IotDataReplyPublisher
 * (lib/adapters/aws/iot-reply-publisher.ts, the IoT Data Plane Publish API). The embedded runtime's MQTT
 * router publishes on its own broker directly (lib/runtime/mqtt-router.ts), batching the replies of one turn
 * of the event loop, and so does not go through this port.
 */
export interface ReplyPublisher {
  /** Resolves once every message was accepted by the broker; rejects if any was not. */
  publish(messages: readonly OutgoingReply[]): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- leases

/**
 * A time-limited, exclusive claim on a named piece of work (the anchor cycle), held by one process or Lambda
 * invocation. `token` is the fencing token: every acquisition gives a larger one than any before it for the
 * same name, so a holder whose lease was taken over can tell from the token alone.
 */
export interface Lease {
  name: string;
  /** Who holds it: unique per process or invocation, e.g. `anchor:<request id>`. */
  holder: string;
  token: number;
  /** ms since the Unix epoch, by the clock of whoever last acquired or renewed it. */
  expiresAt: number;
}

export type LeaseAcquired =
  | { acquired: true; lease: Lease }
  /** Someone else holds it until `expiresAt` (their clock). */
  | { acquired: false; heldBy: string; expiresAt: number };

/**
 * Leases on one item each, every write conditional on that item, so they need no transaction (docs/deploy.md,
 * "Single-flight anchoring"). Times come from the caller's clock: holders must agree on time to within a small
 * part of a lease's length, as NTP-synchronised machines and Lambdas do.
 */
export interface LeaseStore {
  /**
   * Takes `name` for `holder` until now + ttlMs, when no one holds it or the last holder's lease ended before
   * `now`. Of any number of concurrent callers at most one gets it.
   */
  acquire(name: string, holder: string, opts: { now: number; ttlMs: number }): Promise<LeaseAcquired>;
  /**
   * The fence: extends the lease to now + ttlMs only if no one has acquired `name` since this lease was
   * given (same token, same holder). Undefined when it was lost; the holder must then stop writing. A lease
   * that ran out but was not taken over is still this holder's, and renewing it is safe.
   */
  renew(lease: Lease, opts: { now: number; ttlMs: number }): Promise<Lease | undefined>;
  /** Gives the lease up, if it is still this one; a lease already taken over is left alone. */
  release(lease: Lease): Promise<void>;
  close(): Promise<void>;
}

/** What every LeaseStore refuses before touching its store: an empty name or holder, a ttl that is no duration. */
export function checkLeaseArgs(name: string, holder: string, ttlMs: number): void {
  if (name.length === 0 || holder.length === 0)
    throw new RangeError('lease name and holder must not be empty');
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new RangeError(`lease ttl ${ttlMs} is not a positive integer`);
}

// ---------------------------------------------------------------------------------------------- ipfs

/**
 * Where hot copies go (docs/ipfs.md §6). Shaped for the weakest endpoint it must fit, IPFS Cluster's
 * Kubo-compatible proxy: add-with-pin, cat and pin/rm are all it may assume. Failures are IpfsError
 * (lib/ipfs/errors.ts), whose stable codes decide between retry, "cid unavailable" and giving up.
 */
export interface Pinner {
  /** Where the pins go, for logs and reports, e.g. `kubo-rpc:http://127.0.0.1:5001`. Never a secret. */
  readonly endpoint: string;
  /**
   * Adds `bytes` as one UnixFS file with Kubo's legacy import settings (CIDv0, no raw leaves, 256 KiB chunks,
   * 174 links per node) and pins it recursively. The same bytes always give the same CID, so a retry after a
   * lost answer pins nothing twice. Throws IpfsError.
   */
  pin(bytes: Uint8Array, opts?: { signal?: AbortSignal }): Promise<{ cid: string; size: number }>;
  /**
   * The content behind `cid`, or undefined when the endpoint answers that it cannot find it. Reads at most
   * `maxBytes` (IpfsError 'content-too-large' beyond). Throws IpfsError for every other failure, so "not
   * there" and "could not ask" stay distinct.
   */
  fetch(cid: string, opts: { maxBytes: number; signal?: AbortSignal }): Promise<Uint8Array | undefined>;
  /** Removes the recursive pin. Unpinning something not pinned is not an error. */
  unpin?(cid: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

/** What a pin job needs to find and check the bytes: the record index entry's identifying fields. */
export interface PinTarget {
  recordId: string;
  deviceId: string;
  seq: number;
  objectKey: string;
  /** Hex Merkle leaf hash of the header: the stored envelope is checked against it before anything is pinned. */
  recordHash: string;
}

/**
 * pending: waiting for its next attempt (or leased by a worker until `nextAttemptAt`);
 * pinned: done, `cid` is set; failed: will never succeed as is (the object is gone or does not match the
 * record), kept with its error for an operator.
 */
export type PinJobState = 'pending' | 'pinned' | 'failed';

export interface PinJobError {
  code: string;
  message: string;
}

export interface PinJob extends PinTarget {
  state: PinJobState;
  /** Failed attempts so far; the backoff grows with it. A lease that expired (a crashed worker) is not one. */
  attempts: number;
  /** ms since the Unix epoch. Pending jobs become due at this time; while leased it is the lease's end. */
  nextAttemptAt: number;
  enqueuedAt: number;
  lastError?: PinJobError;
  cid?: string;
  pinnedAt?: number;
}

/**
 * The durable retry queue of pin jobs, shaped like the record index: one item per record, every write a
 * conditional put or an update of that one item, and "due jobs" a range on one sort key.
 */
export interface PinQueue {
  /** Conditional on recordId: a second enqueue of the same record changes nothing and answers 'exists'. */
  enqueue(target: PinTarget, now: number): Promise<'queued' | 'exists'>;
  /**
   * Pending jobs with nextAttemptAt <= now, oldest due first, each leased to the caller until now + leaseMs:
   * a concurrent worker does not see them, and a worker that dies mid-job hands them back when the lease
   * ends.
   */
  claimDue(q: { now: number; limit: number; leaseMs: number }): Promise<PinJob[]>;
  markPinned(recordId: string, r: { cid: string; at: number }): Promise<void>;
  /** Counts a failed attempt and makes the job due again at `nextAttemptAt`. */
  markRetry(recordId: string, r: PinJobError & { nextAttemptAt: number }): Promise<void>;
  /** Hands a claimed job back untried (the endpoint is down, so trying it would only wait): no attempt counted. */
  release(recordId: string, nextAttemptAt: number): Promise<void>;
  markFailed(recordId: string, r: PinJobError & { at: number }): Promise<void>;
  getJob(recordId: string): Promise<PinJob | undefined>;
  countPending(): Promise<number>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- access tokens

/**
 * An auditor's bearer token as the store keeps it (lib/access/tokens.ts makes them; docs/api.md "Tokens").
 * The token itself is never stored: only its SHA-256, which is also the key every request looks it up by.
 */
export interface AccessToken {
  /** Public name of the token, for lists, revocation and the audit log (`auditor:<tokenId>`). */
  tokenId: string;
  /** Hex SHA-256 of the whole bearer token. */
  tokenHash: string;
  /** What the operator called it ("KPMG 2026 audit"). */
  name: string;
  role: 'auditor';
  scope: Scope;
  permissions: Permission[];
  createdAt: number;
  /** The operator who made it. */
  createdBy: string;
  /** ms since the Unix epoch; from then on the token is refused (`token-expired`). */
  expiresAt: number;
  revokedAt?: number;
  revokedBy?: string;
}

export interface TokenStore {
  /** Conditional on tokenHash: a second token with the same hash is refused ('exists') and nothing is written. */
  putToken(token: AccessToken): Promise<'created' | 'exists'>;
  /** One strongly consistent key read: what authenticating a request by token costs. */
  getTokenByHash(tokenHash: string): Promise<AccessToken | undefined>;
  getToken(tokenId: string): Promise<AccessToken | undefined>;
  /** Newest first. */
  listTokens(q: { limit: number; cursor?: string }): Promise<Page<AccessToken>>;
  /**
   * Marks the token revoked, which the next request by it sees (getTokenByHash reads consistently). The first
   * revocation stands: a second one changes nothing and answers 'already-revoked'.
   */
  revokeToken(
    tokenId: string,
    r: { at: number; by: string },
  ): Promise<'revoked' | 'already-revoked' | 'not-found'>;
  close(): Promise<void>;
}
