import { randomBytes } from 'node:crypto';

/** Time-ordered unique ids for dead letters, audit events and batches: 11 base-36 ms digits, then randomness. */
export function newId(at: number, prefix = ''): string {
  return `${prefix}${at.toString(36).padStart(11, '0')}-${randomBytes(6).toString('hex')}`;
}
