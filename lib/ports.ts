/**
 * The ports: the only interfaces between the use cases in lib/ and the outside world. Each has a local
 * adapter (lib/adapters/local, the embedded default) and a cloud or real-chain adapter, and one conformance
 * suite (tests/adapters) runs over every adapter of a port.
 *
 * They are shaped for the weakest backend they must fit: no transaction spans two items (DynamoDB's emulator
 * has none and the real one caps them), every write that must not happen twice is a conditional put on one
 * item, and every query the API serves is a key lookup or a range on a sort key, never a scan.
 */

import type { LedgerEntry } from './core/ledger-entry.js';

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
}

// ---------------------------------------------------------------------------------------------- index

export type Via = 'inline' | 'upload';

export interface RecordEntry {
  recordId: string;
  deviceId: string;
  seq: number;
  /** Device clock, ms since the Unix epoch, as sealed in the header. */
  timestamp: number;
  /** Backend clock when ingest stored it. */
  receivedAt: number;
  /** Hex. Merkle leaf hash of the header; the value the next record's prevHash must equal. */
  recordHash: string;
  prevHash: string;
  ciphertextHash: string;
  ciphertextLength: number;
  envelopeSize: number;
  /** Base64 of the exact header bytes (the Merkle leaf data). */
  header: string;
  objectKey: string;
  via: Via;
  /** Absent while the record waits in the anchor queue. */
  batch?: { batchId: string; leafIndex: number };
}

export type PutRecordResult =
  | { outcome: 'created' }
  /** Same device and seq, same record hash: a redelivery; nothing was written. */
  | { outcome: 'duplicate'; existing: RecordEntry }
  /** Same device and seq, different content: a replayed or forged sequence number; nothing was written. */
  | { outcome: 'conflict'; existing: RecordEntry };

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page; absent on the last page. */
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
}

export interface AnchorRef {
  /** Which ledger: e.g. `embedded:3f9a0c1b2d4e5f60` or, later, `evm:31337`. */
  chainId: string;
  txId: string;
  submittedAt: number;
}

export type BatchState = 'built' | 'anchored';

export interface BatchEntry {
  batchId: string;
  /** Hex Merkle root over the leaf hashes in leaf order. */
  root: string;
  size: number;
  createdAt: number;
  state: BatchState;
  /** Object key of the tree's levels (see lib/anchor/tree-object.ts). */
  treeKey: string;
  anchors: AnchorRef[];
}

export interface BatchStore {
  /** Conditional on batchId. */
  putBatch(batch: BatchEntry): Promise<'created' | 'exists'>;
  getBatch(batchId: string): Promise<BatchEntry | undefined>;
  /** Adds (or replaces) the anchor for `anchor.chainId` and sets the state. Idempotent. */
  addAnchor(batchId: string, anchor: AnchorRef, state: BatchState): Promise<void>;
  /** Batches not yet anchored, oldest first: what a restarted anchorer must finish before new work. */
  listUnanchored(): Promise<BatchEntry[]>;
  listBatches(q: { limit: number; cursor?: string }): Promise<Page<BatchEntry>>;
}

export type DeviceStatus = 'active' | 'disabled';

export interface DeviceEntry {
  deviceId: string;
  createdAt: number;
  status: DeviceStatus;
  /** Hex SHA-256 of the device's MQTT password (a 256-bit random token, so a fast hash is enough). */
  credentialHash: string;
  /** Base64 of the master key wrapped by the key vault; the plaintext key is never stored. */
  wrappedMasterKey: string;
}

export interface DeviceRegistry {
  createDevice(device: DeviceEntry): Promise<'created' | 'exists'>;
  getDevice(deviceId: string): Promise<DeviceEntry | undefined>;
  setCredentialHash(deviceId: string, credentialHash: string): Promise<void>;
  listDevices(q: { limit: number; cursor?: string }): Promise<Page<DeviceEntry>>;
}

export type DeadLetterSource = 'mqtt' | 'upload' | 'broker';

export interface DeadLetter {
  id: string;
  at: number;
  source: DeadLetterSource;
  /** Stable machine-readable reason, documented in docs/api.md. */
  code: string;
  reason: string;
  deviceId?: string;
  topic?: string;
  clientId?: string;
  seq?: number;
  payloadSize: number;
  /** Hex SHA-256 of the whole payload. */
  payloadSha256: string;
  /** Base64 of the payload, cut at DEAD_LETTER_PAYLOAD_LIMIT bytes. */
  payload: string;
  truncated: boolean;
}

export const DEAD_LETTER_PAYLOAD_LIMIT = 16 * 1024;

export interface DeadLetterStore {
  putDeadLetter(d: DeadLetter): Promise<void>;
  /** Newest first. */
  listDeadLetters(q: { limit: number; cursor?: string; deviceId?: string }): Promise<Page<DeadLetter>>;
}

export interface AuditEvent {
  id: string;
  at: number;
  actor: string;
  action: 'device-provisioned' | 'credential-rotated' | 'record-key-released';
  target: string;
  reason?: string;
}

export interface AuditLog {
  appendAudit(e: AuditEvent): Promise<void>;
  /** Newest first. */
  listAudit(q: { limit: number; cursor?: string }): Promise<Page<AuditEvent>>;
}

/** Everything the record index / anchor queue adapter provides. One adapter implements all of it. */
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
  /** Public material a verifier needs, if any (the embedded ledger's Ed25519 key). */
  describe(): Promise<ChainDescription>;
}

export interface ChainDescription {
  chainId: string;
  kind: 'embedded-ledger';
  publicKey?: string;
}

// ---------------------------------------------------------------------------------------------- keys

export interface KeyVault {
  /** Envelope-encrypts a secret. `context` is bound to it and must be given again to unwrap. */
  wrap(plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
}
