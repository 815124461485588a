/**
 * Each simulated device's signing key, kept next to its outbox as a real device keeps its key in its own
 * flash or secure element: `<stateDir>/keys/<deviceId>.json`, mode 0600 in a 0700 directory. The private key
 * never leaves this file: provisioning sends only the public key (docs/device-keys.md).
 *
 * A rotation is made durable before it is published, and the device switches keys only once the backend has
 * acknowledged it (docs/topics.md, "Key rotation"):
 *
 *   1. beginRotation: the new key and the signed rotation event are written as `pending` beside the current key;
 *   2. the event is published (and published again, the same bytes, until an answer comes: a redelivery is
 *      answered `duplicate`);
 *   3. completeRotation on `stored`/`duplicate`: the new key becomes the current one; or abandonRotation on a
 *      refusal: the pending key is dropped and the current one stays.
 *
 * A crash anywhere leaves either the old key alone, or the old key with the pending rotation, which the next
 * run publishes again before it seals anything: the device never signs with a key the backend does not know.
 * Every write replaces the file atomically (temporary file, fsync, rename, fsync of the directory).
 */
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { makePrivate } from '../lib/adapters/local/private-files.js';
import { fromBase64, toBase64, toHex } from '../lib/core/bytes.js';
import { isDeviceId } from '../lib/core/device-id.js';
import {
  type DigestSigner,
  generateSigningKey,
  isSigAlg,
  type SigAlg,
  type SigningKey,
  signerOf,
  signingKeyFromPrivate,
} from '../lib/core/device-signature.js';
import { signRotation } from '../lib/core/key-event.js';

export interface StoredSigningKey {
  key: SigningKey;
  /** The backend has this key (provisioning or a key registration answered). */
  registered: boolean;
  /** A rotation published or about to be, not yet acknowledged. */
  pending?: { key: SigningKey; event: Uint8Array };
}

interface KeyJson {
  alg: string;
  privateKey: string;
}
interface FileJson {
  v: 1;
  deviceId: string;
  current: KeyJson & { registered: boolean };
  pending?: KeyJson & { event: string };
}

export class SigningKeyStoreError extends Error {
  override readonly name = 'SigningKeyStoreError';
}

const keyJson = (k: SigningKey): KeyJson => ({ alg: k.alg, privateKey: toBase64(k.privateKey) });

function keyOf(j: KeyJson, path: string): SigningKey {
  const privateKey = fromBase64(j.privateKey);
  if (!isSigAlg(j.alg) || !privateKey || privateKey.length !== 32)
    throw new SigningKeyStoreError(`${path}: not a signing key file of this stub`);
  return signingKeyFromPrivate(j.alg, privateKey);
}

export class SigningKeyStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'keys');
  }

  private path(deviceId: string): string {
    // The id becomes a file name: only the device id alphabet may reach the file system.
    if (!isDeviceId(deviceId))
      throw new SigningKeyStoreError(`invalid device id ${JSON.stringify(deviceId)}`);
    return join(this.dir, `${deviceId}.json`);
  }

  load(deviceId: string): StoredSigningKey | undefined {
    const path = this.path(deviceId);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
      throw e;
    }
    let j: FileJson;
    try {
      j = JSON.parse(text) as FileJson;
    } catch {
      throw new SigningKeyStoreError(`${path}: not JSON`);
    }
    if (j.v !== 1 || j.deviceId !== deviceId || typeof j.current !== 'object')
      throw new SigningKeyStoreError(`${path}: not the key file of ${deviceId}`);
    // A key file an older stub (or a copy) left readable by others is made private the first time it is used.
    makePrivate(path);
    return {
      key: keyOf(j.current, path),
      registered: j.current.registered === true,
      ...(j.pending
        ? {
            pending: {
              key: keyOf(j.pending, path),
              event: fromBase64(j.pending.event) ?? new Uint8Array(0),
            },
          }
        : {}),
    };
  }

  /** The device's key; made (with `alg`) and stored on first use. An existing key keeps its algorithm. */
  loadOrCreate(deviceId: string, alg: SigAlg): StoredSigningKey {
    const existing = this.load(deviceId);
    if (existing) return existing;
    const stored: StoredSigningKey = { key: generateSigningKey(alg), registered: false };
    this.write(deviceId, stored);
    return stored;
  }

  markRegistered(deviceId: string): StoredSigningKey {
    const s = this.require(deviceId);
    const next = { ...s, registered: true };
    this.write(deviceId, next);
    return next;
  }

  /**
   * Makes a new key and the rotation to it, signed by the current key and the new one, and stores both as
   * pending before anything is published. A rotation already pending is returned as it is: its bytes were
   * perhaps published, and only those bytes may be published again.
   */
  beginRotation(
    deviceId: string,
    alg: SigAlg,
    time: number,
  ): StoredSigningKey & { pending: { key: SigningKey; event: Uint8Array } } {
    const s = this.require(deviceId);
    if (s.pending) return { ...s, pending: s.pending };
    const key = generateSigningKey(alg);
    const event = signRotation({ deviceId, time, oldKey: signerOf(s.key), newKey: signerOf(key) });
    const next = { ...s, pending: { key, event } };
    this.write(deviceId, next);
    return next;
  }

  /** The backend acknowledged the rotation: the new key is the device's key from now on. */
  completeRotation(deviceId: string): StoredSigningKey {
    const s = this.require(deviceId);
    if (!s.pending) throw new SigningKeyStoreError(`${deviceId} has no rotation pending`);
    const next: StoredSigningKey = { key: s.pending.key, registered: true };
    this.write(deviceId, next);
    return next;
  }

  /** The backend refused the rotation: the pending key is dropped, the current key stays. */
  abandonRotation(deviceId: string): StoredSigningKey {
    const s = this.require(deviceId);
    const next: StoredSigningKey = { key: s.key, registered: s.registered };
    this.write(deviceId, next);
    return next;
  }

  private require(deviceId: string): StoredSigningKey {
    const s = this.load(deviceId);
    if (!s) throw new SigningKeyStoreError(`${deviceId} has no signing key`);
    return s;
  }

  private write(deviceId: string, s: StoredSigningKey): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file: FileJson = {
      v: 1,
      deviceId,
      current: { ...keyJson(s.key), registered: s.registered },
      ...(s.pending ? { pending: { ...keyJson(s.pending.key), event: toBase64(s.pending.event) } } : {}),
    };
    const path = this.path(deviceId);
    const tmp = `${path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      // A temporary file left by a crash keeps its old mode through open(); the key must not be readable.
      fchmodSync(fd, 0o600);
      writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

/** What the device signs with: the stored key as a DigestSigner, and its id in hex for messages. */
export function signerFor(s: StoredSigningKey): DigestSigner & { publicKey: Uint8Array; keyIdHex: string } {
  return { ...signerOf(s.key), keyIdHex: toHex(s.key.keyId) };
}
