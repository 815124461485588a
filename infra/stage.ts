/**
 * Per-stage settings for sst.config.ts, read from the environment of `sst deploy` and validated here, so a
 * typo fails the deploy before anything is created. docs/deploy.md lists every variable.
 */
import { z } from 'zod';
import { isDeviceId } from '../lib/core/device-id.js';
import { hotPolicy, parseHotPolicy } from '../lib/ipfs/hot-policy.js';

const Env = z.object({
  /** Comma-separated device ids to create things and certificates for. */
  NOTARY_DEVICES: z.string().optional(),
  /** Directory with <deviceId>.csr.pem files: the device keeps its private key and AWS only signs the CSR. */
  NOTARY_DEVICE_CSR_DIR: z.string().optional(),
  /** Days of S3 Object Lock (COMPLIANCE) on every object version; 0 or unset leaves Object Lock off. */
  NOTARY_OBJECT_LOCK_DAYS: z.coerce.number().int().min(0).max(36_500).default(0),
  NOTARY_ANCHOR_SCHEDULE: z
    .string()
    .regex(/^(rate|cron)\(.+\)$/, 'must be rate(...) or cron(...)')
    .default('rate(1 minute)'),
  /** An external OIDC issuer for operator JWTs; unset creates a Cognito user pool for operators. */
  NOTARY_JWT_ISSUER: z.string().url().optional(),
  NOTARY_JWT_AUDIENCE: z.string().optional(),
  /** Where that issuer publishes its signing keys; default `<issuer>/.well-known/jwks.json`. */
  NOTARY_JWT_JWKS_URL: z.string().url().optional(),
  /**
   * Reserved concurrency for the anchor function; unset (the default) reserves none. Single flight does not
   * depend on it (the anchor lease does that); reserving fails on accounts whose concurrency limit is 10.
   */
  NOTARY_ANCHOR_RESERVED_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  /** Reserved concurrency for ipfs-pin, a bound on the load on the Kubo endpoint; unset reserves none. */
  NOTARY_IPFS_PIN_RESERVED_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  /**
   * The API's throttle (API Gateway stage default route settings): steady requests per second, and the burst
   * above it. Health is public, so this bounds what an anonymous caller can make the verify function do.
   */
  NOTARY_API_THROTTLE_RATE: z.coerce.number().int().min(1).max(10_000).default(50),
  NOTARY_API_THROTTLE_BURST: z.coerce.number().int().min(1).max(5_000).default(100),
  NOTARY_PENDING_SHARDS: z.coerce.number().int().min(1).max(256).default(8),
  /**
   * How long a warm ingest instance may reuse a device's key state (ms): a revocation reaches every instance
   * within it (docs/device-keys.md). 0: a consistent read per message.
   */
  NOTARY_DEVICE_KEY_CACHE_MS: z.coerce.number().int().min(0).max(3_600_000).default(0),
  /** Days a dead letter is kept before DynamoDB's TTL deletes it (the table's expiresAt attribute). */
  NOTARY_DEAD_LETTER_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  /** IPFS hot copies (docs/ipfs.md §5): none (default: no ipfs-pin function), all, or devices:…;routes:…. */
  NOTARY_IPFS_HOT: z.string().default('none'),
  /** The Kubo RPC endpoint the functions reach (a Kubo node or IPFS Cluster's proxy); required when hot. */
  NOTARY_IPFS_API_URL: z.string().url().optional(),
  /** How often the pin queue is drained, for jobs that backed off during an IPFS outage. */
  NOTARY_IPFS_PIN_SCHEDULE: z
    .string()
    .regex(/^(rate|cron)\(.+\)$/, 'must be rate(...) or cron(...)')
    .default('rate(1 minute)'),
});

export interface StageSettings {
  devices: string[];
  csrDir?: string;
  objectLockDays: number;
  anchorSchedule: `rate(${string})` | `cron(${string})`;
  jwt?: { issuer: string; audience: string; jwksUrl?: string };
  apiThrottle: { ratePerSecond: number; burst: number };
  /** Reserved concurrency per function, only where the stage asks for it (docs/deploy.md). */
  reservedConcurrency: { anchor?: number; ipfsPin?: number };
  pendingShards: number;
  deviceKeyCacheMs: number;
  deadLetterRetentionDays: number;
  /** IPFS hot copies: the ipfs-pin function is deployed when `hot` is not `none`; verify fetches from apiUrl. */
  ipfs: { hot: string; apiUrl?: string; pinSchedule: `rate(${string})` | `cron(${string})` };
  /** Stages whose data must outlive `sst remove`. */
  retain: boolean;
}

export function stageSettings(stage: string, env: Record<string, string | undefined>): StageSettings {
  const r = Env.safeParse(env);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const e = r.data;
  const production = stage === 'production';
  // Thing names are unique per account and region, so the demo device carries the stage.
  const devices = (e.NOTARY_DEVICES ?? (production ? '' : `demo-${stage}`.slice(0, 64)))
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
  const bad = devices.find((d) => !isDeviceId(d));
  if (bad) throw new Error(`NOTARY_DEVICES: ${JSON.stringify(bad)} is not a device id ([A-Za-z0-9_-]{1,64})`);
  if ((e.NOTARY_JWT_ISSUER === undefined) !== (e.NOTARY_JWT_AUDIENCE === undefined)) {
    throw new Error('NOTARY_JWT_ISSUER and NOTARY_JWT_AUDIENCE go together');
  }
  if (e.NOTARY_JWT_JWKS_URL !== undefined && e.NOTARY_JWT_ISSUER === undefined) {
    throw new Error('NOTARY_JWT_JWKS_URL belongs to NOTARY_JWT_ISSUER; the Cognito pool publishes its own');
  }
  let hotOn: boolean;
  try {
    hotOn = hotPolicy(parseHotPolicy(e.NOTARY_IPFS_HOT)).config.mode !== 'none';
  } catch (err) {
    throw new Error(`NOTARY_IPFS_HOT: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (hotOn && e.NOTARY_IPFS_API_URL === undefined) {
    throw new Error(
      'NOTARY_IPFS_API_URL is required when NOTARY_IPFS_HOT is not none (AWS has no embedded node)',
    );
  }
  return {
    devices,
    ...(e.NOTARY_DEVICE_CSR_DIR ? { csrDir: e.NOTARY_DEVICE_CSR_DIR } : {}),
    objectLockDays: e.NOTARY_OBJECT_LOCK_DAYS,
    anchorSchedule: e.NOTARY_ANCHOR_SCHEDULE as StageSettings['anchorSchedule'],
    ...(e.NOTARY_JWT_ISSUER && e.NOTARY_JWT_AUDIENCE
      ? {
          jwt: {
            issuer: e.NOTARY_JWT_ISSUER,
            audience: e.NOTARY_JWT_AUDIENCE,
            ...(e.NOTARY_JWT_JWKS_URL ? { jwksUrl: e.NOTARY_JWT_JWKS_URL } : {}),
          },
        }
      : {}),
    apiThrottle: { ratePerSecond: e.NOTARY_API_THROTTLE_RATE, burst: e.NOTARY_API_THROTTLE_BURST },
    reservedConcurrency: {
      ...(e.NOTARY_ANCHOR_RESERVED_CONCURRENCY ? { anchor: e.NOTARY_ANCHOR_RESERVED_CONCURRENCY } : {}),
      ...(e.NOTARY_IPFS_PIN_RESERVED_CONCURRENCY ? { ipfsPin: e.NOTARY_IPFS_PIN_RESERVED_CONCURRENCY } : {}),
    },
    pendingShards: e.NOTARY_PENDING_SHARDS,
    deviceKeyCacheMs: e.NOTARY_DEVICE_KEY_CACHE_MS,
    deadLetterRetentionDays: e.NOTARY_DEAD_LETTER_RETENTION_DAYS,
    ipfs: {
      hot: hotOn ? e.NOTARY_IPFS_HOT.trim() : 'none',
      ...(e.NOTARY_IPFS_API_URL ? { apiUrl: e.NOTARY_IPFS_API_URL } : {}),
      pinSchedule: e.NOTARY_IPFS_PIN_SCHEDULE as StageSettings['ipfs']['pinSchedule'],
    },
    retain: production,
  };
}
