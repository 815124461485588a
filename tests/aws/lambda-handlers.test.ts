/**
 * The `handler` exports exactly as Lambda loads them: the runtime is built from the environment (as
 * sst.config.ts sets it) on the first invocation. The SDK's own AWS_ENDPOINT_URL_<SERVICE> variables point the
 * clients at the emulators and stand-ins; nothing else differs from a deployment.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AwsConfigError, awsConfigFromEnv } from '../../lib/runtime/aws.js';
import {
  type AwsStack,
  httpApiEvent,
  iotRuleEvent,
  jsonBody,
  lambdaContext,
  startAwsStack,
} from './support/aws-stack.js';
import { TEST_CREDENTIALS } from './support/emulators.js';

describe('the Lambda handler exports, configured from the environment', () => {
  let stack: AwsStack;
  const saved = { ...process.env };
  const setEnv = (env: Record<string, string>) => {
    process.env = { ...saved, ...env };
  };

  beforeAll(async () => {
    stack = await startAwsStack();
  });
  afterAll(async () => {
    process.env = saved;
    await stack?.close();
  });

  function lambdaEnv(): Record<string, string> {
    return {
      ...stack.env,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: stack.gate.endpoint,
      AWS_ENDPOINT_URL_KMS: stack.kms.endpoint,
      NOTARY_IOT_DATA_ENDPOINT: stack.iot.endpoint,
    };
  }

  it('ingest, anchor and verify run from their exports', async () => {
    setEnv(lambdaEnv());
    vi.resetModules();
    const ingest = (await import('../../functions/ingest/lambda.js')).handler;
    const anchor = (await import('../../functions/anchor/lambda.js')).handler;
    const verify = (await import('../../functions/verify/lambda.js')).handler;

    const health = await verify(httpApiEvent('GET', '/v1/health'), lambdaContext('verify'));
    expect(jsonBody<{ status: string }>(health).status).toBe('ok');
    const res = await ingest(
      iotRuleEvent('devices/env-dev/records', 'not an envelope'),
      lambdaContext('ingest'),
    );
    expect(res.status === 'handled' && res.replies.map((r) => r.topic)).toEqual(['devices/env-dev/acks']);
    expect(stack.iot.published.some((m) => m.topic === 'devices/env-dev/acks')).toBe(true);
    expect(await anchor({}, lambdaContext('anchor'))).toMatchObject({ status: 'done' });
  });

  it('a missing setting fails the invocation with the variable named, and the next one retries the build', async () => {
    const env = lambdaEnv();
    const { NOTARY_LEDGER_KEY_ID: _dropped, ...withoutKey } = env;
    setEnv(withoutKey);
    vi.resetModules();
    const anchor = (await import('../../functions/anchor/lambda.js')).handler;
    await expect(anchor({}, lambdaContext('anchor'))).rejects.toThrow(
      'NOTARY_LEDGER_KEY_ID is required by the anchor function',
    );
    setEnv(env);
    expect(await anchor({}, lambdaContext('anchor'))).toMatchObject({ status: 'done' });
  });

  it('the verify API answers 500 in its JSON error shape when its runtime cannot be built', async () => {
    const { NOTARY_KMS_KEY_ID: _dropped, ...withoutKms } = lambdaEnv();
    setEnv(withoutKms);
    vi.resetModules();
    const verify = (await import('../../functions/verify/lambda.js')).handler;
    const res = await verify(httpApiEvent('GET', '/v1/health'), lambdaContext('verify'));
    expect(res.statusCode).toBe(500);
    expect(jsonBody<{ error: { code: string } }>(res).error.code).toBe('internal');
  });

  it('configuration is validated with every problem named', () => {
    expect(() => awsConfigFromEnv({ AWS_REGION: 'us-east-1', NOTARY_BUCKET: 'ab' })).toThrow(AwsConfigError);
    const err = (() => {
      try {
        awsConfigFromEnv({ AWS_REGION: 'us-east-1', NOTARY_BUCKET: 'bucket', NOTARY_PENDING_SHARDS: '0' });
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(err).toMatch(/NOTARY_TABLE_RECORDS/);
    expect(err).toMatch(/NOTARY_PENDING_SHARDS/);
    // Empty means unset.
    const cfg = awsConfigFromEnv({ ...stack.env, NOTARY_LEDGER_KEY_ID: '' });
    expect(cfg.ledgerKeyId).toBeUndefined();
  });
});
