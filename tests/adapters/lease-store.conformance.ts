/**
 * Conformance suite for the LeaseStore port (lib/ports.ts). `make` returns two stores over the SAME backing
 * store through separate connections (two SQLite connections to one file, two DynamoDB clients to one
 * table): what two processes or two Lambdas see. Times are passed in, so expiry needs no waiting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Lease, LeaseStore } from '../../lib/ports.js';

export interface LeaseStoreFixture {
  a: LeaseStore;
  b: LeaseStore;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const TTL = 60_000;

async function take(store: LeaseStore, name: string, holder: string, now: number): Promise<Lease> {
  const r = await store.acquire(name, holder, { now, ttlMs: TTL });
  if (!r.acquired) throw new Error(`${holder} did not get ${name}: held by ${r.heldBy}`);
  return r.lease;
}

export function describeLeaseStoreConformance(name: string, make: () => Promise<LeaseStoreFixture>): void {
  describe(`LeaseStore conformance: ${name}`, () => {
    let fx: LeaseStoreFixture;
    beforeEach(async () => {
      fx = await make();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('a free lease is taken with a token and an end; while held, another holder is told who has it', async () => {
      const lease = await take(fx.a, 'anchor', 'holder-a', T0);
      expect(lease).toMatchObject({ name: 'anchor', holder: 'holder-a', expiresAt: T0 + TTL });
      expect(Number.isSafeInteger(lease.token) && lease.token >= 1).toBe(true);
      expect(await fx.b.acquire('anchor', 'holder-b', { now: T0 + TTL - 1, ttlMs: TTL })).toEqual({
        acquired: false,
        heldBy: 'holder-a',
        expiresAt: T0 + TTL,
      });
      // The holder itself does not get it twice either: a second cycle in the same process is refused too.
      expect((await fx.a.acquire('anchor', 'holder-a', { now: T0 + 1, ttlMs: TTL })).acquired).toBe(false);
    });

    it('of two concurrent acquirers on separate connections, exactly one gets the lease', async () => {
      for (let round = 0; round < 5; round++) {
        const leaseName = `race-${round}`;
        const results = await Promise.all(
          [fx.a, fx.b, fx.a, fx.b].map((s, i) => s.acquire(leaseName, `racer-${i}`, { now: T0, ttlMs: TTL })),
        );
        const winners = results.filter((r) => r.acquired);
        expect(winners).toHaveLength(1);
        const winner = winners[0]?.acquired ? winners[0].lease.holder : '';
        for (const r of results) if (!r.acquired) expect(r.heldBy).toBe(winner);
      }
    });

    it('an expired lease is taken over with a larger token, and the stale holder is fenced out', async () => {
      const stale = await take(fx.a, 'anchor', 'holder-a', T0);
      // Not before its end...
      expect((await fx.b.acquire('anchor', 'holder-b', { now: T0 + TTL - 1, ttlMs: TTL })).acquired).toBe(
        false,
      );
      // ...but at it.
      const fresh = await take(fx.b, 'anchor', 'holder-b', T0 + TTL);
      expect(fresh.token).toBeGreaterThan(stale.token);
      // The stale holder cannot renew (the fence every write of the anchor cycle passes first)...
      expect(await fx.a.renew(stale, { now: T0 + TTL + 1, ttlMs: TTL })).toBeUndefined();
      // ...and its release leaves the new holder's lease alone.
      await fx.a.release(stale);
      expect(await fx.a.acquire('anchor', 'holder-c', { now: T0 + TTL + 2, ttlMs: TTL })).toEqual({
        acquired: false,
        heldBy: 'holder-b',
        expiresAt: T0 + 2 * TTL,
      });
      expect(await fx.b.renew(fresh, { now: T0 + TTL + 3, ttlMs: TTL })).toEqual({
        ...fresh,
        expiresAt: T0 + TTL + 3 + TTL,
      });
    });

    it('a forged lease (right holder, wrong token) is refused', async () => {
      const lease = await take(fx.a, 'anchor', 'holder-a', T0);
      expect(
        await fx.b.renew({ ...lease, token: lease.token + 1 }, { now: T0 + 1, ttlMs: TTL }),
      ).toBeUndefined();
      expect(await fx.b.renew({ ...lease, holder: 'holder-x' }, { now: T0 + 1, ttlMs: TTL })).toBeUndefined();
      await fx.b.release({ ...lease, token: lease.token - 1 });
      expect((await fx.b.acquire('anchor', 'holder-b', { now: T0 + 2, ttlMs: TTL })).acquired).toBe(false);
    });

    it('renewal extends the lease; a lease that ran out but was not taken over is still renewable', async () => {
      const lease = await take(fx.a, 'anchor', 'holder-a', T0);
      const renewed = await fx.b.renew(lease, { now: T0 + TTL / 2, ttlMs: TTL });
      expect(renewed?.expiresAt).toBe(T0 + TTL / 2 + TTL);
      expect((await fx.b.acquire('anchor', 'holder-b', { now: T0 + TTL + 1, ttlMs: TTL })).acquired).toBe(
        false,
      );
      // Past its end, with no one taking it: the same token proves no one else has written since.
      const late = await fx.a.renew(lease, { now: T0 + 3 * TTL, ttlMs: TTL });
      expect(late).toEqual({ ...lease, expiresAt: T0 + 4 * TTL });
    });

    it('release frees the lease at once, and tokens keep growing across releases', async () => {
      const tokens: number[] = [];
      for (let i = 0; i < 3; i++) {
        const lease = await take(i % 2 === 0 ? fx.a : fx.b, 'anchor', `holder-${i}`, T0 + i);
        tokens.push(lease.token);
        await fx.a.release(lease);
        // A released lease cannot be renewed: the holder gave it up.
        expect(await fx.b.renew(lease, { now: T0 + i, ttlMs: TTL })).toBeUndefined();
      }
      expect(tokens[1]).toBeGreaterThan(tokens[0] as number);
      expect(tokens[2]).toBeGreaterThan(tokens[1] as number);
    });

    it('leases of different names are independent', async () => {
      await take(fx.a, 'anchor', 'holder-a', T0);
      const other = await take(fx.b, 'ipfs-pin', 'holder-b', T0);
      expect(other.holder).toBe('holder-b');
    });

    it('refuses an empty name or holder and a ttl that is not a positive integer', async () => {
      await expect(fx.a.acquire('', 'h', { now: T0, ttlMs: TTL })).rejects.toThrow(RangeError);
      await expect(fx.a.acquire('anchor', '', { now: T0, ttlMs: TTL })).rejects.toThrow(RangeError);
      await expect(fx.a.acquire('anchor', 'h', { now: T0, ttlMs: 0 })).rejects.toThrow(RangeError);
      await expect(fx.a.acquire('anchor', 'h', { now: T0, ttlMs: 1.5 })).rejects.toThrow(RangeError);
    });
  });
}
