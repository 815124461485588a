/**
 * The embedded runtime's configuration, from the environment only (README lists every variable). This and
 * lib/runtime/embedded.ts are the only places that read process.env.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { defaultVerifyThreads } from '../ingest/signature-verifier.js';
import { type ChainsConfig, chainConfigFromEnv } from './chain-config.js';
import { type IpfsRuntimeConfig, ipfsConfigFromEnv } from './ipfs-config.js';

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();

const Env = z.object({
  MQTT_PORT: port.default(1883),
  HTTP_PORT: port.default(8080),
  HOST: z.string().default('127.0.0.1'),
  DATA_DIR: z.string().default('./data'),
  ANCHOR_INTERVAL_MS: positive.default(10_000),
  ANCHOR_MAX_BATCH: positive.default(100_000),
  MAX_PACKET_BYTES: positive.default(2 * 1024 * 1024),
  MAX_CLOCK_SKEW_MS: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(5 * 60_000),
  UPLOAD_TTL_SECONDS: positive.default(900),
  BACKLOG_THRESHOLD: positive.default(1_000_000),
  PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  DURABLE_WRITES: z.enum(['true', 'false']).default('true'),
  /** Worker threads that check device signatures; 0 checks them on the event loop. */
  SIGNATURE_VERIFY_THREADS: z.coerce.number().int().min(0).max(64).optional(),
});

export interface RuntimeConfig {
  mqttPort: number;
  httpPort: number;
  host: string;
  dataDir: string;
  anchorIntervalMs: number;
  anchorMaxBatch: number;
  maxPacketBytes: number;
  maxClockSkewMs: number;
  uploadTtlSeconds: number;
  backlogThreshold: number;
  publicUrl?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  durableWrites: boolean;
  /** Threads of the signature verifier pool (lib/ingest/signature-verifier.ts); 0: on the event loop. */
  signatureVerifyThreads: number;
  /** IPFS hot copies (lib/runtime/ipfs-config.ts, the IPFS_* variables); a config without it has them off. */
  ipfs?: IpfsRuntimeConfig;
  /** Chains, budgets and finality (lib/runtime/chain-config.ts); a config without it anchors to the ledger. */
  chains?: ChainsConfig;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const r = Env.safeParse(env);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const e = r.data;
  const ipfs = ipfsConfigFromEnv(env, resolve(e.DATA_DIR));
  if (!ipfs.ok) throw new ConfigError(ipfs.message);
  const chains = chainConfigFromEnv(env, {
    dataDir: resolve(e.DATA_DIR),
    anchorIntervalMs: e.ANCHOR_INTERVAL_MS,
    keys: 'file',
  });
  if (!chains.ok) throw new ConfigError(chains.message);
  return {
    mqttPort: e.MQTT_PORT,
    httpPort: e.HTTP_PORT,
    host: e.HOST,
    dataDir: resolve(e.DATA_DIR),
    anchorIntervalMs: e.ANCHOR_INTERVAL_MS,
    anchorMaxBatch: e.ANCHOR_MAX_BATCH,
    maxPacketBytes: e.MAX_PACKET_BYTES,
    maxClockSkewMs: e.MAX_CLOCK_SKEW_MS,
    uploadTtlSeconds: e.UPLOAD_TTL_SECONDS,
    backlogThreshold: e.BACKLOG_THRESHOLD,
    ...(e.PUBLIC_URL ? { publicUrl: e.PUBLIC_URL.replace(/\/$/, '') } : {}),
    logLevel: e.LOG_LEVEL,
    durableWrites: e.DURABLE_WRITES === 'true',
    signatureVerifyThreads: e.SIGNATURE_VERIFY_THREADS ?? defaultVerifyThreads(availableParallelism()),
    ipfs: ipfs.config,
    chains: chains.config,
  };
}
