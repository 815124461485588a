/**
 * What verify needs to check hot copies by CID: a pinner to fetch with and Kubo's CID recomputation (so bytes
 * an endpoint corrupted read `cid unavailable`, not `tampered`). Both composition roots hand it to the verify
 * API when an IPFS endpoint is configured.
 */
import { KuboPinner } from '../adapters/ipfs/kubo-pinner.js';
import { kuboCidLike } from '../adapters/ipfs/unixfs-import.js';
import type { VerifyCidDeps } from '../ipfs/verify-cid.js';
import type { IpfsPinConfig } from './ipfs-config.js';

/** A verify Lambda fetches for at most this long, well inside API Gateway's 29 s. */
export const VERIFY_IPFS_TIMEOUT_MS = 10_000;

/**
 * `{ ipfs }` for ApiDeps, or nothing without an endpoint. `maxTimeoutMs` keeps one verify request within what
 * its caller waits for (API Gateway gives a Lambda 29 s).
 */
export function hotCopyReader(
  config: Pick<IpfsPinConfig, 'apiUrl' | 'timeoutMs'> | undefined,
  maxTimeoutMs = Number.POSITIVE_INFINITY,
): { ipfs?: VerifyCidDeps } {
  if (!config?.apiUrl) return {};
  const pinner = new KuboPinner({ url: config.apiUrl, timeoutMs: Math.min(config.timeoutMs, maxTimeoutMs) });
  return { ipfs: { pinner, cidOf: kuboCidLike } };
}
