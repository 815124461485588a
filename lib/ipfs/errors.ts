/**
 * The IPFS domain's one error class. Every failure of a pinning endpoint becomes one of these codes, whatever
 * the endpoint is (a Kubo node, IPFS Cluster's Kubo-compatible proxy, or the embedded API), so the pin queue
 * and verify can decide on the code alone: retry later, report "cid unavailable", or give up.
 */
import { CodedError } from '../core/errors.js';
export type IpfsErrorCode =
  /** Nothing answered: connection refused or reset, DNS failure, a proxy's 502/503/504. Retry later. */
  | 'ipfs-unavailable'
  /** The endpoint took longer than the configured timeout. Retry later. */
  | 'ipfs-timeout'
  /** The endpoint answered that it cannot find the content (offline node, or no provider). */
  | 'cid-not-found'
  /** The content is larger than the caller's cap; nothing past the cap was kept. */
  | 'content-too-large'
  /** The string is not a CID. */
  | 'invalid-cid'
  /** Any other error the endpoint reported, or a response we could not understand. */
  | 'ipfs-error';

export class IpfsError extends CodedError<IpfsErrorCode> {
  override readonly name = 'IpfsError';
}

export function isIpfsError(e: unknown): e is IpfsError {
  return e instanceof IpfsError;
}

/** Codes after which the same request may succeed later, unchanged. */
export function isTransientIpfsError(e: IpfsError): boolean {
  return e.code === 'ipfs-unavailable' || e.code === 'ipfs-timeout' || e.code === 'ipfs-error';
}
