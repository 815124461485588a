/**
 * Typed failures of the EVM chain adapter, and the one place that turns what a node or the network said
 * into them. The anchorer decides from `code` and `retryable` alone: a retryable failure leaves the batch
 * queued for the next cycle; the others also need an operator (fund the wallet, fix the configuration).
 *
 * Node messages differ between clients, so classification goes by the texts each client is known to send.
 * Origins: geth core/error.go and core/txpool/errors.go ("nonce too low", "insufficient funds for gas * price
 * + value", "replacement transaction underpriced", "already known", "oversized data"); ganache 7.9.2 as run
 * in tests/chains ("the tx doesn't have the correct nonce. account has nonce of: N tx has nonce of: M",
 * code -32000); Besu (NONCE_TOO_LOW, TRANSACTION_UPFRONT_COST_EXCEEDS_BALANCE); Nethermind (OldNonce);
 * OpenEthereum ("Transaction nonce is too low", "Transaction with the same hash was already imported").
 */
import { ChainAdapterError } from '../chain-adapter-error.js';
import type { RpcFailure } from '../json-rpc.js';

export type EvmChainErrorCode =
  /** The wallet cannot pay gas × price. Needs funding. */
  | 'insufficient-funds'
  /** Another sender used our nonce (a second anchorer on the same key) and re-reading it did not help. */
  | 'nonce-clash'
  /** Connection refused or reset, timeout, HTTP 429/5xx: the node is down or overloaded. */
  | 'rpc-unavailable'
  /** The node answered with something that is not the JSON-RPC result the method promises. */
  | 'rpc-malformed-response'
  /** The node refused the transaction for another reason (gas, fee cap, policy). */
  | 'tx-rejected'
  /** eth_chainId differs from the configured chain: the RPC URL points at another network. */
  | 'wrong-chain'
  /** The anchoring address has code (EIP-7702 delegation): a call to self would execute it. */
  | 'wallet-has-code'
  /** The data is larger than the adapter's (or the node's) per-transaction limit. */
  | 'payload-too-large'
  /** Current fees exceed the configured ceiling; anchoring waits rather than overpays. */
  | 'fee-above-cap'
  /** A read failed with a JSON-RPC error the adapter has no better name for. */
  | 'rpc-error'
  /** A watch-only adapter (no private key, as the verify API has) was asked to send. */
  | 'key-locked';

const RETRYABLE: Record<EvmChainErrorCode, boolean> = {
  'insufficient-funds': false,
  'nonce-clash': true,
  'rpc-unavailable': true,
  'rpc-malformed-response': true,
  'tx-rejected': false,
  'wrong-chain': false,
  'wallet-has-code': false,
  'payload-too-large': false,
  'fee-above-cap': true,
  'rpc-error': true,
  'key-locked': false,
};

export class EvmChainError extends ChainAdapterError<EvmChainErrorCode> {
  override readonly name = 'EvmChainError';

  constructor(
    code: EvmChainErrorCode,
    message: string,
    opts: { chainId: string; rpcCode?: number; cause?: unknown },
  ) {
    super(code, message, { ...opts, retryable: RETRYABLE[code] });
  }
}

export function isEvmChainError(e: unknown): e is EvmChainError {
  return e instanceof EvmChainError;
}

/** 'already-known' is not a failure: the node holds this very transaction, so a rebroadcast succeeded. */
export type Classified = { code: EvmChainErrorCode | 'already-known'; rpcCode?: number; message: string };

const ALREADY_KNOWN = /already known|known transaction|already imported|AlreadyKnown/i;
const NONCE_CLASH =
  /nonce too low|correct nonce|nonce has already been used|NONCE_TOO_LOW|OldNonce|nonce is too low|replacement transaction underpriced|REPLACEMENT_UNDERPRICED|nonce too high|NONCE_TOO_FAR/i;
const INSUFFICIENT =
  /insufficient funds|UPFRONT_COST_EXCEEDS_BALANCE|exceeds (the )?balance|InsufficientFunds/i;
const TOO_LARGE = /oversized data|too large|exceeds (the )?(maximum|max) (size|data)/i;

/** A node's JSON-RPC error message, for a transaction it was asked to accept. */
export function classifySendMessage(message: string, rpcCode?: number): Classified {
  const base = rpcCode === undefined ? { message } : { message, rpcCode };
  if (ALREADY_KNOWN.test(message)) return { code: 'already-known', ...base };
  if (INSUFFICIENT.test(message)) return { code: 'insufficient-funds', ...base };
  if (NONCE_CLASH.test(message)) return { code: 'nonce-clash', ...base };
  if (TOO_LARGE.test(message)) return { code: 'payload-too-large', ...base };
  return { code: 'tx-rejected', ...base };
}

/**
 * A failed call of the shared JSON-RPC transport (json-rpc.ts) → a code. `sending` says whether the request
 * asked the node to accept (or estimate) a transaction, where a JSON-RPC error is a refusal rather than a
 * broken read.
 */
export function classifyRpcFailure(f: RpcFailure, sending: boolean): Classified {
  switch (f.kind) {
    case 'rpc': {
      const { rpcCode, message } = f;
      // A JSON-RPC error object sent with HTTP 5xx/429 still means the node (or its proxy) is struggling.
      if (f.status >= 500 || f.status === 429) return { code: 'rpc-unavailable', rpcCode, message };
      if (rpcCode === -32005) return { code: 'rpc-unavailable', rpcCode, message }; // limit exceeded
      if (sending) return classifySendMessage(message, rpcCode);
      return INSUFFICIENT.test(message)
        ? { code: 'insufficient-funds', rpcCode, message }
        : { code: 'rpc-error', rpcCode, message };
    }
    case 'unavailable':
      return { code: 'rpc-unavailable', message: f.message };
    case 'malformed':
      // Not a JSON-RPC answer, but with an HTTP failure status: the status says more than the body.
      return f.status >= 400
        ? httpFailure(f.status, f.message)
        : { code: 'rpc-malformed-response', message: f.message };
    case 'http':
      return httpFailure(f.status, f.message);
  }
}

/** An HTTP failure without a JSON-RPC error: overload and timeouts are the node's outage, the rest not. */
function httpFailure(status: number, message: string): Classified {
  if (status >= 500 || status === 429 || status === 408) return { code: 'rpc-unavailable', message };
  return { code: 'rpc-error', message: `HTTP ${status}: ${message}` };
}
