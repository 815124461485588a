/** One entry of the audit log: who did what to what, and whether it took effect. */
import { z } from 'zod';
import { absent, jsonText } from './stored-form.js';

/**
 * Whether an audited action took effect. 'unknown' is only read, never written: events stored before
 * outcomes were recorded.
 */
export type AuditOutcome = 'succeeded' | 'failed' | 'unknown';

export interface AuditEvent {
  id: string;
  at: number;
  actor: string;
  action:
    | 'device-provisioned'
    | 'credential-rotated'
    | 'record-key-released'
    | 'batch-reanchored'
    | 'device-key-registered'
    | 'device-key-revoked'
    | 'device-updated'
    /** Keys of a device's records for a time point or a range, as one release (`details`: range, count). */
    | 'record-keys-released'
    | 'token-created'
    | 'token-revoked'
    /** One request by an auditor token, allowed or refused (`details`: method, status). */
    | 'auditor-request'
    /** AWS IoT: a device certificate signed from the device's CSR and attached (`details`: certificateId). */
    | 'device-certificate-issued'
    /** AWS IoT: the device's certificates detached, deactivated and deleted, and its thing deleted. */
    | 'device-certificates-removed';
  target: string;
  reason?: string;
  outcome: AuditOutcome;
  /** With outcome 'failed': the stable code and the message of what failed (never a secret). */
  error?: { code: string; message: string };
  /** What else the entry records, by action (docs/api.md "Audit log"); flat, so every store keeps it as is. */
  details?: Record<string, string | number>;
}

/**
 * An audit event as stored; `details` is JSON text. The action is read as written, not checked against this
 * version's list: the log must show every entry, also one a newer version wrote. Events written before
 * outcomes were recorded have none: 'unknown', never a guess.
 */
export const storedAuditEvent = z
  .object({
    id: z.string(),
    at: z.number(),
    actor: z.string(),
    action: z.string(),
    target: z.string(),
    outcome: z.string().nullish(),
    reason: z.string().nullish(),
    details: jsonText(z.record(z.string(), z.union([z.string(), z.number()]))).nullish(),
    errorCode: z.string().nullish(),
    errorMessage: z.string().nullish(),
  })
  .transform((s): AuditEvent => {
    const e: AuditEvent = {
      id: s.id,
      at: s.at,
      actor: s.actor,
      action: s.action as AuditEvent['action'],
      target: s.target,
      outcome: s.outcome === 'succeeded' || s.outcome === 'failed' ? s.outcome : 'unknown',
    };
    if (!absent(s.reason)) e.reason = s.reason;
    if (!absent(s.details)) e.details = s.details;
    if (!absent(s.errorCode)) e.error = { code: s.errorCode, message: s.errorMessage ?? '' };
    return e;
  })
  .describe('audit event');
