/** The settings of signature checking at ingest: defaults, and refusals of bad values with their names. */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { stageSettings } from '../../infra/stage.js';
import { defaultVerifyThreads } from '../../lib/ingest/signature-verifier.js';
import { AwsConfigError, awsConfigFromEnv } from '../../lib/runtime/aws.js';
import { ConfigError, configFromEnv } from '../../lib/runtime/config.js';
import { startInProcess } from '../support/runtime.js';

const AWS_ENV = {
  AWS_REGION: 'us-east-1',
  NOTARY_BUCKET: 'bucket',
  NOTARY_TABLE_RECORDS: 'records',
  NOTARY_TABLE_BATCHES: 'batches',
  NOTARY_TABLE_DEVICES: 'devices',
  NOTARY_TABLE_DEAD_LETTERS: 'dead-letters',
  NOTARY_TABLE_AUDIT: 'audit',
  NOTARY_TABLE_STATEMENTS: 'statements',
};

describe('SIGNATURE_VERIFY_THREADS (embedded)', () => {
  it('defaults to one thread per core but the event loop, 1 to 4', () => {
    expect(configFromEnv({}).signatureVerifyThreads).toBe(defaultVerifyThreads(availableParallelism()));
    expect([1, 2, 3, 8, 64].map(defaultVerifyThreads)).toEqual([1, 1, 2, 4, 4]);
  });
  it('takes 0 (on the event loop) up to 64, and refuses anything else by name', () => {
    expect(configFromEnv({ SIGNATURE_VERIFY_THREADS: '0' }).signatureVerifyThreads).toBe(0);
    expect(configFromEnv({ SIGNATURE_VERIFY_THREADS: '3' }).signatureVerifyThreads).toBe(3);
    for (const bad of ['-1', '65', '1.5', 'two'])
      expect(() => configFromEnv({ SIGNATURE_VERIFY_THREADS: bad })).toThrow(
        expect.objectContaining({
          name: ConfigError.name,
          message: expect.stringMatching(/SIGNATURE_VERIFY_THREADS/),
        }),
      );
  });
  it('the running runtime checks signatures in its worker pool by default, on the event loop with 0', async () => {
    for (const [env, kind] of [
      [{}, 'pool'],
      [{ SIGNATURE_VERIFY_THREADS: '0' }, 'inline'],
    ] as const) {
      const rt = await startInProcess(env);
      try {
        expect(rt.signatureVerifier, JSON.stringify(env)).toBe(kind);
      } finally {
        await rt.cleanup();
      }
    }
  });
});

describe('DEVICE_KEY_CACHE_MS (AWS ingest)', () => {
  it('defaults to 0: the key state is read for every message', () => {
    expect(awsConfigFromEnv(AWS_ENV).deviceKeyCacheMs).toBe(0);
    expect(awsConfigFromEnv({ ...AWS_ENV, DEVICE_KEY_CACHE_MS: '2000' }).deviceKeyCacheMs).toBe(2000);
  });
  it('refuses a negative, fractional or oversized value by name', () => {
    for (const bad of ['-1', '0.5', '3600001'])
      expect(() => awsConfigFromEnv({ ...AWS_ENV, DEVICE_KEY_CACHE_MS: bad })).toThrow(
        expect.objectContaining({
          name: AwsConfigError.name,
          message: expect.stringMatching(/DEVICE_KEY_CACHE_MS/),
        }),
      );
  });
  it('is a stage variable, NOTARY_DEVICE_KEY_CACHE_MS, checked at deploy time', () => {
    expect(stageSettings('dev', {}).deviceKeyCacheMs).toBe(0);
    expect(stageSettings('dev', { NOTARY_DEVICE_KEY_CACHE_MS: '1000' }).deviceKeyCacheMs).toBe(1000);
    expect(() => stageSettings('dev', { NOTARY_DEVICE_KEY_CACHE_MS: '-5' })).toThrow(
      /NOTARY_DEVICE_KEY_CACHE_MS/,
    );
  });
});
