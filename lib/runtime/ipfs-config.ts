/**
 * Configuration of IPFS hot copies, from the environment (docs/ipfs.md §10): which records are hot, where
 * they are pinned, and how the pin queue is drained. lib/runtime/config.ts (embedded) and lib/runtime/aws.ts
 * (Lambda) call these; nothing else reads the variables.
 *
 * Every variable is checked at startup, hot or not, so a typo fails `npm start` at once instead of the day
 * someone turns hot copies on. The parsers answer with an error message rather than throwing, so each
 * composition root reports it through its own configuration error.
 */

import { resolve } from 'node:path';
import { z } from 'zod';
import type { BackoffPolicy } from '../core/backoff.js';
import { type HotPolicyConfig, hotPolicy, parseHotPolicy } from '../ipfs/hot-policy.js';
import { type Environment, parseEnvironment } from './environment.js';

const positive = z.coerce.number().int().positive();
const port = z.coerce.number().int().min(0).max(65535);
const url = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''));

/** What the embedded runtime and the Lambdas share. */
const Common = z.object({
  IPFS_HOT: z.string().default('none'),
  /** A Kubo RPC endpoint (a Kubo node, IPFS Cluster's proxy at :9095, or another runtime's embedded one). */
  IPFS_API_URL: url.optional(),
  IPFS_TIMEOUT_MS: positive.default(30_000),
  IPFS_PIN_BATCH: positive.max(1000).default(32),
  IPFS_PIN_LEASE_MS: positive.default(10 * 60_000),
  IPFS_BACKOFF_BASE_MS: positive.default(1_000),
  IPFS_BACKOFF_MAX_MS: positive.default(5 * 60_000),
});

const Embedded = Common.extend({
  IPFS_EMBEDDED_PORT: port.default(5001),
  IPFS_REPO_DIR: z.string().min(1).optional(),
  IPFS_PIN_INTERVAL_MS: positive.default(5_000),
});

const Aws = Common.extend({
  NOTARY_TABLE_PIN_JOBS: z.string().min(3).optional(),
  NOTARY_PIN_SHARDS: positive.max(256).default(4),
});

export interface IpfsPinConfig {
  /** The hot policy as parsed and validated (lib/ipfs/hot-policy.ts); mode `none` turns pinning off. */
  hot: HotPolicyConfig;
  /** Where pins go and verify fetches from; unset means the embedded endpoint (embedded) or none (AWS). */
  apiUrl?: string;
  timeoutMs: number;
  /** Jobs per drain pass, and how long a claimed job stays invisible to other workers. */
  drain: { batch: number; leaseMs: number };
  backoff: BackoffPolicy;
}

export interface IpfsRuntimeConfig extends IpfsPinConfig {
  /** Port of the embedded Kubo RPC endpoint on HOST; 0 picks a free one. */
  embeddedPort: number;
  /** Repo of the embedded endpoint: blocks, pins, identity. */
  repoDir: string;
  /** Time between drain passes; a pass also follows every newly queued job. */
  pinIntervalMs: number;
}

export interface AwsIpfsConfig extends IpfsPinConfig {
  /** The pinJobs table; required by the ipfs-pin function only. */
  pinJobsTable?: string;
  pinShards: number;
}

export type Parsed<T> = { ok: true; config: T } | { ok: false; message: string };

function common(e: z.infer<typeof Common>): Parsed<IpfsPinConfig> {
  let hot: HotPolicyConfig;
  try {
    // hotPolicy() validates patterns and route names; a policy that could never match is refused here.
    hot = hotPolicy(parseHotPolicy(e.IPFS_HOT)).config;
  } catch (err) {
    return { ok: false, message: `IPFS_HOT: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (e.IPFS_BACKOFF_MAX_MS < e.IPFS_BACKOFF_BASE_MS)
    return { ok: false, message: 'IPFS_BACKOFF_MAX_MS: must not be below IPFS_BACKOFF_BASE_MS' };
  return {
    ok: true,
    config: {
      hot,
      ...(e.IPFS_API_URL ? { apiUrl: e.IPFS_API_URL } : {}),
      timeoutMs: e.IPFS_TIMEOUT_MS,
      drain: { batch: e.IPFS_PIN_BATCH, leaseMs: e.IPFS_PIN_LEASE_MS },
      backoff: { baseMs: e.IPFS_BACKOFF_BASE_MS, maxMs: e.IPFS_BACKOFF_MAX_MS },
    },
  };
}

/** The embedded runtime's IPFS settings; `dataDir` is the resolved DATA_DIR. */
export function ipfsConfigFromEnv(env: Environment, dataDir: string): Parsed<IpfsRuntimeConfig> {
  const r = parseEnvironment(Embedded, env);
  if (!r.ok) return r;
  const c = common(r.data);
  if (!c.ok) return c;
  return {
    ok: true,
    config: {
      ...c.config,
      embeddedPort: r.data.IPFS_EMBEDDED_PORT,
      repoDir: resolve(dataDir, r.data.IPFS_REPO_DIR ?? 'ipfs'),
      pinIntervalMs: r.data.IPFS_PIN_INTERVAL_MS,
    },
  };
}

/** The Lambdas' IPFS settings (sst.config.ts sets them on the ipfs-pin and verify functions). */
export function awsIpfsConfigFromEnv(env: Environment): Parsed<AwsIpfsConfig> {
  // An empty variable means unset, as for the rest of the Lambda environment (lib/runtime/aws.ts).
  const r = parseEnvironment(Aws, env, { emptyIsUnset: true });
  if (!r.ok) return r;
  const c = common(r.data);
  if (!c.ok) return c;
  if (c.config.hot.mode !== 'none' && !c.config.apiUrl)
    return {
      ok: false,
      message: 'IPFS_API_URL: required when IPFS_HOT is not none (no embedded node in AWS)',
    };
  return {
    ok: true,
    config: {
      ...c.config,
      ...(r.data.NOTARY_TABLE_PIN_JOBS ? { pinJobsTable: r.data.NOTARY_TABLE_PIN_JOBS } : {}),
      pinShards: r.data.NOTARY_PIN_SHARDS,
    },
  };
}
