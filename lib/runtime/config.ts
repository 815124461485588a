/**
 * The embedded runtime's configuration, from the environment only (README lists every variable), read through
 * lib/runtime/environment.ts, the one module that reads the process environment.
 */

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { CodedError } from '../core/errors.js';
import { DEFAULT_KEY_RELEASE_MAX_RECORDS } from '../devices/release-device-keys.js';
import { DEFAULT_EXPORT_MAX_RECORDS } from '../export/device-export.js';
import { defaultVerifyThreads } from '../ingest/signature-verifier.js';
import { type ChainsConfig, chainConfigFromEnv } from './chain-config.js';
import { type Environment, parseEnvironment, processEnvironment } from './environment.js';
import { type IpfsRuntimeConfig, ipfsConfigFromEnv } from './ipfs-config.js';

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();

const Env = z.object({
  MQTT_PORT: z.union([z.literal('off'), port]).default(1883),
  MQTTS_PORT: port.default(8883),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
  ALLOW_PLAINTEXT: z.enum(['true', 'false']).default('false'),
  MQTT_CONNECT_TIMEOUT_MS: positive.default(10_000),
  MQTT_MAX_PENDING_CONNECTIONS: positive.default(1000),
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
  KEY_RELEASE_MAX_RECORDS: positive.max(1_000_000).default(DEFAULT_KEY_RELEASE_MAX_RECORDS),
  EXPORT_MAX_RECORDS: positive.max(10_000_000).default(DEFAULT_EXPORT_MAX_RECORDS),
  FAILURE_BURST: positive.max(1_000_000).default(10),
  FAILURE_RATE_PER_MINUTE: z.coerce.number().positive().max(1_000_000).default(6),
  FAILURE_SUMMARY_MS: positive.default(60_000),
  DEAD_LETTER_RETENTION_DAYS: positive.max(36_500).default(30),
  DEAD_LETTER_MAX_ROWS: positive.default(100_000),
  SWEEP_INTERVAL_MS: positive.default(600_000),
  STAGED_UPLOAD_MAX_AGE_SECONDS: positive.default(86_400),
});

/** TLS for the listeners (TLS_* variables); the PEM contents are read and checked at startup. */
export interface RuntimeTls {
  /** MQTT over TLS listens here; the HTTP port then serves HTTPS only. */
  mqttsPort: number;
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** Mutual TLS on the MQTT-over-TLS listener: client certificates from this CA are the devices' credential. */
  clientCaFile?: string;
  clientCa?: Buffer;
}

export interface RuntimeConfig {
  /** Plain MQTT; undefined with MQTT_PORT=off. */
  mqttPort: number | undefined;
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
  /**
   * Refusals of unauthenticated traffic (failed MQTT CONNECTs, bad uploads): each source address and each
   * claimed device id may fail `burst` times at once, refilled at `perMinute`; beyond, refusals are summarised
   * every `summaryMs` (lib/ingest/failure-limiter.ts).
   */
  failures: { burst: number; perMinute: number; summaryMs: number };
  /** Dead letters older than this many days, or beyond the newest `deadLetterMaxRows`, are swept. */
  deadLetterRetentionDays: number;
  deadLetterMaxRows: number;
  /** Staged uploads no manifest claimed are swept this long after they were stored (>= uploadTtlSeconds). */
  stagedUploadMaxAgeSeconds: number;
  /** How often the retention sweep runs. */
  sweepIntervalMs: number;
  tls?: RuntimeTls;
  /** Plain listeners may bind to an address other than loopback (ALLOW_PLAINTEXT). */
  allowPlaintext: boolean;
  /** Unauthenticated MQTT sockets: how long each may take to authenticate, and how many at once. */
  mqttConnectTimeoutMs: number;
  mqttMaxPendingConnections: number;
  /** Most records one key release by time or seq range may cover (docs/api.md "Key release"). */
  keyReleaseMaxRecords: number;
  /** Most records one range export may hold (docs/export.md). */
  exportMaxRecords: number;
  /** IPFS hot copies (lib/runtime/ipfs-config.ts, the IPFS_* variables); a config without it has them off. */
  ipfs?: IpfsRuntimeConfig;
  /** Chains, budgets and finality (lib/runtime/chain-config.ts); a config without it anchors to the ledger. */
  chains?: ChainsConfig;
}

/**
 * The configuration domain's codes: a setting that does not validate, or a secret file that cannot be used.
 * main.ts exits 2 on ConfigError; every class of this domain carries one of these codes.
 */
export type ConfigErrorCode = 'invalid-config' | 'secret-unreadable';

export class ConfigError extends CodedError<ConfigErrorCode> {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid-config', message, options);
  }
}

export function configFromEnv(env: Environment = processEnvironment()): RuntimeConfig {
  const r = parseEnvironment(Env, env);
  if (!r.ok) throw new ConfigError(r.message);
  const e = r.data;
  if (e.STAGED_UPLOAD_MAX_AGE_SECONDS < e.UPLOAD_TTL_SECONDS) {
    // An upload must outlive its URL: the device may PUT until the URL expires, then send its manifest.
    throw new ConfigError(
      `STAGED_UPLOAD_MAX_AGE_SECONDS (${e.STAGED_UPLOAD_MAX_AGE_SECONDS}) must be at least UPLOAD_TTL_SECONDS (${e.UPLOAD_TTL_SECONDS})`,
    );
  }
  const ipfs = ipfsConfigFromEnv(env, resolve(e.DATA_DIR));
  if (!ipfs.ok) throw new ConfigError(ipfs.message);
  const chains = chainConfigFromEnv(env, {
    dataDir: resolve(e.DATA_DIR),
    anchorIntervalMs: e.ANCHOR_INTERVAL_MS,
    keys: 'file',
  });
  if (!chains.ok) throw new ConfigError(chains.message);
  const tls = tlsFromEnv(e);
  if (e.MQTT_PORT === 'off' && !tls)
    throw new ConfigError(
      'MQTT_PORT=off leaves no MQTT listener unless TLS_CERT_FILE and TLS_KEY_FILE are set',
    );
  const allowPlaintext = e.ALLOW_PLAINTEXT === 'true';
  if (!allowPlaintext && !isLoopback(e.HOST)) {
    const plain = [
      ...(e.MQTT_PORT === 'off' ? [] : [`plain MQTT (MQTT_PORT ${e.MQTT_PORT})`]),
      ...(tls ? [] : [`plain HTTP (HTTP_PORT ${e.HTTP_PORT}; set TLS_CERT_FILE and TLS_KEY_FILE for HTTPS)`]),
      ...(ipfs.config.hot.mode !== 'none' && !ipfs.config.apiUrl ? ['the embedded IPFS RPC API'] : []),
    ];
    if (plain.length > 0) {
      throw new ConfigError(
        `HOST ${e.HOST} is not a loopback address, and ${plain.join(', ')} would listen on it unencrypted; ` +
          'turn those off (MQTT_PORT=off, TLS for HTTP) or set ALLOW_PLAINTEXT=true',
      );
    }
  }
  return {
    mqttPort: e.MQTT_PORT === 'off' ? undefined : e.MQTT_PORT,
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
    failures: {
      burst: e.FAILURE_BURST,
      perMinute: e.FAILURE_RATE_PER_MINUTE,
      summaryMs: e.FAILURE_SUMMARY_MS,
    },
    deadLetterRetentionDays: e.DEAD_LETTER_RETENTION_DAYS,
    deadLetterMaxRows: e.DEAD_LETTER_MAX_ROWS,
    stagedUploadMaxAgeSeconds: e.STAGED_UPLOAD_MAX_AGE_SECONDS,
    sweepIntervalMs: e.SWEEP_INTERVAL_MS,
    ...(tls ? { tls } : {}),
    allowPlaintext,
    mqttConnectTimeoutMs: e.MQTT_CONNECT_TIMEOUT_MS,
    mqttMaxPendingConnections: e.MQTT_MAX_PENDING_CONNECTIONS,
    keyReleaseMaxRecords: e.KEY_RELEASE_MAX_RECORDS,
    exportMaxRecords: e.EXPORT_MAX_RECORDS,
    ipfs: ipfs.config,
    chains: chains.config,
  };
}

/** 127.0.0.0/8, ::1 and the name localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const v4 = host.startsWith('::ffff:') ? host.slice('::ffff:'.length) : host;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${(e as Error).message}`);
  }
}

function tlsFromEnv(e: z.infer<typeof Env>): RuntimeTls | undefined {
  if (!e.TLS_CERT_FILE && !e.TLS_KEY_FILE) {
    if (e.TLS_CLIENT_CA_FILE)
      throw new ConfigError('TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE');
    return undefined;
  }
  if (!e.TLS_CERT_FILE || !e.TLS_KEY_FILE)
    throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  const certFile = resolve(e.TLS_CERT_FILE);
  const keyFile = resolve(e.TLS_KEY_FILE);
  const cert = readPem('TLS_CERT_FILE', certFile);
  const key = readPem('TLS_KEY_FILE', keyFile);
  const clientCaFile = e.TLS_CLIENT_CA_FILE ? resolve(e.TLS_CLIENT_CA_FILE) : undefined;
  const clientCa = clientCaFile ? readPem('TLS_CLIENT_CA_FILE', clientCaFile) : undefined;
  // OpenSSL's own checks (PEM, key matches certificate), now rather than at the first connection.
  try {
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (err) {
    throw new ConfigError(`TLS_CERT_FILE/TLS_KEY_FILE/TLS_CLIENT_CA_FILE: ${(err as Error).message}`);
  }
  return {
    mqttsPort: e.MQTTS_PORT,
    certFile,
    keyFile,
    cert,
    key,
    ...(clientCaFile && clientCa ? { clientCaFile, clientCa } : {}),
  };
}
