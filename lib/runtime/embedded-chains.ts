/**
 * The embedded runtime's chains, from ChainsConfig (chain-config.ts): the embedded ledger (always built; it
 * is also the default and only chain), an EVM chain whose key is read from a 0600 file, a BigBang Core node
 * through its RPC. The composition root (embedded.ts) calls this; nothing else constructs chain adapters.
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Hex } from 'viem';
import { BigBangChain } from '../adapters/bigbang/bigbang-chain.js';
import { EvmChain } from '../adapters/evm/evm-chain.js';
import type { EmbeddedLedger } from '../adapters/local/embedded-ledger.js';
import type { AnchorChain } from '../anchor/anchor-policy.js';
import { CodedError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import type { Chain } from '../ports.js';
import type { ChainSettings, ChainsConfig } from './chain-config.js';
import type { ConfigErrorCode } from './config.js';

export class ChainSecretError extends CodedError<ConfigErrorCode> {
  override readonly name = 'ChainSecretError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('secret-unreadable', message, options);
  }
}

/**
 * A secret file's content, trimmed. Refused unless only its owner can read it (mode 0600 or stricter): a key
 * others can read is a key to consider leaked.
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT')
      throw new ChainSecretError(`${what}: no file at ${path}`);
    throw e;
  }
  if ((mode & 0o077) !== 0) {
    throw new ChainSecretError(
      `${what}: ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  return (await readFile(path, 'utf8')).trim();
}

/** A 32-byte secp256k1 key, 0x-prefixed or bare hex. */
export function parseEvmKey(text: string, what: string): Hex {
  const hex = text.startsWith('0x') ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ChainSecretError(`${what}: not a 32-byte hex private key`);
  return `0x${hex.toLowerCase()}`;
}

export interface EmbeddedChains {
  anchorChains: AnchorChain[];
  /** By chainId, for verify. */
  byId: Map<string, Chain>;
}

export async function buildEmbeddedChains(
  config: ChainsConfig,
  ledger: EmbeddedLedger,
  log: Logger,
): Promise<EmbeddedChains> {
  const anchorChains: AnchorChain[] = [];
  for (const c of config.chains) {
    const chain = await chainOf(c, ledger, log);
    anchorChains.push({
      chain,
      budget: c.budget,
      finality: c.finality,
      ...(c.inline ? { inline: c.inline } : {}),
    });
  }
  return { anchorChains, byId: new Map(anchorChains.map((a) => [a.chain.chainId, a.chain])) };
}

async function chainOf(c: ChainSettings, ledger: EmbeddedLedger, log: Logger): Promise<Chain> {
  switch (c.kind) {
    case 'embedded':
      return ledger;
    case 'evm': {
      if (!('file' in c.key))
        throw new ChainSecretError('EVM: the embedded runtime reads its key from a file');
      const privateKey = parseEvmKey(await readSecretFile(c.key.file, 'EVM_PRIVATE_KEY_FILE'), c.key.file);
      const chain = new EvmChain({
        rpcUrl: c.rpcUrl,
        chainId: c.chainId,
        privateKey,
        timeoutMs: c.timeoutMs,
        gasRule: c.gasRule,
        ...(c.maxFeePerGasWei === undefined ? {} : { maxFeePerGasWei: c.maxFeePerGasWei }),
        onEvent: (e) => log.warn(`evm ${e.kind}`, { ...e }),
      });
      if (c.address !== undefined && c.address !== chain.address) {
        throw new ChainSecretError(
          `EVM_ADDRESS ${c.address} is not the address of the key (${chain.address})`,
        );
      }
      return chain;
    }
    case 'bigbang': {
      const password = c.rpcPasswordFile
        ? await readSecretFile(c.rpcPasswordFile, 'BIGBANG_RPC_PASSWORD_FILE')
        : undefined;
      const passphrase = c.passphraseFile
        ? await readSecretFile(c.passphraseFile, 'BIGBANG_PASSPHRASE_FILE')
        : undefined;
      return new BigBangChain({
        rpcUrl: c.rpcUrl,
        from: c.address,
        network: c.network,
        timeoutMs: c.timeoutMs,
        ...(c.fork ? { fork: c.fork } : {}),
        ...(c.rpcUser && password !== undefined ? { rpcAuth: { user: c.rpcUser, password } } : {}),
        ...(passphrase !== undefined ? { unlock: { passphrase, timeoutSeconds: c.unlockTimeoutS } } : {}),
        onEvent: (e) => log.warn(`bigbang ${e.kind}`, { ...e }),
      });
    }
  }
}
