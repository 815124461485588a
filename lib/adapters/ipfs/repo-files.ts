/**
 * The embedded node's repo directory, besides blocks and datastore: its peer identity and its lock.
 *
 * Identity: `/api/v0/id` must answer with a real libp2p peer id (kubo-rpc-client parses it), so the node has an
 * Ed25519 key like a Kubo node, kept across restarts. The node never dials or listens on libp2p; the id only
 * names it.
 *
 * Lock: two processes on one repo would both count pin references and corrupt them, as Kubo's repo.lock
 * prevents. A lock left by a dead process is taken over.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { base58btc } from 'multiformats/bases/base58';
import { CodedError } from '../../core/errors.js';
import type { KuboServerErrorCode } from './kubo-command-error.js';

export interface PeerIdentity {
  /** Base58btc identity-multihash peer id, `12D3KooW…`, as Kubo prints it. */
  id: string;
  /** Base64 of the protobuf-encoded public key, Kubo's `PublicKey` field. */
  publicKey: string;
}

/** libp2p's PublicKey protobuf: field 1 KeyType = Ed25519 (1), field 2 Data = the 32-byte key. */
function ed25519PublicKeyProto(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + raw.length);
  out.set([0x08, 0x01, 0x12, raw.length]);
  out.set(raw, 4);
  return out;
}

function identityOf(publicKey: KeyObject): PeerIdentity {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new RepoKeyError('not an Ed25519 public key');
  const proto = ed25519PublicKeyProto(new Uint8Array(Buffer.from(jwk.x, 'base64url')));
  // Keys of 42 bytes or less are inlined with the identity multihash (code 0x00), as libp2p does for Ed25519.
  const mh = new Uint8Array(2 + proto.length);
  mh.set([0x00, proto.length]);
  mh.set(proto, 2);
  return { id: base58btc.baseEncode(mh), publicKey: Buffer.from(proto).toString('base64') };
}

export function loadOrCreatePeerIdentity(repoDir: string): PeerIdentity {
  const path = join(repoDir, 'identity.pk8');
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    mkdirSync(repoDir, { recursive: true });
    // 'wx': if another process created it in between, keep theirs.
    try {
      writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    } catch (w) {
      if ((w as { code?: unknown }).code !== 'EEXIST') throw w;
      pem = readFileSync(path, 'utf8');
    }
  }
  return identityOf(createPublicKey(createPrivateKey(pem)));
}

/** The repo's peer key file holds a key that is not Ed25519 (edited, or copied from another tool). */
export class RepoKeyError extends CodedError<KuboServerErrorCode> {
  override readonly name = 'RepoKeyError';
  constructor(message: string) {
    super('repo-key-invalid', message);
  }
}

export class RepoLockedError extends CodedError<KuboServerErrorCode> {
  override readonly name = 'RepoLockedError';
  declare readonly code: 'repo-locked';
  constructor(message: string) {
    super('repo-locked', message);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code === 'EPERM';
  }
}

/** Takes `<repoDir>/repo.lock`; returns its release. Throws RepoLockedError while a live process holds it. */
export function lockRepo(repoDir: string): () => void {
  mkdirSync(repoDir, { recursive: true });
  const path = join(repoDir, 'repo.lock');
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      // Our own pid counts as a holder: a second node on the same repo in one process is the same bug.
      if (Number.isInteger(holder) && holder > 0 && alive(holder))
        throw new RepoLockedError(`IPFS repo ${repoDir} is in use by process ${holder}`);
      unlinkSync(path);
    }
  }
  throw new RepoLockedError(`could not take the lock on IPFS repo ${repoDir}`);
}
