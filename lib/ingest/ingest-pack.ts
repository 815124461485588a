/**
 * Ingest of a record pack (docs/envelope.md "Record pack", docs/topics.md): several envelopes of one device in
 * one message, stored as one object and answered by one ack message.
 *
 *   1. the pack's framing, its envelopes' devices and seqs     (refused as a whole: nothing stored)
 *   2. each envelope: ingest's steps 1-5 (ingest-envelope.ts)  (each answered on its own: duplicate, refused)
 *   3. the accepted envelopes, concatenated in pack order,
 *      stored as one object under their SHA-256               (content-derived: a retry rewrites identical bytes)
 *   4. one conditional index entry per accepted envelope,
 *      saying where in that object its bytes lie              (the commit point of each record)
 *   5. the caller acks
 *
 * A crash between 3 and 4 leaves an unreferenced object and no ack; the device resends, maybe in another pack.
 * Steps 2-4 hold the device's gate shared, as a single envelope's do.
 */
import { concatBytes, toHex } from '../core/bytes.js';
import type { AckEntry } from '../core/device-messages.js';
import { sha256 } from '../core/hash.js';
import { checkPackEnvelopes, parseRecordPack } from '../core/record-pack.js';
import { packObjectKey } from '../record-object.js';
import {
  admit,
  type IngestDeps,
  type IngestOutcome,
  type Prechecked,
  precheck,
  recordEntryOf,
  sameOrReplay,
} from './ingest-envelope.js';

/** One envelope of a pack and its outcome, in pack order. */
export interface PackedRecord {
  bytes: Uint8Array;
  outcome: IngestOutcome;
}

export type PackIngestOutcome =
  | { status: 'packed'; records: PackedRecord[] }
  | { status: 'rejected'; code: string; reason: string };

export async function ingestPack(
  deps: IngestDeps,
  msg: { deviceId: string; bytes: Uint8Array },
): Promise<PackIngestOutcome> {
  const pack = parseRecordPack(msg.bytes);
  if (!pack.ok) return { status: 'rejected', code: pack.code, reason: pack.message };
  const claims = checkPackEnvelopes(pack, msg.deviceId);
  if (!claims.ok) return { status: 'rejected', code: claims.code, reason: claims.message };

  const entries = pack.entries.map((e, i) => {
    const seq = claims.seqs[i] as number;
    const pre = precheck(deps, { deviceId: msg.deviceId, bytes: e.bytes });
    // Every header parsed above, so a refusal always names its seq: the device must be able to match it.
    const early: IngestOutcome | undefined = pre.ok ? undefined : { ...pre.outcome, seq };
    return { bytes: e.bytes, pre, early };
  });

  const accept = async (stamp: () => number): Promise<PackIngestOutcome> => {
    const admitted = await Promise.all(
      entries.map(async (e) => (e.pre.ok ? admit(deps, e.pre, stamp) : (e.early as IngestOutcome))),
    );
    const stored = await storeAccepted(
      deps,
      entries.flatMap((e, i) => {
        const a = admitted[i];
        return e.pre.ok && a?.status === 'admitted' ? [{ i, pre: e.pre, receivedAt: a.receivedAt }] : [];
      }),
      msg.deviceId,
    );
    const records = entries.map((e, i): PackedRecord => {
      const a = admitted[i] as IngestOutcome | { status: 'admitted' };
      return { bytes: e.bytes, outcome: a.status === 'admitted' ? (stored.get(i) as IngestOutcome) : a };
    });
    return { status: 'packed', records };
  };
  const gate = deps.origin.gate;
  return gate ? gate.shared(msg.deviceId, accept) : accept(deps.clock);
}

/** Steps 3-4 for the admitted envelopes; their outcomes by pack position. */
async function storeAccepted(
  deps: Pick<IngestDeps, 'objects' | 'index'>,
  accepted: readonly { i: number; pre: Prechecked; receivedAt: number }[],
  deviceId: string,
): Promise<Map<number, IngestOutcome>> {
  const out = new Map<number, IngestOutcome>();
  if (accepted.length === 0) return out;
  const parts = accepted.map((a) => a.pre.env.headerBytes.length + a.pre.env.ciphertext.length);
  const object = concatBytes(...accepted.flatMap((a) => [a.pre.env.headerBytes, a.pre.env.ciphertext]));
  const digest = sha256(object);
  const objectKey = packObjectKey(deviceId, toHex(digest));
  await deps.objects.put(objectKey, object, { sha256: digest });
  let offset = 0;
  const puts = await Promise.all(
    accepted.map((a, k) => {
      const length = parts[k] as number;
      const entry = recordEntryOf(
        a.pre.env,
        {
          receivedAt: a.receivedAt,
          objectKey,
          objectRange: { offset, length },
          via: 'inline',
          envelopeSize: length,
        },
        a.pre.recordHash,
      );
      offset += length;
      return deps.index.putRecord(entry);
    }),
  );
  let referenced = false;
  puts.forEach((put, k) => {
    const a = accepted[k] as (typeof accepted)[number];
    const seq = a.pre.env.header.seq;
    if (put.outcome === 'created') {
      referenced = true;
      out.set(a.i, { status: 'stored', recordId: a.pre.recordId, seq });
    } else {
      if (put.existing.objectKey === objectKey) referenced = true;
      out.set(a.i, sameOrReplay(put.existing, a.pre.recordHash, a.pre.recordId, seq));
    }
  });
  // Lost every race (each seq taken meanwhile by other bytes): nothing references this object. An object any
  // entry points at, ours or an earlier attempt's with the same bytes, is never deleted.
  if (!referenced) await deps.objects.delete(objectKey);
  return out;
}

/**
 * The answer to a pack: stored and duplicate records collapse into runs of consecutive seqs, one entry
 * (`seq` … `toSeq`) per run, and each refused record gets its own entry with its code (the reason is in its
 * dead letter). So a pack of consecutive records that were all stored is answered by one entry, whatever its
 * size. Sorted by seq.
 */
export function packAckEntries(records: readonly PackedRecord[]): AckEntry[] {
  const outcomes = records
    .map((r) => r.outcome)
    .filter((o): o is IngestOutcome & { seq: number } => o.seq !== undefined)
    .sort((a, b) => a.seq - b.seq);
  const out: AckEntry[] = [];
  for (const o of outcomes) {
    if (o.status === 'rejected') {
      out.push({ seq: o.seq, status: 'rejected', code: o.code });
      continue;
    }
    const last = out.at(-1);
    if (last && last.status === o.status && last.toSeq === o.seq - 1) last.toSeq = o.seq;
    else out.push({ seq: o.seq, toSeq: o.seq, status: o.status });
  }
  return out;
}
