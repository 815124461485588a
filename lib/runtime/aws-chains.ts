/**
 * The AWS runtime's chains, from the same ChainsConfig as the embedded runtime (chain-config.ts, read by
 * lib/runtime/aws.ts with keys 'kms-wrapped'): "embedded" is the DynamoDB ledger, EVM and BigBang are the
 * same adapters. Secrets exist in configuration only wrapped by KMS (NOTARY_EVM_KEY_WRAPPED); the anchor
 * function unwraps the EVM key once per cold start. The verify function never holds it: its EVM adapter is
 * watch-only (EVM_ADDRESS), which is all a lookup needs.
 */
import type { Hex } from 'viem';
import { BigBangChain } from '../adapters/bigbang/bigbang-chain.js';
import { EvmChain } from '../adapters/evm/evm-chain.js';
import type { AnchorChain } from '../anchor/anchor-policy.js';
import { CodedError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import type { Chain, KeyVault } from '../ports.js';
import type { ChainsConfig } from './chain-config.js';
import type { ConfigErrorCode } from './config.js';

/**
 * KMS context of the wrapped EVM key. The anchor function's kms:Decrypt grant (deployed only when
 * ANCHOR_CHAINS names evm) is conditioned on this purpose, so nothing else can unwrap it; `chain` binds the
 * blob to EVM use, since a context must match exactly to decrypt. (The ledger's own key is not wrapped: it is
 * a KMS signing key, lib/adapters/aws/kms-ledger-signer.ts.)
 */
export const EVM_KEY_CONTEXT: Readonly<Record<string, string>> = { purpose: 'anchoring-key', chain: 'evm' };

export class AwsChainConfigError extends CodedError<ConfigErrorCode> {
  override readonly name = 'AwsChainConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-config', message, options);
  }
}

export async function awsAnchorChains(
  config: ChainsConfig,
  o: { ledger?: Chain; vault?: KeyVault; log: Logger; mode: 'anchor' | 'verify' },
): Promise<AnchorChain[]> {
  const out: AnchorChain[] = [];
  for (const c of config.chains) {
    let chain: Chain | undefined;
    if (c.kind === 'embedded') {
      chain = o.ledger;
      if (!chain) continue;
    } else if (c.kind === 'evm') {
      const common = {
        rpcUrl: c.rpcUrl,
        chainId: c.chainId,
        timeoutMs: c.timeoutMs,
        gasRule: c.gasRule,
        ...(c.maxFeePerGasWei === undefined ? {} : { maxFeePerGasWei: c.maxFeePerGasWei }),
        onEvent: (e: { kind: string }) => o.log.warn(`evm ${e.kind}`, { ...e }),
      };
      if (o.mode === 'anchor') {
        if (!('wrapped' in c.key) || !o.vault) {
          throw new AwsChainConfigError('ANCHOR_CHAINS names evm: NOTARY_EVM_KEY_WRAPPED is required');
        }
        const raw = await o.vault.unwrap(c.key.wrapped, { ...EVM_KEY_CONTEXT });
        const hex = new TextDecoder().decode(raw).trim();
        raw.fill(0);
        if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hex))
          throw new AwsChainConfigError('the unwrapped EVM key is not 32 bytes of hex');
        const privateKey = (hex.startsWith('0x') ? hex : `0x${hex}`).toLowerCase() as Hex;
        chain = new EvmChain({ ...common, privateKey, ...(c.address ? { address: c.address } : {}) });
      } else {
        if (!c.address) throw new AwsChainConfigError('ANCHOR_CHAINS names evm: EVM_ADDRESS is required');
        chain = new EvmChain({ ...common, address: c.address });
      }
    } else {
      chain = new BigBangChain({
        rpcUrl: c.rpcUrl,
        from: c.address,
        network: c.network,
        timeoutMs: c.timeoutMs,
        ...(c.fork ? { fork: c.fork } : {}),
        onEvent: (e) => o.log.warn(`bigbang ${e.kind}`, { ...e }),
      });
    }
    out.push({
      chain,
      budget: c.budget,
      finality: c.finality,
      ...(c.inline ? { inline: c.inline } : {}),
    });
  }
  return out;
}
