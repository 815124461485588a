/**
 * The audit entry of one request by an auditor token: who (`auditor:<tokenId>`), what (method, path and
 * query), and how it ended (the status; `succeeded`, or `failed` with the error code and message answered). One entry per request, whatever the
 * request reads: an export of 100,000 records is one entry, not 100,000.
 */
import { newId } from '../core/ids.js';
import type { AuditEvent } from '../ports.js';

/** Paths and queries are the caller's input: kept, but bounded. */
const MAX_CHARS = 512;
const cut = (s: string) => (s.length > MAX_CHARS ? `${s.slice(0, MAX_CHARS - 1)}…` : s);

export function auditorRequestEvent(r: {
  at: number;
  actor: string;
  method: string;
  path: string;
  query: string;
  status: number;
  /** The error answered, or none for a request served. */
  error?: { code: string; message: string };
}): AuditEvent {
  return {
    id: newId(r.at, 'au-'),
    at: r.at,
    actor: r.actor,
    action: 'auditor-request',
    target: cut(r.path),
    ...(r.error ? { outcome: 'failed', error: r.error } : { outcome: 'succeeded' }),
    details: {
      method: r.method,
      status: r.status,
      ...(r.query === '' ? {} : { query: cut(r.query) }),
    },
  };
}
