/**
 * Classification of EVM node answers into stable codes, and the calldata gas rule. The node messages are the
 * texts each client sends: geth (core/error.go, core/txpool/errors.go), ganache 7.9.2 (seen in
 * evm-chain.test.ts), Besu, Nethermind, OpenEthereum.
 */
import { describe, expect, it } from 'vitest';
import { classifyRpcFailure, classifySendMessage, EvmChainError } from '../../lib/adapters/evm/evm-errors.js';
import { calldataGas, calldataGasUpperBound } from '../../lib/adapters/evm/evm-gas.js';
import type { RpcFailure } from '../../lib/adapters/json-rpc.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';

/** What the shared transport (json-rpc.ts) reports for a JSON-RPC error object; HTTP 200 unless given. */
const rpcError = (rpcCode: number, message: string, status = 200): RpcFailure => ({
  kind: 'rpc',
  rpcCode,
  message,
  status,
});

describe('classifySendMessage', () => {
  const table: [string, string][] = [
    ['nonce too low: address 0xabc, tx: 3 state: 5', 'nonce-clash'], // geth
    ["the tx doesn't have the correct nonce. account has nonce of: 2 tx has nonce of: 1", 'nonce-clash'], // ganache
    ['replacement transaction underpriced', 'nonce-clash'], // geth, same nonce pending
    ['Nonce too low', 'nonce-clash'],
    ['NONCE_TOO_LOW', 'nonce-clash'], // besu
    ['OldNonce', 'nonce-clash'], // nethermind
    ['Transaction nonce is too low. Try incrementing the nonce.', 'nonce-clash'], // openethereum
    ['insufficient funds for gas * price + value', 'insufficient-funds'], // geth, ganache
    ['insufficient funds for gas * price + value: address 0xabc have 0 want 21000', 'insufficient-funds'],
    ['TRANSACTION_UPFRONT_COST_EXCEEDS_BALANCE', 'insufficient-funds'], // besu
    ['already known', 'already-known'], // geth: this very tx is pooled
    ['known transaction: 0xabc', 'already-known'], // older geth
    ['Transaction with the same hash was already imported.', 'already-known'], // openethereum
    ['oversized data', 'payload-too-large'], // geth txpool
    ['intrinsic gas too low', 'tx-rejected'],
    ['max fee per gas less than block base fee', 'tx-rejected'],
    ['tx fee (1.20 ether) exceeds the configured cap (1.00 ether)', 'tx-rejected'],
  ];
  for (const [message, code] of table) {
    it(`${JSON.stringify(message)} → ${code}`, () => {
      expect(classifySendMessage(message).code).toBe(code);
    });
  }
});

describe('classifyRpcFailure', () => {
  it('JSON-RPC errors: refusals when sending, rpc-error when reading', () => {
    expect(classifyRpcFailure(rpcError(-32000, 'nonce too low'), true)).toMatchObject({
      code: 'nonce-clash',
      rpcCode: -32000,
    });
    expect(classifyRpcFailure(rpcError(-32601, 'the method foo does not exist'), false).code).toBe(
      'rpc-error',
    );
    expect(classifyRpcFailure(rpcError(-32000, 'insufficient funds for transfer'), false).code).toBe(
      'insufficient-funds',
    );
    expect(classifyRpcFailure(rpcError(-32005, 'rate limited'), false).code).toBe('rpc-unavailable');
    expect(classifyRpcFailure(rpcError(-32603, 'internal', 503), false).code).toBe('rpc-unavailable');
    expect(classifyRpcFailure(rpcError(-32000, 'nonce too low', 400), true).code).toBe('nonce-clash');
  });

  it('no answer, or a proxy saying the node is gone → rpc-unavailable', () => {
    const unavailable = (message: string): RpcFailure => ({ kind: 'unavailable', message });
    expect(classifyRpcFailure(unavailable('request failed: ECONNREFUSED'), true).code).toBe(
      'rpc-unavailable',
    );
    expect(classifyRpcFailure(unavailable('no answer within 10 ms'), true).code).toBe('rpc-unavailable');
    expect(classifyRpcFailure({ kind: 'http', status: 429, message: 'HTTP 429' }, false).code).toBe(
      'rpc-unavailable',
    );
    expect(classifyRpcFailure({ kind: 'http', status: 408, message: 'HTTP 408' }, false).code).toBe(
      'rpc-unavailable',
    );
    // A JSON body that is no JSON-RPC answer, from a proxy whose status says the node is gone.
    expect(
      classifyRpcFailure({ kind: 'malformed', status: 502, message: 'not a response to request 1' }, false)
        .code,
    ).toBe('rpc-unavailable');
  });

  it('a 2xx body that is not JSON → rpc-malformed-response; HTTP 401 → rpc-error', () => {
    const garbage: RpcFailure = { kind: 'malformed', status: 200, message: 'response is not JSON: <html>' };
    expect(classifyRpcFailure(garbage, false).code).toBe('rpc-malformed-response');
    expect(classifyRpcFailure({ kind: 'http', status: 401, message: 'HTTP 401' }, false)).toEqual({
      code: 'rpc-error',
      message: 'HTTP 401: HTTP 401',
    });
  });

  it('EvmChainError carries code, retryable, chainId and the RPC code', () => {
    const e = new EvmChainError('insufficient-funds', 'x', { chainId: 'evm:1', rpcCode: -32003, cause: 1 });
    expect(e).toMatchObject({
      name: 'EvmChainError',
      code: 'insufficient-funds',
      retryable: false,
      chainId: 'evm:1',
      rpcCode: -32003,
    });
    expect(new EvmChainError('rpc-unavailable', 'x', { chainId: 'evm:1' }).retryable).toBe(true);
  });
});

describe('calldataGas', () => {
  const payload = encodeAnchorPayload({ root: new Uint8Array(32).fill(7), treeSize: 5 }); // 7 zero bytes

  it('before EIP-7623: 21,000 + 16 per non-zero + 4 per zero byte', () => {
    expect(calldataGas(payload, { eip7623: false })).toBe(21_000 + 38 * 16 + 7 * 4);
    expect(calldataGas(new Uint8Array(0), { eip7623: false })).toBe(21_000);
  });

  it('with EIP-7623 the floor of 10 per token rules for data-only transactions', () => {
    expect(calldataGas(payload, { eip7623: true })).toBe(21_000 + 10 * (7 + 4 * 38));
    expect(calldataGasUpperBound(45, { eip7623: true })).toBe(22_800);
    expect(calldataGasUpperBound(45, { eip7623: false })).toBe(21_720);
  });
});
