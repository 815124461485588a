/**
 * The public /v1/health on AWS serves a cached pending count (issue 11 part 6): counting reads the sparse
 * queue index (up to BACKLOG_THRESHOLD items), and anyone can call the route. Counted by recorded calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, httpApiEvent, jsonBody, lambdaContext, startAwsStack } from './support/aws-stack.js';

describe('GET /v1/health on the verify function', () => {
  let stack: AwsStack;
  let now = Date.now();
  beforeAll(async () => {
    stack = await startAwsStack({ clock: () => now });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const countQueries = () =>
    stack.calls.filter(
      (c) => c.fn === 'verify' && c.command === 'QueryCommand' && c.input.IndexName === 'pending',
    ).length;

  it('counts the queue once per HEALTH_COUNT_CACHE_MS however often it is asked, then again', async () => {
    expect(stack.config.healthCountCacheMs).toBe(30_000);
    const health = () => stack.verify(httpApiEvent('GET', '/v1/health'), lambdaContext('verify'));
    const first = await health();
    expect(first.statusCode).toBe(200);
    expect(jsonBody<{ pendingRecords: number }>(first).pendingRecords).toBe(0);
    const perCount = countQueries();
    // One Query per pending shard (NOTARY_PENDING_SHARDS=4 here): one count.
    expect(perCount).toBe(4);
    for (let i = 0; i < 20; i++) expect((await health()).statusCode).toBe(200);
    expect(countQueries()).toBe(perCount);
    now += 30_000;
    expect((await health()).statusCode).toBe(200);
    expect(countQueries()).toBe(2 * perCount);
  });
});
