/**
 * The scope and permissions of a stored token, as both TokenStore adapters keep them: one JSON text each.
 * Parsing checks the shape, so an edited row or item fails loudly instead of widening a token's reach.
 */

import { StorageError } from '../storage-error.js';
import { PERMISSIONS, type Permission, type Scope } from './scope.js';

/** A token row whose scope or permissions do not decode: storage-malformed, a defect or a hand edit. */
export class StoredTokenError extends StorageError {
  override readonly name = 'StoredTokenError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-malformed', message, options);
  }
}

export function parseScopeJson(text: string): Scope {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new StoredTokenError('stored scope is not JSON', { cause: err });
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as {
    devices?: unknown;
    from?: unknown;
    to?: unknown;
  };
  const optNum = (x: unknown) => x === undefined || (typeof x === 'number' && Number.isSafeInteger(x));
  if (
    !Array.isArray(o.devices) ||
    !o.devices.every((d) => typeof d === 'string') ||
    !optNum(o.from) ||
    !optNum(o.to)
  )
    throw new StoredTokenError('stored scope is malformed');
  return {
    devices: o.devices as string[],
    ...(o.from === undefined ? {} : { from: o.from as number }),
    ...(o.to === undefined ? {} : { to: o.to as number }),
  };
}

export function parsePermissionsJson(text: string): Permission[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new StoredTokenError('stored permissions are not JSON', { cause: err });
  }
  if (!Array.isArray(v) || !v.every((p) => (PERMISSIONS as readonly unknown[]).includes(p)))
    throw new StoredTokenError('stored permissions are malformed');
  return v as Permission[];
}
