/** A device's registry entry and its signing keys (docs/device-keys.md). */
import { z } from 'zod';
import type { SigAlg } from '../core/device-signature.js';
import type { RevokeReason } from '../core/key-event.js';
import { jsonText } from './stored-form.js';

export type DeviceStatus = 'active' | 'disabled';

/** Device signature algorithms (docs/device-keys.md). */
export type DeviceKeyAlg = SigAlg;

/** The key event (a statement) that changed a key's state, and when the backend accepted it. */
export interface KeyEventRef {
  statementId: string;
  type: 'register' | 'rotate' | 'revoke';
  at: number;
}

/**
 * One signing key of a device as ingest checks it: derived from the device's key events, kept on the
 * device's registry entry so that one read answers "may this key sign for this device now?".
 */
export interface DeviceKey {
  /** Hex SHA-256(alg code | publicKey). */
  keyId: string;
  alg: DeviceKeyAlg;
  /** Base64 of the normalised public key (32 bytes Ed25519, 33 bytes compressed P-256). */
  publicKey: string;
  /** 'revoked' covers a key rotated away: it signs nothing from then on. */
  status: 'active' | 'revoked';
  /** The register or rotate event that made it a key of the device. */
  registeredBy: KeyEventRef;
  /** The revoke or rotate event that retired it. */
  revokedBy?: KeyEventRef & { reason?: RevokeReason };
}

export interface DeviceEntry {
  deviceId: string;
  createdAt: number;
  status: DeviceStatus;
  /** Hex SHA-256 of the device's MQTT password (a 256-bit random token, so a fast hash is enough). */
  credentialHash: string;
  /** Base64 of the master key wrapped by the key vault; the plaintext key is never stored. */
  wrappedMasterKey: string;
  /** Every signing key the device ever had, in registration order; a device made before keys existed has none. */
  keys: DeviceKey[];
  /** Whether ingest accepts unsigned (v1) envelopes from this device. True for devices from before keys. */
  allowUnsigned: boolean;
  /** Bumped by every updateDeviceKeys; what makes its read-modify-write safe without a transaction. */
  keysRevision: number;
}

/** Keys are checked for what ingest reads of them first; the events they cite are kept as written. */
const storedKeys = z
  .array(
    z.looseObject({
      keyId: z.string(),
      alg: z.string(),
      publicKey: z.string(),
      status: z.enum(['active', 'revoked']),
      registeredBy: z.looseObject({
        statementId: z.string(),
        type: z.enum(['register', 'rotate', 'revoke']),
        at: z.number(),
      }),
    }),
  )
  .transform((k) => k as DeviceKey[]);

/**
 * A device as stored; `signingKeys` is JSON text. An entry from before device keys has none of the last
 * three fields: no keys, unsigned envelopes still accepted, revision 0.
 */
export const storedDevice = z
  .object({
    deviceId: z.string(),
    createdAt: z.number(),
    status: z.string(),
    credentialHash: z.string(),
    wrappedMasterKey: z.string(),
    signingKeys: jsonText(storedKeys).nullish(),
    allowUnsigned: z.boolean().nullish(),
    keysRevision: z.number().nullish(),
  })
  .transform(
    (d): DeviceEntry => ({
      deviceId: d.deviceId,
      createdAt: d.createdAt,
      status: d.status === 'disabled' ? 'disabled' : 'active',
      credentialHash: d.credentialHash,
      wrappedMasterKey: d.wrappedMasterKey,
      keys: d.signingKeys ?? [],
      allowUnsigned: d.allowUnsigned ?? true,
      keysRevision: d.keysRevision ?? 0,
    }),
  )
  .describe('device');
