import { CodedError } from '../core/errors.js';
import type { ChainFailure, ChainFailureCode } from '../ports.js';

/**
 * What every chain adapter throws: a stable code, whether waiting can help (from the adapter's own table),
 * the chain, and the node's JSON-RPC error code when it sent one.
 */
export abstract class ChainAdapterError<C extends ChainFailureCode>
  extends CodedError<C>
  implements ChainFailure
{
  readonly retryable: boolean;
  readonly chainId: string;
  readonly rpcCode?: number;

  constructor(
    code: C,
    message: string,
    opts: { chainId: string; retryable: boolean; rpcCode?: number; cause?: unknown },
  ) {
    super(code, message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.chainId = opts.chainId;
    if (opts.rpcCode !== undefined) this.rpcCode = opts.rpcCode;
  }
}
