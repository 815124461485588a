/** The cached count behind the public /v1/health on AWS (lib/verify/cached-count.ts), counted by calls. */
import { describe, expect, it } from 'vitest';
import { cachedCount } from '../../lib/verify/cached-count.js';

function counter(values: number[]) {
  const calls = { n: 0 };
  const count = async () => {
    const v = values[calls.n];
    calls.n++;
    if (v === undefined) throw new Error('store unreachable');
    return v;
  };
  return { calls, count };
}

describe('cachedCount', () => {
  it('counts once per ttl however often it is asked, and again once the ttl has passed', async () => {
    let now = 1_000;
    const { calls, count } = counter([7, 9]);
    const cached = cachedCount(count, { ttlMs: 30_000, clock: () => now });
    for (let i = 0; i < 50; i++) expect(await cached()).toBe(7);
    now += 29_999;
    expect(await cached()).toBe(7);
    expect(calls.n).toBe(1);
    now += 1;
    expect(await cached()).toBe(9);
    expect(calls.n).toBe(2);
  });

  it('callers that arrive while a count runs share it', async () => {
    const { calls, count } = counter([3]);
    const cached = cachedCount(count, { ttlMs: 1_000, clock: () => 0 });
    expect(await Promise.all([cached(), cached(), cached()])).toEqual([3, 3, 3]);
    expect(calls.n).toBe(1);
  });

  it('does not keep a failed count: the next call counts again', async () => {
    const values = [undefined as unknown as number, 5];
    const { calls, count } = counter(values);
    const cached = cachedCount(count, { ttlMs: 1_000, clock: () => 0 });
    await expect(cached()).rejects.toThrow('store unreachable');
    expect(await cached()).toBe(5);
    expect(calls.n).toBe(2);
  });

  it('ttl 0 counts every time; a negative or fractional ttl is refused', async () => {
    const { calls, count } = counter([1, 2]);
    const cached = cachedCount(count, { ttlMs: 0, clock: () => 0 });
    expect([await cached(), await cached()]).toEqual([1, 2]);
    expect(calls.n).toBe(2);
    expect(() => cachedCount(count, { ttlMs: -1, clock: () => 0 })).toThrow(RangeError);
    expect(() => cachedCount(count, { ttlMs: 0.5, clock: () => 0 })).toThrow(RangeError);
  });
});
