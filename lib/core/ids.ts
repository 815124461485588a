import { toHex } from './bytes.js';
import { randomBytes } from './crypto-primitives.js';

/** Time-ordered unique ids for dead letters, audit events and batches: 11 base-36 ms digits, then randomness. */
export function newId(at: number, prefix = ''): string {
  return `${prefix}${at.toString(36).padStart(11, '0')}-${toHex(randomBytes(6))}`;
}
