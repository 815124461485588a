/**
 * Typed failures of the BigBang Core adapter. The node's JSON-RPC error codes are BigBang's own
 * (src/jsonrpc/rpc/rpc_error.h), not Bitcoin's: -8 deserialisation ("TX decode failed"), -10 transaction
 * rejected ("Tx rejected : ..."), -401 wallet error, -405 unlock needed, -406 wrong passphrase, -409 key
 * already unlocked, -6 invalid parameter ("Invalid txid"), -32600 "No information available about
 * transaction", -32601 "<method> not found!". The texts quoted in FACTS.md were observed from a v2.0.5 node;
 * the others are from the source and rpc.json.
 *
 * -401 carries three different things, told apart by its text (FACTS): "GetBalance failed" (nothing
 * spendable) and "Failed to create transaction: CWallet::ArrangeInputs failed Balance: … TxFee: …" (some
 * funds, less than amount + fee) are insufficient funds; "Failed to sign transaction" is either a locked key
 * or ANY validation failure after signing (an oversized transaction, bad vchData), the same text for both.
 * The classification below calls the last one 'key-locked' provisionally; the adapter then asks the node
 * whether the key is locked before it believes it (bigbang-chain.ts).
 */
import { ChainAdapterError } from '../chain-adapter-error.js';

export type BigBangChainErrorCode =
  /** Nothing spendable at the anchoring address, or not enough for amount + fee. Needs funding. */
  | 'insufficient-funds'
  /** The node's wallet holds the key locked and no passphrase was configured (or it failed). */
  | 'key-locked'
  /** unlockkey refused the configured passphrase. */
  | 'wrong-passphrase'
  /**
   * The node refused the transaction: -10, or -401 "Failed to sign transaction" with the key unlocked (its
   * ValidateTransaction failed: oversize for the inputs the wallet chose, bad vchData, fee too low).
   */
  | 'tx-rejected'
  /** The node could not decode a raw transaction (-8). */
  | 'tx-decode-failed'
  /** The node does not have the RPC method (-32601): an older or different build. */
  | 'method-not-found'
  /** The node rejected the parameters (-6, -4, -32602): address or fork wrong in the configuration. */
  | 'invalid-params'
  /** vchData would make the transaction exceed MAX_TX_SIZE (checked before anything is sent). */
  | 'payload-too-large'
  /** Connection refused or reset, timeout, HTTP 5xx. */
  | 'rpc-unavailable'
  /** Not JSON, not a JSON-RPC 2.0 response, or a result of the wrong shape. */
  | 'rpc-malformed-response'
  /** Any other JSON-RPC error, or HTTP 4xx (e.g. wrong RPC credentials). */
  | 'rpc-error';

const RETRYABLE: Record<BigBangChainErrorCode, boolean> = {
  'insufficient-funds': false,
  'key-locked': false,
  'wrong-passphrase': false,
  'tx-rejected': false,
  'tx-decode-failed': false,
  'method-not-found': false,
  'invalid-params': false,
  'payload-too-large': false,
  'rpc-unavailable': true,
  'rpc-malformed-response': true,
  'rpc-error': true,
};

export class BigBangChainError extends ChainAdapterError<BigBangChainErrorCode> {
  override readonly name = 'BigBangChainError';

  constructor(
    code: BigBangChainErrorCode,
    message: string,
    opts: { chainId: string; rpcCode?: number; cause?: unknown },
  ) {
    super(code, message, { ...opts, retryable: RETRYABLE[code] });
  }
}

export function isBigBangChainError(e: unknown): e is BigBangChainError {
  return e instanceof BigBangChainError;
}

/** A JSON-RPC error object from the node → code. */
export function classifyRpcError(rpcCode: number, message: string): BigBangChainErrorCode {
  switch (rpcCode) {
    case -401:
      if (/GetBalance failed|ArrangeInputs|insufficient|not enough/i.test(message))
        return 'insufficient-funds';
      if (/Failed to sign transaction/i.test(message)) return 'key-locked';
      return 'rpc-error';
    case -402:
      return 'insufficient-funds';
    case -405:
      return 'key-locked';
    case -406:
      return 'wrong-passphrase';
    case -8:
      return 'tx-decode-failed';
    case -10:
      return 'tx-rejected';
    case -32601:
      return 'method-not-found';
    case -4:
    case -6:
    case -32602:
      return 'invalid-params';
    default:
      return 'rpc-error';
  }
}
