/** A record's index entry: what the backend knows of one sealed record without opening it. */
import { z } from 'zod';
import { absent } from './stored-form.js';

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
  /** Where this record's envelope lies inside `objectKey` when several records share one object (a record
   *  pack, docs/envelope.md); absent: the object is the envelope. */
  objectRange?: { offset: number; length: number };
  via: Via;
  /** Absent while the record waits in the anchor queue. */
  batch?: { batchId: string; leafIndex: number };
  /**
   * The record's hot copy on IPFS (its ciphertext, docs/ipfs.md), once pinned. Only `setIpfsCid` writes it;
   * `putRecord` ignores it.
   */
  ipfs?: { cid: string; pinnedAt: number };
}

/**
 * A record as stored, flat; the optional groups (objectRange, batch, ipfs) count only when all their fields
 * are there, as a row written between two of their fields' writes must not read as half a group.
 */
export const storedRecord = z
  .object({
    recordId: z.string(),
    deviceId: z.string(),
    seq: z.number(),
    timestamp: z.number(),
    receivedAt: z.number(),
    recordHash: z.string(),
    prevHash: z.string(),
    ciphertextHash: z.string(),
    ciphertextLength: z.number(),
    envelopeSize: z.number(),
    header: z.string(),
    objectKey: z.string(),
    objectOffset: z.number().nullish(),
    objectLength: z.number().nullish(),
    via: z.string(),
    batchId: z.string().nullish(),
    leafIndex: z.number().nullish(),
    ipfsCid: z.string().nullish(),
    ipfsPinnedAt: z.number().nullish(),
  })
  .transform(
    (r): RecordEntry => ({
      recordId: r.recordId,
      deviceId: r.deviceId,
      seq: r.seq,
      timestamp: r.timestamp,
      receivedAt: r.receivedAt,
      recordHash: r.recordHash,
      prevHash: r.prevHash,
      ciphertextHash: r.ciphertextHash,
      ciphertextLength: r.ciphertextLength,
      envelopeSize: r.envelopeSize,
      header: r.header,
      objectKey: r.objectKey,
      ...(absent(r.objectOffset) || absent(r.objectLength)
        ? {}
        : { objectRange: { offset: r.objectOffset, length: r.objectLength } }),
      via: r.via === 'upload' ? 'upload' : 'inline',
      ...(absent(r.batchId) || absent(r.leafIndex)
        ? {}
        : { batch: { batchId: r.batchId, leafIndex: r.leafIndex } }),
      ...(absent(r.ipfsCid) || absent(r.ipfsPinnedAt)
        ? {}
        : { ipfs: { cid: r.ipfsCid, pinnedAt: r.ipfsPinnedAt } }),
    }),
  )
  .describe('record');
