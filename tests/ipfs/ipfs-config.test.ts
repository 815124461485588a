/** IPFS_* configuration: defaults that keep IPFS off, every value checked at startup, and the AWS flavour. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../../lib/runtime/config.js';
import { awsIpfsConfigFromEnv, ipfsConfigFromEnv } from '../../lib/runtime/ipfs-config.js';

describe('embedded IPFS configuration', () => {
  it('defaults to no hot copies, the embedded endpoint on 5001 and the repo under DATA_DIR', () => {
    expect(ipfsConfigFromEnv({}, '/data')).toEqual({
      ok: true,
      config: {
        hot: { mode: 'none', devices: [], routes: [] },
        timeoutMs: 30_000,
        drain: { batch: 32, leaseMs: 600_000 },
        backoff: { baseMs: 1_000, maxMs: 300_000 },
        embeddedPort: 5001,
        repoDir: join('/data', 'ipfs'),
        pinIntervalMs: 5_000,
      },
    });
    expect(configFromEnv({ DATA_DIR: '/tmp/x' }).ipfs?.hot.mode).toBe('none');
  });

  it('reads the proposed IPFS_HOT format and the endpoint', () => {
    const r = ipfsConfigFromEnv(
      {
        IPFS_HOT: 'devices:sensor-*,pump-7;routes:device_manifests',
        IPFS_API_URL: 'http://10.0.0.5:9095/',
        IPFS_EMBEDDED_PORT: '0',
        IPFS_REPO_DIR: '/var/ipfs',
        IPFS_BACKOFF_BASE_MS: '100',
        IPFS_BACKOFF_MAX_MS: '200',
      },
      '/data',
    );
    expect(r).toMatchObject({
      ok: true,
      config: {
        hot: { mode: 'match', devices: ['sensor-*', 'pump-7'], routes: ['device_manifests'] },
        apiUrl: 'http://10.0.0.5:9095',
        embeddedPort: 0,
        repoDir: '/var/ipfs',
        backoff: { baseMs: 100, maxMs: 200 },
      },
    });
  });

  it.each([
    [{ IPFS_HOT: 'routes:device_acks' }, /IPFS_HOT.*does not carry records/],
    [{ IPFS_HOT: 'sensors:a' }, /IPFS_HOT.*unknown group/],
    [{ IPFS_API_URL: 'ftp://x' }, /IPFS_API_URL/],
    [{ IPFS_EMBEDDED_PORT: '70000' }, /IPFS_EMBEDDED_PORT/],
    [{ IPFS_BACKOFF_BASE_MS: '5000', IPFS_BACKOFF_MAX_MS: '10' }, /IPFS_BACKOFF_MAX_MS/],
  ])('refuses %j at startup, hot or not', (env, message) => {
    expect(() => configFromEnv({ DATA_DIR: '/tmp/x', ...env })).toThrow(ConfigError);
    expect(() => configFromEnv({ DATA_DIR: '/tmp/x', ...env })).toThrow(message);
  });
});

describe('AWS IPFS configuration', () => {
  it('needs an endpoint when anything is hot (no embedded node in a Lambda); empty means unset', () => {
    expect(awsIpfsConfigFromEnv({ IPFS_HOT: 'all' })).toMatchObject({ ok: false, message: /IPFS_API_URL/ });
    expect(awsIpfsConfigFromEnv({ IPFS_HOT: 'all', IPFS_API_URL: '' })).toMatchObject({ ok: false });
    expect(
      awsIpfsConfigFromEnv({
        IPFS_HOT: 'all',
        IPFS_API_URL: 'https://kubo.internal:5001',
        NOTARY_TABLE_PIN_JOBS: 'stage-pin-jobs',
      }),
    ).toMatchObject({
      ok: true,
      config: {
        hot: { mode: 'all' },
        apiUrl: 'https://kubo.internal:5001',
        pinJobsTable: 'stage-pin-jobs',
        pinShards: 4,
      },
    });
    expect(awsIpfsConfigFromEnv({})).toMatchObject({ ok: true, config: { hot: { mode: 'none' } } });
  });
});
