/**
 * Chain configuration from the environment (lib/runtime/chain-config.ts), the secret files the embedded
 * runtime reads (lib/runtime/embedded-chains.ts) and the deploy-time check (infra/chains.ts): the default is
 * the embedded ledger alone at the old interval, a plaintext key is refused, a key file others can read is
 * refused, and a bad value names its variable.
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { afterEach, describe, expect, it } from 'vitest';
import { chainEnvironment, scheduleIntervalMs } from '../../infra/chains.js';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { toBase64 } from '../../lib/core/bytes.js';
import { silentLogger } from '../../lib/logger.js';
import { awsAnchorChains, EVM_KEY_CONTEXT } from '../../lib/runtime/aws-chains.js';
import {
  type ChainConfigContext,
  type ChainsConfig,
  chainConfigFromEnv,
  defaultChainsConfig,
} from '../../lib/runtime/chain-config.js';
import { ConfigError, configFromEnv } from '../../lib/runtime/config.js';
import {
  buildEmbeddedChains,
  ChainSecretError,
  parseEvmKey,
  readSecretFile,
} from '../../lib/runtime/embedded-chains.js';
import { startBigBangStandIn } from '../support/bigbang-standin.js';
import { openLocalStack } from '../support/local-stack.js';
import { makeTempDir } from '../support/temp-dir.js';

const ctx: ChainConfigContext = { dataDir: '/data', anchorIntervalMs: 10_000, keys: 'file' };
const parse = (env: Record<string, string>): ChainsConfig => {
  const r = chainConfigFromEnv(env, ctx);
  if (!r.ok) throw new Error(r.message);
  return r.config;
};
const refusal = (env: Record<string, string>, c = ctx): string => {
  const r = chainConfigFromEnv(env, c);
  if (r.ok) throw new Error('expected a refusal');
  return r.message;
};
const EVM = { EVM_RPC_URL: 'http://127.0.0.1:8545', EVM_CHAIN_ID: '31337' };

describe('chain configuration', () => {
  const temps: ReturnType<typeof makeTempDir>[] = [];
  afterEach(() => {
    for (const t of temps.splice(0)) t.remove();
  });

  it('defaults to the embedded ledger alone, anchoring every ANCHOR_INTERVAL_MS, unlimited', () => {
    const c = parse({});
    expect(c).toEqual(defaultChainsConfig(10_000));
    expect(c.chains).toEqual([
      {
        kind: 'embedded',
        budget: { maxTxPerSecond: Infinity, maxTokensPerDay: Infinity, inclusionMs: 0 },
        finality: { confirmations: 1, pollMs: 1_000, dropAfterMs: 60_000, stuckAfterMs: 60_000 },
      },
    ]);
    expect(c.policy).toEqual({ targetMaxTimeToAnchorMs: 10_000, minIntervalMs: 1_000 });
    // What `npm start` gets: the runtime config carries the same.
    expect(configFromEnv({}).chains).toEqual(defaultChainsConfig(10_000));
  });

  it('reads several chains with their budgets, finality and inline policy', () => {
    const c = parse({
      ANCHOR_CHAINS: 'embedded, evm,bigbang',
      ...EVM,
      EVM_CONFIRMATIONS: '3',
      EVM_MAX_TX_PER_SECOND: '0.5',
      EVM_MAX_TOKENS_PER_DAY: '0.25',
      EVM_INLINE: 'true',
      EVM_INLINE_MAX_BYTES: '300',
      EVM_MAX_FEE_PER_GAS_WEI: '200000000000',
      BIGBANG_ADDRESS: '1632srrskscs1d809y3x5ttf50f0gabf86xjz2s6aetc9h9ewwhm58dj3',
      BIGBANG_PASSPHRASE_FILE: 'secrets/bbc-pass',
    });
    expect(c.chains.map((x) => x.kind)).toEqual(['embedded', 'evm', 'bigbang']);
    const evm = c.chains[1];
    expect(evm).toMatchObject({
      kind: 'evm',
      chainId: 31337,
      key: { file: '/data/secrets/evm-key' },
      maxFeePerGasWei: 200_000_000_000n,
      budget: { maxTxPerSecond: 0.5, maxTokensPerDay: 0.25, inclusionMs: 12_000 },
      finality: { confirmations: 3 },
      inline: { maxEnvelopeBytes: 300, maxTokensPerDay: Infinity, maxTxsPerBatch: 4 },
    });
    expect(c.chains[2]).toMatchObject({
      kind: 'bigbang',
      rpcUrl: 'http://127.0.0.1:9902',
      network: 'mainnet',
      passphraseFile: '/data/secrets/bbc-pass',
      unlockTimeoutS: 600,
      finality: { confirmations: 10 },
    });
    expect(c.chains[2]?.inline).toBeUndefined();
    // The target leaves the interval at ANCHOR_INTERVAL_MS once the slowest chain's inclusion is counted.
    expect(c.policy.targetMaxTimeToAnchorMs).toBe(10_000 + 60_000);
  });

  it('refuses secrets in the environment, unknown chains, duplicates and bad values, naming the variable', () => {
    expect(refusal({ ANCHOR_CHAINS: 'evm', ...EVM, EVM_PRIVATE_KEY: `0x${'1'.repeat(64)}` })).toMatch(
      /EVM_PRIVATE_KEY is refused/,
    );
    expect(refusal({ BIGBANG_PASSPHRASE: 'x' })).toMatch(/BIGBANG_PASSPHRASE is refused/);
    expect(refusal({ ANCHOR_CHAINS: 'embedded,solana' })).toMatch(/unknown chain "solana"/);
    expect(refusal({ ANCHOR_CHAINS: 'evm,evm', ...EVM })).toMatch(/names evm twice/);
    expect(refusal({ ANCHOR_CHAINS: 'evm' })).toMatch(/EVM_RPC_URL/);
    expect(refusal({ ANCHOR_CHAINS: 'evm', ...EVM, EVM_MAX_TOKENS_PER_DAY: 'lots' })).toMatch(
      /EVM_MAX_TOKENS_PER_DAY/,
    );
    expect(refusal({ ANCHOR_CHAINS: 'bigbang', BIGBANG_ADDRESS: 'not-an-address' })).toMatch(
      /BIGBANG_ADDRESS/,
    );
    expect(refusal({ EMBEDDED_INLINE: 'true' })).toMatch(/EMBEDDED_INLINE/);
    const bbc = {
      ANCHOR_CHAINS: 'bigbang',
      BIGBANG_ADDRESS: '1632srrskscs1d809y3x5ttf50f0gabf86xjz2s6aetc9h9ewwhm58dj3',
    };
    expect(refusal({ ...bbc, BIGBANG_UNLOCK_TIMEOUT_S: '-1' })).toMatch(/BIGBANG_UNLOCK_TIMEOUT_S/);
    expect(refusal({ ...bbc, BIGBANG_UNLOCK_TIMEOUT_S: '1.5' })).toMatch(/BIGBANG_UNLOCK_TIMEOUT_S/);
    expect(parse({ ...bbc, BIGBANG_UNLOCK_TIMEOUT_S: '0' }).chains[0]).toMatchObject({ unlockTimeoutS: 0 });
    expect(() => configFromEnv({ ANCHOR_CHAINS: 'evm' })).toThrow(ConfigError);
  });

  it('in AWS the EVM key is only ever KMS-wrapped (or absent, for watch-only verify)', () => {
    const aws = { ...ctx, keys: 'kms-wrapped' as const };
    const wrapped = chainConfigFromEnv({ ANCHOR_CHAINS: 'evm', ...EVM, NOTARY_EVM_KEY_WRAPPED: 'AAEC' }, aws);
    expect(wrapped.ok && wrapped.config.chains[0]).toMatchObject({
      key: { wrapped: new Uint8Array([0, 1, 2]) },
    });
    const none = chainConfigFromEnv({ ANCHOR_CHAINS: 'evm', ...EVM }, aws);
    expect(none.ok && none.config.chains[0]).toMatchObject({ key: { none: true } });
    expect(refusal({ ANCHOR_CHAINS: 'evm', ...EVM, NOTARY_EVM_KEY_WRAPPED: 'not base64!' }, aws)).toMatch(
      /NOTARY_EVM_KEY_WRAPPED/,
    );
  });

  it('deploy time: the chain variables pass to the functions checked, key files and plaintext keys do not', () => {
    expect(scheduleIntervalMs('rate(5 minutes)')).toBe(300_000);
    expect(scheduleIntervalMs('cron(0 * * * ? *)')).toBe(60_000);
    const env = chainEnvironment(
      {
        ANCHOR_CHAINS: 'embedded,evm',
        ...EVM,
        EVM_PRIVATE_KEY_FILE: '/k',
        EVM_ADDRESS: `0x${'a'.repeat(40)}`,
        HOME: '/root',
      },
      'rate(1 minute)',
    );
    expect(env).toEqual({
      ANCHOR_INTERVAL_MS: '60000',
      ANCHOR_CHAINS: 'embedded,evm',
      ...EVM,
      EVM_ADDRESS: `0x${'a'.repeat(40)}`,
    });
    expect(() => chainEnvironment({ EVM_PRIVATE_KEY: `0x${'1'.repeat(64)}` }, 'rate(1 minute)')).toThrow(
      /refused/,
    );
    expect(() =>
      chainEnvironment({ ANCHOR_CHAINS: 'evm', ...EVM, EVM_INLINE: 'true' }, 'rate(1 minute)'),
    ).toThrow(/embedded-only/);
    expect(() => chainEnvironment({ ANCHOR_CHAINS: 'evm', ...EVM }, 'rate(1 minute)')).toThrow(/EVM_ADDRESS/);
  });

  it('reads a key file only when its owner alone can read it', async () => {
    const t = makeTempDir('keys');
    temps.push(t);
    mkdirSync(join(t.dir, 'secrets'));
    const path = join(t.dir, 'secrets', 'evm-key');
    const key = `0x${'ab'.repeat(32)}`;
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    expect(parseEvmKey(await readSecretFile(path, 'EVM_PRIVATE_KEY_FILE'), path)).toBe(key);
    chmodSync(path, 0o644);
    await expect(readSecretFile(path, 'EVM_PRIVATE_KEY_FILE')).rejects.toThrow(
      /readable by others.*chmod 600/,
    );
    await expect(readSecretFile(join(t.dir, 'nope'), 'EVM_PRIVATE_KEY_FILE')).rejects.toThrow(
      ChainSecretError,
    );
    expect(() => parseEvmKey('0x1234', path)).toThrow(/not a 32-byte hex private key/);
  });

  it('the embedded runtime builds each configured chain, reading the EVM key from its file', async () => {
    const standin = await startBigBangStandIn();
    const stack = await openLocalStack();
    try {
      const path = join(stack.dir, 'secrets', 'evm-key');
      const key = `0x${'cd'.repeat(32)}`;
      writeFileSync(path, key, { mode: 0o600 });
      chmodSync(path, 0o600);
      const c = parse({
        ANCHOR_CHAINS: 'embedded,evm,bigbang',
        ...EVM,
        EVM_PRIVATE_KEY_FILE: path,
        BIGBANG_RPC_URL: standin.url,
        BIGBANG_ADDRESS: standin.address,
        BIGBANG_NETWORK: 'standin',
      });
      const built = await buildEmbeddedChains(c, stack.ledger, silentLogger);
      expect([...built.byId.keys()]).toEqual([stack.ledger.chainId, 'evm:31337', 'bigbang:standin']);
      expect(await built.byId.get('evm:31337')?.describe()).toEqual({
        chainId: 'evm:31337',
        kind: 'evm',
        address: privateKeyToAccount(key as `0x${string}`).address.toLowerCase(),
      });
      expect(await built.byId.get('bigbang:standin')?.describe()).toMatchObject({ address: standin.address });
      expect(built.anchorChains[1]?.finality.confirmations).toBe(12);
    } finally {
      await stack.close();
      await standin.close();
    }
  });
  it('AWS: the anchor function unwraps the EVM key under its context; verify gets a watch-only adapter', async () => {
    const vault = new LocalKeyVault(new Uint8Array(randomBytes(32)));
    const key = `0x${'ef'.repeat(32)}`;
    const wrapped = await vault.wrap(new TextEncoder().encode(key), { ...EVM_KEY_CONTEXT });
    const address = privateKeyToAccount(key as `0x${string}`).address.toLowerCase();
    const env = {
      ANCHOR_CHAINS: 'evm',
      ...EVM,
      EVM_ADDRESS: address,
      NOTARY_EVM_KEY_WRAPPED: toBase64(wrapped),
    };
    const r = chainConfigFromEnv(env, { ...ctx, keys: 'kms-wrapped' });
    if (!r.ok) throw new Error(r.message);
    const [anchor] = await awsAnchorChains(r.config, { vault, log: silentLogger, mode: 'anchor' });
    expect(await anchor?.chain.describe()).toEqual({ chainId: 'evm:31337', kind: 'evm', address });
    const [watch] = await awsAnchorChains(r.config, { log: silentLogger, mode: 'verify' });
    expect(await watch?.chain.describe()).toEqual({ chainId: 'evm:31337', kind: 'evm', address });
    await expect(watch?.chain.submit(new Uint8Array(45), { dedupKey: 'x' })).rejects.toMatchObject({
      code: 'key-locked',
      retryable: false,
    });
    // Wrapped under another context (e.g. a device key's), it does not unwrap.
    const other = await vault.wrap(new TextEncoder().encode(key), { purpose: 'device-master-key' });
    const r2 = chainConfigFromEnv(
      { ...env, NOTARY_EVM_KEY_WRAPPED: toBase64(other) },
      { ...ctx, keys: 'kms-wrapped' },
    );
    if (!r2.ok) throw new Error(r2.message);
    await expect(awsAnchorChains(r2.config, { vault, log: silentLogger, mode: 'anchor' })).rejects.toThrow();
    const none = chainConfigFromEnv({ ANCHOR_CHAINS: 'evm', ...EVM }, { ...ctx, keys: 'kms-wrapped' });
    if (!none.ok) throw new Error(none.message);
    await expect(awsAnchorChains(none.config, { vault, log: silentLogger, mode: 'anchor' })).rejects.toThrow(
      /NOTARY_EVM_KEY_WRAPPED is required/,
    );
  });
});
