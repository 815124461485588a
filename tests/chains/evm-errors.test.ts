/**
 * Classification of EVM node answers into stable codes, and the calldata gas rule. The node messages are the
 * texts each client sends: geth (core/error.go, core/txpool/errors.go), ganache 7.9.2 (seen in
 * evm-chain.test.ts), Besu, Nethermind, OpenEthereum.
 */
import { HttpRequestError, RpcRequestError, TimeoutError } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  classifySendMessage,
  classifyTransportError,
  EvmChainError,
} from '../../lib/adapters/evm/evm-errors.js';
import { calldataGas, calldataGasUpperBound } from '../../lib/adapters/evm/evm-gas.js';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';

const rpcError = (code: number, message: string, status?: number) =>
  new RpcRequestError({
    body: {},
    error: { code, message },
    url: 'http://node',
    ...(status ? { status } : {}),
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

describe('classifyTransportError', () => {
  it('JSON-RPC errors: refusals when sending, rpc-error when reading', () => {
    expect(classifyTransportError(rpcError(-32000, 'nonce too low'), true)).toMatchObject({
      code: 'nonce-clash',
      rpcCode: -32000,
    });
    expect(classifyTransportError(rpcError(-32601, 'the method foo does not exist'), false).code).toBe(
      'rpc-error',
    );
    expect(classifyTransportError(rpcError(-32005, 'rate limited'), false).code).toBe('rpc-unavailable');
    expect(classifyTransportError(rpcError(-32603, 'internal', 503), false).code).toBe('rpc-unavailable');
  });

  it('no answer, or a proxy saying the node is gone → rpc-unavailable', () => {
    const refused = new HttpRequestError({
      url: 'http://node',
      details: 'fetch failed',
      cause: new TypeError('fetch failed'),
    });
    expect(classifyTransportError(refused, true).code).toBe('rpc-unavailable');
    expect(
      classifyTransportError(new HttpRequestError({ url: 'u', status: 502, details: 'bad gateway' }), false)
        .code,
    ).toBe('rpc-unavailable');
    expect(
      classifyTransportError(new HttpRequestError({ url: 'u', status: 429, details: 'slow down' }), false)
        .code,
    ).toBe('rpc-unavailable');
    expect(classifyTransportError(new TimeoutError({ body: {}, url: 'u' }), true).code).toBe(
      'rpc-unavailable',
    );
  });

  it('a 2xx body that is not JSON → rpc-malformed-response; HTTP 401 → rpc-error', () => {
    const garbage = new HttpRequestError({
      url: 'u',
      details: 'Unexpected token <',
      cause: new SyntaxError('Unexpected token <'),
    });
    expect(classifyTransportError(garbage, false).code).toBe('rpc-malformed-response');
    expect(
      classifyTransportError(new HttpRequestError({ url: 'u', status: 401, details: 'no' }), false).code,
    ).toBe('rpc-error');
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
