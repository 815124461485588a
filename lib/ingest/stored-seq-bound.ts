/**
 * An upper bound, per device, on the seqs this process may have stored: what lets ingest skip the duplicate
 * lookup (step 3 of lib/ingest/ingest-envelope.ts) for a record above it, which is every new record of a
 * device sending in order.
 *
 * Why it exists: on the embedded runtime that lookup is a synchronous SQLite read on the broker's thread, and
 * each group commit of the writer thread invalidates the reader's page cache, so it cost about 28 µs of the
 * ~80 µs a 1 KiB record spent on that thread (BENCHMARKS.md, "Where ingest's time goes").
 *
 * The bound is a hint, never the authority: the index's conditional put still refuses a second record with a
 * taken seq, so a stale bound (a record written behind this process's back, e.g. by another process or a
 * test playing the operator) changes what ingest costs, not what it answers. Ingest also reads the record
 * before refusing one on its origin, so a redelivery of a stored record stays a duplicate even when its key was
 * revoked since (docs/device-keys.md).
 *
 * The bound of a device is read once (`maxSeq`, one indexed lookup) and raised before each record is stored,
 * so it covers records still being written. Only the embedded runtime uses it: on AWS the lookup runs beside
 * the key read in one round trip, and other Lambda instances write the same devices.
 */
import type { RecordIndex } from '../ports.js';

/** Devices remembered at most; past it the oldest is forgotten and read again when it next sends. */
const MAX_DEVICES = 100_000;

export class StoredSeqBound {
  /** Highest seq that may be stored, or -1 for a device with none; a promise while the first read runs. */
  private readonly bounds = new Map<string, number | Promise<number>>();

  constructor(private readonly index: Pick<RecordIndex, 'maxSeq'>) {}

  /** False only when no record `seq` of the device can be in the index yet. */
  async mayBeStored(deviceId: string, seq: number): Promise<boolean> {
    return seq <= (await this.bound(deviceId));
  }

  /**
   * Raises the bound to `seq` before the record is stored. Call it only after `mayBeStored` for the device
   * resolved, which is what guarantees the first read has set the bound it raises.
   */
  storing(deviceId: string, seq: number): void {
    const b = this.bounds.get(deviceId);
    if (typeof b === 'number' && seq > b) this.bounds.set(deviceId, seq);
  }

  private bound(deviceId: string): number | Promise<number> {
    const known = this.bounds.get(deviceId);
    if (known !== undefined) return known;
    if (this.bounds.size >= MAX_DEVICES) {
      const oldest = this.bounds.keys().next();
      if (!oldest.done) this.bounds.delete(oldest.value);
    }
    const read = this.index.maxSeq(deviceId).then(
      (max) => {
        // A `storing` cannot have run meanwhile (it needs this read to have finished), so nothing is lost.
        const b = max ?? -1;
        if (this.bounds.get(deviceId) === read) this.bounds.set(deviceId, b);
        return b;
      },
      (err: unknown) => {
        this.bounds.delete(deviceId);
        throw err;
      },
    );
    this.bounds.set(deviceId, read);
    return read;
  }
}
