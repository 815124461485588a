/**
 * Retention of what refused or abandoned device traffic leaves behind, run by the embedded runtime's sweep
 * (lib/runtime/sweep-scheduler.ts). On AWS the same rules are the bucket's lifecycle rule on uploads/ and the
 * dead-letter table's TTL (sst.config.ts).
 *
 * Staged uploads: a device PUTs an envelope under uploads/<deviceId>/<sha256> and then publishes a manifest,
 * whose ingest deletes the staged copy. One still there `maxAgeMs` after it was stored was never claimed (its
 * URL expired long before: the age must be at least the URL lifetime), so it is deleted; a manifest arriving
 * later gets `upload-not-found`, as for any upload that never arrived.
 *
 * Dead letters: older than the retention, or beyond the newest `maxRows`, are deleted.
 */
import type { DeadLetterStore, ObjectStore } from '../ports.js';

export const STAGED_UPLOAD_PREFIX = 'uploads/';

/** Objects listed, and dead letters deleted, per store call: keeps each call short. */
const PAGE = 500;
/** Calls per sweep at most; what is left waits for the next sweep rather than holding the writer. */
const MAX_CALLS = 200;

export async function sweepStagedUploads(
  deps: { objects: ObjectStore; clock: () => number },
  o: { maxAgeMs: number },
): Promise<{ deleted: number; kept: number }> {
  const cutoff = deps.clock() - o.maxAgeMs;
  let deleted = 0;
  let kept = 0;
  let cursor: string | undefined;
  for (let call = 0; call < MAX_CALLS; call++) {
    const page = await deps.objects.list(STAGED_UPLOAD_PREFIX, {
      limit: PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const o of page.items) {
      if (o.storedAt <= cutoff) {
        await deps.objects.delete(o.key);
        deleted++;
      } else kept++;
    }
    cursor = page.next;
    if (cursor === undefined) break;
  }
  return { deleted, kept };
}

export async function sweepDeadLetters(
  deps: { deadLetters: DeadLetterStore; clock: () => number },
  o: { retentionMs: number; maxRows: number },
): Promise<{ deleted: number }> {
  const before = deps.clock() - o.retentionMs;
  let deleted = 0;
  for (let call = 0; call < MAX_CALLS; call++) {
    const n = await deps.deadLetters.pruneDeadLetters({ before, keep: o.maxRows, limit: PAGE });
    deleted += n;
    if (n < PAGE) break;
  }
  return { deleted };
}
