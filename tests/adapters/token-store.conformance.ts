/**
 * Conformance suite for the TokenStore port (lib/ports.ts): auditor tokens by hash and by id, listing newest
 * first, and revocation that the next lookup by hash sees. Every adapter runs it unchanged:
 *
 *   describeTokenStoreConformance('SqliteTokenStore', async () => ({ store, cleanup }));
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import type { AccessToken, TokenStore } from '../../lib/ports.js';

export interface TokenStoreFixture {
  store: TokenStore;
  /** Closes the store and removes whatever backs it. */
  cleanup(): Promise<void>;
}

export function accessToken(n: number, over: Partial<AccessToken> = {}): AccessToken {
  return {
    // Time-ordered like lib/access/tokens.ts makes them, so "newest first" is checkable.
    tokenId: `tok-${String(n).padStart(11, '0')}-aaaaaaaaaaaa`,
    tokenHash: toHex(sha256(utf8(`token secret ${n}`))),
    name: `audit ${n}`,
    role: 'auditor',
    scope: { devices: ['sensor-001', 'plant-a-*'], from: 1_000, to: 2_000 },
    permissions: ['read'],
    createdAt: 1_700_000_000_000 + n,
    createdBy: 'operator',
    expiresAt: 1_800_000_000_000,
    ...over,
  };
}

export function describeTokenStoreConformance(name: string, make: () => Promise<TokenStoreFixture>): void {
  describe(`TokenStore conformance: ${name}`, () => {
    let fx: TokenStoreFixture;
    let store: TokenStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('stores a token and reads it back whole, by hash and by id', async () => {
      const t = accessToken(1, { permissions: ['read', 'key-release'] });
      expect(await store.putToken(t)).toBe('created');
      expect(await store.getTokenByHash(t.tokenHash)).toEqual(t);
      expect(await store.getToken(t.tokenId)).toEqual(t);
      expect(await store.getTokenByHash(toHex(sha256(utf8('unknown'))))).toBeUndefined();
      expect(await store.getToken('tok-unknown')).toBeUndefined();
    });

    it('keeps a scope without a window, and devices exactly as given', async () => {
      const t = accessToken(2, { scope: { devices: ['a', 'b-*'] } });
      await store.putToken(t);
      const back = await store.getTokenByHash(t.tokenHash);
      expect(back?.scope).toEqual({ devices: ['a', 'b-*'] });
      expect(back && 'from' in back.scope).toBe(false);
    });

    it('refuses a second token with the same hash and keeps the first', async () => {
      const t = accessToken(3);
      await store.putToken(t);
      expect(await store.putToken({ ...t, tokenId: 'tok-other', name: 'impostor' })).toBe('exists');
      expect((await store.getTokenByHash(t.tokenHash))?.name).toBe('audit 3');
    });

    it('revokes once: the next lookup by hash sees it, a second revocation changes nothing', async () => {
      const t = accessToken(4);
      await store.putToken(t);
      expect(await store.revokeToken(t.tokenId, { at: 5_000, by: 'operator' })).toBe('revoked');
      expect(await store.getTokenByHash(t.tokenHash)).toEqual({
        ...t,
        revokedAt: 5_000,
        revokedBy: 'operator',
      });
      expect(await store.revokeToken(t.tokenId, { at: 6_000, by: 'someone' })).toBe('already-revoked');
      expect((await store.getToken(t.tokenId))?.revokedAt).toBe(5_000);
      expect(await store.revokeToken('tok-unknown', { at: 1, by: 'x' })).toBe('not-found');
    });

    it('lists newest first and pages through every token exactly once', async () => {
      for (const n of [5, 1, 9, 3, 7, 2, 8]) await store.putToken(accessToken(n));
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listTokens({ limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((t) => t.name));
        if (!page.next) break;
        cursor = page.next;
      }
      expect(seen).toEqual([9, 8, 7, 5, 3, 2, 1].map((n) => `audit ${n}`));
      expect((await store.listTokens({ limit: 50 })).next).toBeUndefined();
    });

    it('refuses a cursor it could not have issued with invalid-cursor', async () => {
      await store.putToken(accessToken(1));
      for (const cursor of ['', 'not base64!', Buffer.from('[1]').toString('base64url')])
        await expect(store.listTokens({ limit: 5, cursor })).rejects.toMatchObject({
          code: 'invalid-cursor',
        });
    });
  });
}
