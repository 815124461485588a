/**
 * What a token's window of device time means for reads that name records by id or by seq (docs/api.md
 * "Roles"). The device was checked before anything was looked up (scope.ts); these run the one lookup a
 * window needs, and answer a record outside the window and a missing one the same way.
 */
import { parseRecordId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';
import type { RecordIndex } from '../ports.js';
import { assertRecordVisible, hasTimeWindow, outOfScopeError, type Principal, timeInScope } from './scope.js';

const windowed = (p: Principal): p is Extract<Principal, { role: 'auditor' }> =>
  p.role === 'auditor' && hasTimeWindow(p.scope);

/** For a windowed token: the record must exist and lie in the window; nothing to check for anyone else. */
export async function assertRecordIdVisible(
  index: RecordIndex,
  p: Principal,
  recordId: string,
): Promise<void> {
  if (!windowed(p)) return;
  const id = parseRecordId(recordId);
  if (!id)
    throw new NotaryError('bad-request', `${JSON.stringify(recordId)} is not a record id (<deviceId>.<seq>)`);
  assertRecordVisible(p, await index.getRecord(id.deviceId, id.seq));
}

/** Most records one windowed seq-range check reads; the same cap as the gaps report's span. */
const MAX_SPAN = 100_000;
const PAGE = 5000;

/**
 * For a windowed token, a report over a seq range (gaps) needs the range named, and every record stored in it
 * inside the window: the report would otherwise tell what exists outside. Returns whether the caller must
 * also leave out the report's device-wide fields (its highest seq, its latest head).
 */
export async function assertSeqRangeVisible(
  index: RecordIndex,
  p: Principal,
  deviceId: string,
  q: { fromSeq?: number; toSeq?: number },
): Promise<{ deviceWideFields: boolean }> {
  if (!windowed(p)) return { deviceWideFields: true };
  if (q.fromSeq === undefined || q.toSeq === undefined)
    throw new NotaryError('bad-request', 'a token with a time window must give fromSeq and toSeq');
  if (q.toSeq - q.fromSeq + 1 > MAX_SPAN)
    throw new NotaryError(
      'bad-request',
      `at most ${MAX_SPAN} sequence numbers per request; narrow fromSeq/toSeq`,
    );
  let seen = 0;
  for (let next = q.fromSeq; next <= q.toSeq; ) {
    const page = await index.listBySeq(deviceId, { fromSeq: next, toSeq: q.toSeq, limit: PAGE });
    for (const r of page) if (!timeInScope(p.scope, r.timestamp)) throw outOfScopeError();
    seen += page.length;
    const last = page.at(-1);
    if (page.length < PAGE || !last) break;
    next = last.seq + 1;
  }
  if (seen === 0) throw outOfScopeError();
  return { deviceWideFields: false };
}
