/**
 * Which chains anchor, and under what budget and finality policy, from the environment (docs/chains.md §9).
 * lib/runtime/config.ts (embedded) and lib/runtime/aws.ts (Lambda) call this; nothing else reads these
 * variables. The default is the embedded ledger alone, so `npm start` needs none of them.
 *
 *   ANCHOR_CHAINS=embedded,evm        the chains every batch root goes to (embedded, evm, bigbang)
 *   ANCHOR_TARGET_MS                   target max time-to-anchor; default ANCHOR_INTERVAL_MS + the slowest
 *                                      chain's inclusion time, which makes the interval ANCHOR_INTERVAL_MS
 *   <P>_MAX_TX_PER_SECOND, <P>_MAX_TOKENS_PER_DAY, <P>_INCLUSION_MS, <P>_CONFIRMATIONS, <P>_POLL_MS,
 *   <P>_DROP_AFTER_MS, <P>_STUCK_AFTER_MS, <P>_INLINE, <P>_INLINE_MAX_BYTES, <P>_INLINE_MAX_TOKENS_PER_DAY,
 *   <P>_INLINE_MAX_TXS_PER_BATCH      per chain, P = EMBEDDED, EVM or BIGBANG
 *   EVM_RPC_URL, EVM_CHAIN_ID, EVM_PRIVATE_KEY_FILE, EVM_MAX_FEE_PER_GAS_WEI, EVM_GAS_RULE, EVM_TIMEOUT_MS
 *   BIGBANG_RPC_URL, BIGBANG_ADDRESS, BIGBANG_NETWORK, BIGBANG_FORK, BIGBANG_RPC_USER,
 *   BIGBANG_RPC_PASSWORD_FILE, BIGBANG_PASSPHRASE_FILE, BIGBANG_UNLOCK_TIMEOUT_S, BIGBANG_TIMEOUT_MS
 *
 * Secrets never come from a variable's value: the EVM private key is a file (mode 0600, checked when it is
 * read) in the embedded runtime and a KMS-wrapped blob in AWS; a plaintext EVM_PRIVATE_KEY or
 * BIGBANG_PASSPHRASE is refused outright rather than ignored, so nobody believes it is in use. Pure: paths
 * are resolved here, files are read by the composition root (embedded-chains.ts).
 */

import { join, resolve } from 'node:path';
import { z } from 'zod';
import { isAddress } from '../adapters/bigbang/address.js';
import { BIGBANG_DEFAULT_UNLOCK_TIMEOUT_S } from '../adapters/bigbang/bigbang-chain.js';
import type { AnchorPolicy, ChainBudget, InlinePolicy } from '../anchor/anchor-policy.js';
import type { FinalityConfig } from '../anchor/finality-machine.js';
import { CodedError } from '../core/errors.js';
import type { ConfigErrorCode } from './config.js';
import { type Environment, parseEnvironment } from './environment.js';

export type ChainKind = 'embedded' | 'evm' | 'bigbang';

export interface ChainPolicyConfig {
  budget: ChainBudget;
  finality: FinalityConfig;
  /** Present when this chain also takes small records whole (opt-in). */
  inline?: InlinePolicy;
}

export interface EmbeddedChainConfig extends ChainPolicyConfig {
  kind: 'embedded';
}

export interface EvmChainSettings extends ChainPolicyConfig {
  kind: 'evm';
  rpcUrl: string;
  chainId: number;
  /** Where the anchoring key comes from: a 0600 file (embedded), or KMS-wrapped (AWS). */
  key: { file: string } | { wrapped: Uint8Array } | { none: true };
  /** The wallet address, for watch-only use (AWS verify); checked against the key where both exist. */
  address?: string;
  maxFeePerGasWei?: bigint;
  gasRule: 'prague' | 'istanbul';
  timeoutMs: number;
}

export interface BigBangChainSettings extends ChainPolicyConfig {
  kind: 'bigbang';
  rpcUrl: string;
  address: string;
  network: string;
  fork?: string;
  rpcUser?: string;
  rpcPasswordFile?: string;
  passphraseFile?: string;
  /** Seconds each unlockkey keeps the key unlocked (0: until locked by hand or the node restarts). */
  unlockTimeoutS: number;
  timeoutMs: number;
}

export type ChainSettings = EmbeddedChainConfig | EvmChainSettings | BigBangChainSettings;

export interface ChainsConfig {
  chains: ChainSettings[];
  policy: Omit<AnchorPolicy, 'maxBatchSize'>;
  retry: { baseMs: number; maxMs: number };
  /** How often the anchor function is triggered (ANCHOR_INTERVAL_MS; in AWS the Cron's period). */
  tickMs: number;
}

export type ChainConfigResult = { ok: true; config: ChainsConfig } | { ok: false; message: string };

const positiveInt = z.coerce.number().int().positive();
const nonNegInt = z.coerce.number().int().nonnegative();
/** A limit: a positive number, or `none`/`unlimited` (the default) for no limit. */
const limit = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === '' || v === 'none' || v === 'unlimited') return Number.POSITIVE_INFINITY;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) {
      ctx.addIssue({ code: 'custom', message: 'must be a non-negative number or "none"' });
      return z.NEVER;
    }
    return n;
  });
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

const Global = z.object({
  ANCHOR_CHAINS: z.string().default('embedded'),
  ANCHOR_TARGET_MS: positiveInt.optional(),
  ANCHOR_MIN_INTERVAL_MS: positiveInt.optional(),
  ANCHOR_RETRY_BASE_MS: positiveInt.default(1_000),
  ANCHOR_RETRY_MAX_MS: positiveInt.default(5 * 60_000),
});

/** Starting points per kind (docs/chains.md §4, §5); every one is configurable. */
const DEFAULTS: Record<
  ChainKind,
  { inclusionMs: number; confirmations: number; pollMs: number; dropAfterMs: number; stuckAfterMs: number }
> = {
  embedded: { inclusionMs: 0, confirmations: 1, pollMs: 1_000, dropAfterMs: 60_000, stuckAfterMs: 60_000 },
  evm: {
    inclusionMs: 12_000,
    confirmations: 12,
    pollMs: 4_000,
    dropAfterMs: 600_000,
    stuckAfterMs: 1_800_000,
  },
  bigbang: {
    inclusionMs: 60_000,
    confirmations: 10,
    pollMs: 15_000,
    dropAfterMs: 1_800_000,
    stuckAfterMs: 3_600_000,
  },
};

const PREFIX: Record<ChainKind, string> = { embedded: 'EMBEDDED', evm: 'EVM', bigbang: 'BIGBANG' };

function policyOf(kind: ChainKind, env: Record<string, string | undefined>): ChainPolicyConfig {
  const p = PREFIX[kind];
  const d = DEFAULTS[kind];
  const Schema = z.object({
    [`${p}_MAX_TX_PER_SECOND`]: limit,
    [`${p}_MAX_TOKENS_PER_DAY`]: limit,
    [`${p}_INCLUSION_MS`]: nonNegInt.default(d.inclusionMs),
    [`${p}_CONFIRMATIONS`]: positiveInt.default(d.confirmations),
    [`${p}_POLL_MS`]: positiveInt.default(d.pollMs),
    [`${p}_DROP_AFTER_MS`]: positiveInt.default(d.dropAfterMs),
    [`${p}_STUCK_AFTER_MS`]: positiveInt.default(d.stuckAfterMs),
    [`${p}_INLINE`]: bool.default(false),
    [`${p}_INLINE_MAX_BYTES`]: positiveInt.default(1024),
    [`${p}_INLINE_MAX_TOKENS_PER_DAY`]: limit,
    [`${p}_INLINE_MAX_TXS_PER_BATCH`]: positiveInt.max(1000).default(4),
  });
  const e = parseOrThrow(Schema, env) as Record<string, number | boolean>;
  const num = (k: string) => e[`${p}_${k}`] as number;
  if (e[`${p}_MAX_TX_PER_SECOND`] === 0) throw new ChainConfigError(`${p}_MAX_TX_PER_SECOND must be > 0`);
  const inline = e[`${p}_INLINE`] === true;
  if (inline && kind === 'embedded') {
    throw new ChainConfigError(
      'EMBEDDED_INLINE: the embedded ledger is our own storage; inline packets are for public chains',
    );
  }
  return {
    budget: {
      maxTxPerSecond: num('MAX_TX_PER_SECOND'),
      maxTokensPerDay: num('MAX_TOKENS_PER_DAY'),
      inclusionMs: num('INCLUSION_MS'),
    },
    finality: {
      confirmations: num('CONFIRMATIONS'),
      pollMs: num('POLL_MS'),
      dropAfterMs: num('DROP_AFTER_MS'),
      stuckAfterMs: num('STUCK_AFTER_MS'),
    },
    ...(inline
      ? {
          inline: {
            maxEnvelopeBytes: num('INLINE_MAX_BYTES'),
            maxTokensPerDay: num('INLINE_MAX_TOKENS_PER_DAY'),
            maxTxsPerBatch: num('INLINE_MAX_TXS_PER_BATCH'),
          },
        }
      : {}),
  };
}

/** Caught in chainConfigFromEnv and returned as its `{ ok: false, message }`; never leaves this module. */
class ChainConfigError extends CodedError<ConfigErrorCode> {
  override readonly name = 'ChainConfigError';
  constructor(message: string) {
    super('invalid-config', message);
  }
}

function parseOrThrow<T extends z.ZodType>(schema: T, env: Environment): z.infer<T> {
  const r = parseEnvironment(schema, env);
  if (!r.ok) throw new ChainConfigError(r.message);
  return r.data;
}

const EvmEnv = z.object({
  EVM_RPC_URL: httpUrl,
  EVM_CHAIN_ID: positiveInt,
  EVM_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  EVM_ADDRESS: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/, 'must be 0x + 40 hex')
    .optional(),
  EVM_MAX_FEE_PER_GAS_WEI: z
    .string()
    .regex(/^\d{1,30}$/, 'must be an integer number of wei')
    .transform((v) => BigInt(v))
    .optional(),
  EVM_GAS_RULE: z.enum(['prague', 'istanbul']).default('prague'),
  EVM_TIMEOUT_MS: positiveInt.default(10_000),
});

const BigBangEnv = z.object({
  BIGBANG_RPC_URL: httpUrl.default('http://127.0.0.1:9902'),
  BIGBANG_ADDRESS: z.string().min(1),
  BIGBANG_NETWORK: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, 'must be 1-32 of [a-z0-9-]')
    .default('mainnet'),
  BIGBANG_FORK: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 hex')
    .optional(),
  BIGBANG_RPC_USER: z.string().min(1).optional(),
  BIGBANG_RPC_PASSWORD_FILE: z.string().min(1).optional(),
  BIGBANG_PASSPHRASE_FILE: z.string().min(1).optional(),
  // The node's own default, without a timeout, relocks after 60 s (FACTS.md): never left to it.
  BIGBANG_UNLOCK_TIMEOUT_S: nonNegInt.max(31_536_000).default(BIGBANG_DEFAULT_UNLOCK_TIMEOUT_S),
  BIGBANG_TIMEOUT_MS: positiveInt.default(10_000),
});

export interface ChainConfigContext {
  /** Where relative key files live and where the default key file is. */
  dataDir: string;
  anchorIntervalMs: number;
  /** 'file': the embedded runtime reads keys from 0600 files; 'kms-wrapped': AWS gets them wrapped. */
  keys: 'file' | 'kms-wrapped';
}

/** The default: the embedded ledger alone, every other setting at its default. */
export function defaultChainsConfig(anchorIntervalMs: number): ChainsConfig {
  return parse({}, { dataDir: '.', anchorIntervalMs, keys: 'file' });
}

/** Parses the chain variables. Never throws: a bad configuration is a message. */
export function chainConfigFromEnv(
  env: Record<string, string | undefined>,
  ctx: ChainConfigContext,
): ChainConfigResult {
  try {
    return { ok: true, config: parse(env, ctx) };
  } catch (e) {
    if (e instanceof ChainConfigError) return { ok: false, message: e.message };
    throw e;
  }
}

function parse(env: Record<string, string | undefined>, ctx: ChainConfigContext): ChainsConfig {
  for (const forbidden of ['EVM_PRIVATE_KEY', 'BIGBANG_PASSPHRASE', 'BIGBANG_RPC_PASSWORD']) {
    if (env[forbidden] !== undefined && env[forbidden] !== '') {
      throw new ChainConfigError(
        `${forbidden} is refused: secrets never go in the environment; use ${forbidden}_FILE (a 0600 file)${
          forbidden === 'EVM_PRIVATE_KEY' ? ' or, in AWS, NOTARY_EVM_KEY_WRAPPED (KMS)' : ''
        }`,
      );
    }
  }
  const g = parseOrThrow(Global, env);
  const kinds = g.ANCHOR_CHAINS.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (kinds.length === 0) throw new ChainConfigError('ANCHOR_CHAINS names no chain');
  const seen = new Set<string>();
  const chains: ChainSettings[] = [];
  for (const k of kinds) {
    if (k !== 'embedded' && k !== 'evm' && k !== 'bigbang') {
      throw new ChainConfigError(
        `ANCHOR_CHAINS: unknown chain ${JSON.stringify(k)} (embedded, evm, bigbang)`,
      );
    }
    if (seen.has(k)) throw new ChainConfigError(`ANCHOR_CHAINS names ${k} twice`);
    seen.add(k);
    const policy = policyOf(k, env);
    if (k === 'embedded') chains.push({ kind: 'embedded', ...policy });
    else if (k === 'evm') chains.push(evmOf(env, ctx, policy));
    else chains.push(bigbangOf(env, ctx, policy));
  }
  const slowest = Math.max(...chains.map((c) => c.budget.inclusionMs));
  return {
    chains,
    policy: {
      targetMaxTimeToAnchorMs: g.ANCHOR_TARGET_MS ?? ctx.anchorIntervalMs + slowest,
      minIntervalMs: g.ANCHOR_MIN_INTERVAL_MS ?? Math.min(1000, ctx.anchorIntervalMs),
    },
    retry: { baseMs: g.ANCHOR_RETRY_BASE_MS, maxMs: Math.max(g.ANCHOR_RETRY_BASE_MS, g.ANCHOR_RETRY_MAX_MS) },
    tickMs: ctx.anchorIntervalMs,
  };
}

function evmOf(
  env: Record<string, string | undefined>,
  ctx: ChainConfigContext,
  policy: ChainPolicyConfig,
): EvmChainSettings {
  const e = parseOrThrow(EvmEnv, env);
  let key: EvmChainSettings['key'];
  if (ctx.keys === 'file') {
    key = { file: resolve(ctx.dataDir, e.EVM_PRIVATE_KEY_FILE ?? join('secrets', 'evm-key')) };
  } else {
    const wrapped = env.NOTARY_EVM_KEY_WRAPPED;
    if (wrapped === undefined || wrapped === '') key = { none: true };
    else {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(wrapped))
        throw new ChainConfigError('NOTARY_EVM_KEY_WRAPPED must be base64');
      key = { wrapped: new Uint8Array(Buffer.from(wrapped, 'base64')) };
    }
  }
  return {
    kind: 'evm',
    ...policy,
    rpcUrl: e.EVM_RPC_URL,
    chainId: e.EVM_CHAIN_ID,
    key,
    ...(e.EVM_ADDRESS ? { address: e.EVM_ADDRESS.toLowerCase() } : {}),
    ...(e.EVM_MAX_FEE_PER_GAS_WEI === undefined ? {} : { maxFeePerGasWei: e.EVM_MAX_FEE_PER_GAS_WEI }),
    gasRule: e.EVM_GAS_RULE,
    timeoutMs: e.EVM_TIMEOUT_MS,
  };
}

function bigbangOf(
  env: Record<string, string | undefined>,
  ctx: ChainConfigContext,
  policy: ChainPolicyConfig,
): BigBangChainSettings {
  const e = parseOrThrow(BigBangEnv, env);
  if (!isAddress(e.BIGBANG_ADDRESS)) {
    throw new ChainConfigError(
      `BIGBANG_ADDRESS ${JSON.stringify(e.BIGBANG_ADDRESS)} is not a BigBang address`,
    );
  }
  if ((e.BIGBANG_RPC_USER === undefined) !== (e.BIGBANG_RPC_PASSWORD_FILE === undefined)) {
    throw new ChainConfigError('BIGBANG_RPC_USER and BIGBANG_RPC_PASSWORD_FILE go together');
  }
  const file = (f: string | undefined) => (f === undefined ? undefined : resolve(ctx.dataDir, f));
  const passwordFile = file(e.BIGBANG_RPC_PASSWORD_FILE);
  const passphraseFile = file(e.BIGBANG_PASSPHRASE_FILE);
  return {
    kind: 'bigbang',
    ...policy,
    rpcUrl: e.BIGBANG_RPC_URL,
    address: e.BIGBANG_ADDRESS,
    network: e.BIGBANG_NETWORK,
    ...(e.BIGBANG_FORK ? { fork: e.BIGBANG_FORK } : {}),
    ...(e.BIGBANG_RPC_USER ? { rpcUser: e.BIGBANG_RPC_USER } : {}),
    ...(passwordFile ? { rpcPasswordFile: passwordFile } : {}),
    ...(passphraseFile ? { passphraseFile } : {}),
    unlockTimeoutS: e.BIGBANG_UNLOCK_TIMEOUT_S,
    timeoutMs: e.BIGBANG_TIMEOUT_MS,
  };
}
