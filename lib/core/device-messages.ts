/**
 * JSON messages between devices and the backend, besides the binary record envelope (docs/topics.md).
 * Schemas are strict: unknown fields are refused, so a typo on a device is a clear error, not silent data.
 */
import { z } from 'zod';

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** devices/{id}/uploads/request: ask for somewhere to put a packet too large for one MQTT message. */
export const UploadRequest = z.strictObject({
  v: z.literal(1),
  seq,
  sha256: hex32,
  size: z.number().int().positive(),
});
export type UploadRequest = z.infer<typeof UploadRequest>;

/** devices/{id}/manifests: "the envelope with this hash and size is uploaded; ingest it". */
export const Manifest = z.strictObject({
  v: z.literal(1),
  seq,
  sha256: hex32,
  size: z.number().int().positive(),
});
export type Manifest = z.infer<typeof Manifest>;

export const AckStatus = z.enum(['stored', 'duplicate', 'rejected']);

/**
 * One outcome. A record's (or manifest's) entry has no `kind`, as before heads and keys existed; an entry that
 * answers a head or a key rotation says so in `kind` and names the message by `leafHash`, the hex
 * SHA-256(0x00 | payload) of exactly what the device published, which the device can compute for itself.
 */
export const AckEntry = z.strictObject({
  kind: z.enum(['head', 'key', 'pack']).optional(),
  seq: seq.optional(),
  /**
   * Only in answers to a record pack: `stored` or `duplicate` for every seq from `seq` through `toSeq`, each of
   * which was in the pack (docs/topics.md).
   */
  toSeq: seq.optional(),
  status: AckStatus,
  recordId: z.string().optional(),
  /** head, key: which message this answers. */
  leafHash: hex32.optional(),
  /** head: its `count`, when the head parsed. */
  count: seq.optional(),
  /** pack, refused as a whole: SHA-256 (hex) of exactly the pack published, so the device can match it. */
  sha256: hex32.optional(),
  /** key: the id (hex) of the key the rotation is to, when it parsed. */
  keyId: hex32.optional(),
  code: z.string().optional(),
  reason: z.string().optional(),
});
export type AckEntry = z.infer<typeof AckEntry>;

/** devices/{id}/acks: one or more outcomes. `stored` and `duplicate` mean durably stored. */
export const AckMessage = z.strictObject({ v: z.literal(1), acks: z.array(AckEntry).min(1) });
export type AckMessage = z.infer<typeof AckMessage>;

/** devices/{id}/uploads/grant */
export const UploadGrantMessage = z.union([
  z.strictObject({
    v: z.literal(1),
    seq,
    sha256: hex32,
    url: z.string().url(),
    method: z.literal('PUT'),
    headers: z.record(z.string(), z.string()),
    expiresAt: z.number().int(),
  }),
  z.strictObject({
    v: z.literal(1),
    seq: seq.optional(),
    error: z.strictObject({ code: z.string(), reason: z.string() }),
  }),
]);
export type UploadGrantMessage = z.infer<typeof UploadGrantMessage>;
