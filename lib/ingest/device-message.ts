/**
 * Everything a device publishes goes through here, whichever runtime delivered it (the embedded broker or an
 * AWS IoT rule). Each message gets exactly one answer: an ack entry on the device's acks topic, or a grant or
 * refusal on its upload-grant topic. Every refusal is also kept as a dead letter, with the payload, so an
 * operator can see what was refused and why.
 */

import { toHex } from '../core/bytes.js';
import { parseHead } from '../core/device-head.js';
import { type AckEntry, Manifest, type UploadGrantMessage, UploadRequest } from '../core/device-messages.js';
import { parseHeader } from '../core/envelope.js';
import { sha256 } from '../core/hash.js';
import { parseKeyEvent } from '../core/key-event.js';
import { leafHashOf } from '../core/leaf.js';
import { describeZod } from '../core/zod-issues.js';
import {
  acceptHead,
  acceptRotation,
  type DeviceStatementDeps,
  type StatementOutcome,
} from '../devices/device-keys.js';
import {
  type AuditLog,
  type DeadLetterStore,
  type DeviceKeyRegistry,
  type DeviceRegistry,
  type ObjectStore,
  type RecordIndex,
  type StatementStore,
  statementIdOf,
} from '../ports.js';
import { readRecordEnvelope } from '../record-object.js';
import { type DeviceRoute, deviceReplyTopics, matchRoute } from '../routing/routes.js';
import { recordDeadLetter } from './dead-letter.js';
import { type IngestLimits, type IngestOutcome, ingestEnvelope, type OriginDeps } from './ingest-envelope.js';
import { ingestPack, type PackedRecord, packAckEntries } from './ingest-pack.js';
import type { StoredSeqBound } from './stored-seq-bound.js';

export interface DeviceMessageLimits extends IngestLimits {
  /** Largest packet a device may upload out of band (the seed's ~2 MB). */
  maxPacketBytes: number;
  uploadTtlSeconds: number;
}

export interface DeviceMessageDeps {
  objects: ObjectStore;
  index: RecordIndex & DeadLetterStore;
  clock: () => number;
  limits: DeviceMessageLimits;
  /** Records' signatures against their devices' keys (lib/ingest/ingest-envelope.ts). */
  origin: OriginDeps;
  /** See IngestDeps.seqs: the embedded runtime skips the duplicate lookup of records above it. */
  seqs?: StoredSeqBound;
  /**
   * The device registry for heads and rotations. A rotation changes a device's keys through it: in a runtime
   * that caches key state (DeviceKeyCache), this must be the cache's `watch` of the registry.
   */
  devices: DeviceRegistry & DeviceKeyRegistry & AuditLog;
  /** Where heads and key events are stored and queued for anchoring. */
  statements: StatementStore;
}

export interface DeviceMessage {
  topic: string;
  payload: Uint8Array;
  /** The MQTT client id, when the transport knows it. */
  clientId?: string;
}

export type Reply =
  | { kind: 'ack'; deviceId: string; entry: AckEntry }
  | { kind: 'grant'; deviceId: string; message: UploadGrantMessage };

/** A head or a key rotation, stored (or found stored). */
export interface StatementStored {
  status: 'stored' | 'duplicate';
  kind: 'head' | 'key';
  statementId: string;
}

export interface HandledMessage {
  outcome:
    | IngestOutcome
    | StatementStored
    | { status: 'granted'; seq: number }
    /** A record pack: each envelope's outcome, in pack order. */
    | { status: 'packed'; records: PackedRecord[] }
    | { status: 'dropped'; code: string; reason: string };
  replies: Reply[];
}

/** The ack `kind` of a statement route; undefined for the record routes. */
function statementKind(route: DeviceRoute): 'head' | 'key' | undefined {
  if (route.kind === 'head') return 'head';
  if (route.kind === 'key-rotation') return 'key';
  return undefined;
}

export function uploadObjectKey(deviceId: string, sha256Hex: string): string {
  return `uploads/${deviceId}/${sha256Hex}`;
}

export async function handleDeviceMessage(
  deps: DeviceMessageDeps,
  msg: DeviceMessage,
): Promise<HandledMessage> {
  const matched = matchRoute(msg.topic);
  if (!matched) {
    const reason = `no route for topic ${JSON.stringify(msg.topic)}`;
    await deadLetter(deps, msg, { code: 'unknown-topic', reason });
    return { outcome: { status: 'dropped', code: 'unknown-topic', reason }, replies: [] };
  }
  const { route, deviceId } = matched;

  const refuse = async (code: string, reason: string, seq?: number): Promise<HandledMessage> => {
    await deadLetter(deps, msg, { code, reason, deviceId, ...(seq === undefined ? {} : { seq }) });
    const outcome: IngestOutcome = {
      status: 'rejected',
      code,
      reason,
      ...(seq === undefined ? {} : { seq }),
    };
    if (route.kind === 'upload-request') {
      const message: UploadGrantMessage = {
        v: 1,
        ...(seq === undefined ? {} : { seq }),
        error: { code, reason },
      };
      return { outcome, replies: [{ kind: 'grant', deviceId, message }] };
    }
    const kind = statementKind(route);
    const entry: AckEntry = kind
      ? { ...statementAck(kind, msg.payload), status: 'rejected', code, reason }
      : ackOf(outcome);
    return { outcome, replies: [{ kind: 'ack', deviceId, entry }] };
  };

  if (msg.payload.length > route.maxBytes) {
    return refuse(
      'payload-too-large',
      `${msg.payload.length} bytes exceeds ${route.maxBytes} for ${route.topicFilter}`,
    );
  }

  if (route.kind === 'record') {
    const outcome = await ingestEnvelope(deps, { deviceId, bytes: msg.payload, via: 'inline' });
    if (outcome.status === 'rejected') return refuse(outcome.code, outcome.reason, outcome.seq);
    return { outcome, replies: [{ kind: 'ack', deviceId, entry: ackOf(outcome) }] };
  }

  if (route.kind === 'pack') {
    const packed = await ingestPack(deps, { deviceId, bytes: msg.payload });
    if (packed.status === 'rejected') {
      await deadLetter(deps, msg, { code: packed.code, reason: packed.reason, deviceId });
      const entry: AckEntry = {
        kind: 'pack',
        sha256: toHex(sha256(msg.payload)),
        status: 'rejected',
        code: packed.code,
        reason: packed.reason,
      };
      return {
        outcome: { status: 'rejected', code: packed.code, reason: packed.reason },
        replies: [{ kind: 'ack', deviceId, entry }],
      };
    }
    // Each refused envelope is its own dead letter, with its own bytes: what an operator would have seen had
    // it come alone.
    for (const r of packed.records) {
      const o = r.outcome;
      if (o.status === 'rejected')
        await deadLetter(
          deps,
          { ...msg, payload: r.bytes },
          { code: o.code, reason: o.reason, deviceId, ...(o.seq === undefined ? {} : { seq: o.seq }) },
        );
    }
    return {
      outcome: packed,
      replies: packAckEntries(packed.records).map((entry) => ({ kind: 'ack' as const, deviceId, entry })),
    };
  }

  const kind = statementKind(route);
  if (kind) {
    const result = await acceptStatement(deps, kind, deviceId, msg.payload);
    if (result.status === 'rejected') return refuse(result.code, result.reason);
    const outcome: StatementStored = { status: result.status, kind, statementId: result.statementId };
    const entry: AckEntry = { ...statementAck(kind, msg.payload), status: result.status };
    return { outcome, replies: [{ kind: 'ack', deviceId, entry }] };
  }

  const json = parseJson(msg.payload);
  if (!json.ok) return refuse('malformed-json', json.reason);

  if (route.kind === 'upload-request') {
    const req = UploadRequest.safeParse(json.value);
    if (!req.success) return refuse('schema-invalid', describeZod(req.error), seqOf(json.value));
    const { seq, sha256: sha, size } = req.data;
    if (size > deps.limits.maxPacketBytes) {
      return refuse(
        'packet-too-large',
        `${size} bytes exceeds the ${deps.limits.maxPacketBytes}-byte packet limit`,
        seq,
      );
    }
    const grant = await deps.objects.createUploadUrl(uploadObjectKey(deviceId, sha), {
      sha256: Buffer.from(sha, 'hex'),
      size,
      expiresInSeconds: deps.limits.uploadTtlSeconds,
    });
    const message: UploadGrantMessage = { v: 1, seq, sha256: sha, ...grant };
    return { outcome: { status: 'granted', seq }, replies: [{ kind: 'grant', deviceId, message }] };
  }

  // manifest
  const man = Manifest.safeParse(json.value);
  if (!man.success) return refuse('schema-invalid', describeZod(man.error), seqOf(json.value));
  const { seq, sha256: sha, size } = man.data;
  const key = uploadObjectKey(deviceId, sha);
  const bytes = await deps.objects.get(key);
  if (!bytes) {
    // A manifest redelivered after it was ingested finds its staged upload already moved: same answer as
    // the first time, not a refusal.
    const existing = await deps.index.getRecord(deviceId, seq);
    const stored = existing ? await readRecordEnvelope(deps.objects, existing) : undefined;
    if (existing && stored && toHex(sha256(stored)) === sha) {
      const outcome: IngestOutcome = { status: 'duplicate', recordId: existing.recordId, seq };
      return { outcome, replies: [{ kind: 'ack', deviceId, entry: ackOf(outcome) }] };
    }
    return refuse('upload-not-found', `no upload with sha256 ${sha} for this device`, seq);
  }
  if (bytes.length !== size || toHex(sha256(bytes)) !== sha) {
    return refuse('upload-mismatch', 'uploaded bytes differ from the manifest (size or sha256)', seq);
  }
  if (size > deps.limits.maxPacketBytes) {
    return refuse(
      'packet-too-large',
      `${size} bytes exceeds the ${deps.limits.maxPacketBytes}-byte packet limit`,
      seq,
    );
  }
  // Checked before ingest, which stores: a refused manifest must leave nothing behind.
  const header = parseHeader(bytes);
  if (header.ok && header.header.seq !== seq) {
    return refuse(
      'upload-mismatch',
      `manifest says seq ${seq}, the uploaded envelope says ${header.header.seq}`,
      seq,
    );
  }
  const outcome = await ingestEnvelope(deps, { deviceId, bytes, via: 'upload' });
  if (outcome.status === 'rejected') return refuse(outcome.code, outcome.reason, outcome.seq ?? seq);
  // The staged copy has served its purpose; the record now lives under its content key.
  await deps.objects.delete(key);
  return { outcome, replies: [{ kind: 'ack', deviceId, entry: ackOf(outcome) }] };
}

/**
 * A head or a rotation, through the device-key rules (lib/devices/device-keys.ts) with ingest's verifier.
 * A head already stored is a duplicate before any check: those bytes were checked when first accepted, even if
 * their key was revoked since (a rotation's redelivery is recognised by acceptRotation itself).
 */
async function acceptStatement(
  deps: DeviceMessageDeps,
  kind: 'head' | 'key',
  deviceId: string,
  bytes: Uint8Array,
): Promise<StatementOutcome> {
  const rules = (clock: () => number): DeviceStatementDeps => ({
    devices: deps.devices,
    statements: deps.statements,
    clock,
    maxClockSkewMs: deps.limits.maxClockSkewMs,
    verify: (alg, publicKey, digest, sig) => deps.origin.verifier.verify(alg, publicKey, digest, sig),
  });
  const gate = deps.origin.gate;
  if (kind === 'key') {
    // Alone for this device: records in flight finish first and later ones wait (lib/ingest/device-gate.ts).
    const rotate = (stamp: () => number) => acceptRotation(rules(stamp), { deviceId, bytes });
    return gate ? gate.exclusive(deviceId, rotate) : rotate(deps.clock);
  }
  const leafHash = toHex(leafHashOf(bytes));
  const existing = await deps.statements.getStatement(deviceId, leafHash);
  if (existing?.kind === 'head')
    return { status: 'duplicate', statementId: statementIdOf(deviceId, leafHash) };
  const head = (stamp: () => number) => acceptHead(rules(stamp), { deviceId, bytes });
  return gate ? gate.shared(deviceId, head) : head(deps.clock);
}

/** What names a head or rotation in its ack: the leaf hash of the payload, and its count or new key id. */
function statementAck(kind: 'head' | 'key', payload: Uint8Array): Omit<AckEntry, 'status'> {
  const leafHash = toHex(leafHashOf(payload));
  if (kind === 'head') {
    const h = parseHead(payload);
    return { kind, leafHash, ...(h.ok ? { count: h.head.count } : {}) };
  }
  const e = parseKeyEvent(payload);
  return { kind, leafHash, ...(e.ok ? { keyId: toHex(e.keyId) } : {}) };
}

function ackOf(o: IngestOutcome): AckEntry {
  if (o.status === 'rejected') {
    return {
      ...(o.seq === undefined ? {} : { seq: o.seq }),
      status: 'rejected',
      code: o.code,
      reason: o.reason,
    };
  }
  return { seq: o.seq, status: o.status, recordId: o.recordId };
}

function parseJson(payload: Uint8Array): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) };
  } catch (e) {
    return { ok: false, reason: `payload is not JSON: ${(e as Error).message}` };
  }
}

function seqOf(v: unknown): number | undefined {
  if (typeof v === 'object' && v !== null && 'seq' in v) {
    const s = (v as { seq: unknown }).seq;
    if (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0) return s;
  }
  return undefined;
}

function deadLetter(
  deps: DeviceMessageDeps,
  msg: DeviceMessage,
  info: { code: string; reason: string; deviceId?: string; seq?: number },
): Promise<unknown> {
  return recordDeadLetter(deps.index, deps.clock(), {
    source: 'mqtt',
    ...info,
    payload: msg.payload,
    topic: msg.topic,
    ...(msg.clientId === undefined ? {} : { clientId: msg.clientId }),
  });
}

/** Turns replies into MQTT messages: acks for one device coalesce into one message. */
export function encodeReplies(replies: readonly Reply[]): { topic: string; payload: string }[] {
  const acks = new Map<string, AckEntry[]>();
  const out: { topic: string; payload: string }[] = [];
  for (const r of replies) {
    if (r.kind === 'ack') {
      const list = acks.get(r.deviceId) ?? [];
      list.push(r.entry);
      acks.set(r.deviceId, list);
    } else {
      out.push({ topic: deviceReplyTopics.uploadGrants(r.deviceId), payload: JSON.stringify(r.message) });
    }
  }
  for (const [deviceId, list] of acks) {
    out.push({ topic: deviceReplyTopics.acks(deviceId), payload: JSON.stringify({ v: 1, acks: list }) });
  }
  return out;
}
