import { randomBytes, timingSafeEqual } from 'node:crypto';
import { toHex } from '../core/bytes.js';
import { sha256 } from '../core/hash.js';

/** A device's MQTT password: 256 random bits, base64url. Only its SHA-256 is stored. */
export function newDevicePassword(): string {
  return randomBytes(32).toString('base64url');
}

export function credentialHashOf(password: string): string {
  return toHex(sha256(new TextEncoder().encode(password)));
}

export function credentialMatches(password: string, storedHash: string): boolean {
  const a = Buffer.from(credentialHashOf(password), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
