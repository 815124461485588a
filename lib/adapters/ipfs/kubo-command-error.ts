/**
 * An error a Kubo RPC command answers with. go-ipfs-cmds sends `{"Message", "Code", "Type": "error"}`: Code 0
 * (ErrNormal) with HTTP 500 when the command ran and failed, Code 1 (ErrClient) with HTTP 400 when the request
 * itself was malformed (a missing argument, a value of the wrong type). Messages copy Kubo's wording where
 * clients are known to match on it (not found, not pinned), so a pinner written against Kubo reads ours alike.
 */
import type { CID } from 'multiformats/cid';
import { CodedError } from '../../core/errors.js';

export type KuboErrorKind = 'normal' | 'client';

/**
 * The codes of the embedded Kubo RPC emulation (the IPFS server side; the client side is lib/ipfs/errors.ts):
 * a command that ran and failed, a malformed request, a multipart body that does not parse, an import setting
 * it does not support, a repo another process holds.
 */
export type KuboServerErrorCode =
  | 'kubo-command-failed'
  | 'kubo-bad-request'
  | 'multipart-malformed'
  | 'import-settings-unsupported'
  | 'repo-locked'
  | 'repo-key-invalid';

export class KuboCommandError extends CodedError<KuboServerErrorCode> {
  override readonly name = 'KuboCommandError';
  constructor(
    message: string,
    readonly kind: KuboErrorKind = 'normal',
    options?: { cause?: unknown },
  ) {
    super(kind === 'client' ? 'kubo-bad-request' : 'kubo-command-failed', message, options);
  }

  get httpStatus(): number {
    return this.kind === 'client' ? 400 : 500;
  }

  get kuboCode(): number {
    return this.kind === 'client' ? 1 : 0;
  }
}

/** Kubo's answer for a block an offline node does not have (boxo's blockservice + go-ipld-format). */
export function blockNotFound(cid: CID | string): KuboCommandError {
  return new KuboCommandError(`block was not found locally (offline): ipld: could not find ${cid}`);
}

export function argumentRequired(name: string): KuboCommandError {
  return new KuboCommandError(`argument "${name}" is required`, 'client');
}
