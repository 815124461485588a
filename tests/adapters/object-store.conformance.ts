/**
 * Conformance suite for the ObjectStore port (lib/ports.ts). Every adapter runs it unchanged, e.g.:
 *
 *   describeObjectStoreConformance('FileObjectStore', async () => ({ store, cleanup, uploads: true }));
 *
 * `make` is called once per test and must return an empty store. Set `uploads: true` when `createUploadUrl`
 * hands out URLs that really accept a PUT (the factory starts whatever serves them); without it the suite
 * requires createUploadUrl to refuse, since a URL nobody serves would strand a device mid-upload.
 *
 * Keys used here are all valid for every adapter: `[A-Za-z0-9_.-]` segments joined by '/', and upload keys
 * of the form `uploads/<deviceId>/<sha256 hex>` that ingest uses.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toHex } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import type { ObjectStore } from '../../lib/ports.js';
import { expectBytes, patternBytes } from '../support/bytes.js';

export interface ObjectStoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
  /** createUploadUrl returns working URLs (a reachable endpoint that enforces size and SHA-256). */
  uploads?: true;
}

const put = (store: ObjectStore, key: string, body: Uint8Array) =>
  store.put(key, body, { sha256: sha256(body) });

/** A PUT as a device would send it; a transport-level refusal (e.g. a length mismatch) counts as a refusal. */
async function tryUpload(
  grant: { url: string; method: 'PUT'; headers: Record<string, string> },
  body: Uint8Array,
): Promise<{ ok: boolean; status: number }> {
  try {
    const res = await fetch(grant.url, { method: grant.method, headers: grant.headers, body });
    await res.arrayBuffer();
    return { ok: res.ok, status: res.status };
  } catch {
    return { ok: false, status: 0 };
  }
}

export function describeObjectStoreConformance(name: string, make: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let fx: ObjectStoreFixture;
    let store: ObjectStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('get returns exactly the bytes put, and head their size', async () => {
      const body = patternBytes(1000, 7);
      await put(store, 'conf/round-trip', body);
      expectBytes(await store.get('conf/round-trip'), body);
      expect(await store.head('conf/round-trip')).toEqual({ size: 1000 });
    });

    it('put replaces an existing object entirely, including with a shorter one', async () => {
      await put(store, 'conf/overwrite', patternBytes(4096, 1));
      const second = patternBytes(10, 2);
      await put(store, 'conf/overwrite', second);
      expectBytes(await store.get('conf/overwrite'), second);
      expect(await store.head('conf/overwrite')).toEqual({ size: 10 });
    });

    it('get, getRange and head of a missing key resolve to undefined', async () => {
      expect(await store.get('conf/missing')).toBeUndefined();
      expect(await store.getRange('conf/missing', 0, 32)).toBeUndefined();
      expect(await store.head('conf/missing')).toBeUndefined();
    });

    it('getRange returns a middle slice, a tail cut at the end, and nothing past the end', async () => {
      const body = patternBytes(1000, 3);
      await put(store, 'conf/range', body);
      expectBytes(await store.getRange('conf/range', 100, 32), body.subarray(100, 132));
      expectBytes(await store.getRange('conf/range', 0, 1), body.subarray(0, 1));
      expectBytes(await store.getRange('conf/range', 968, 32), body.subarray(968, 1000));
      expectBytes(await store.getRange('conf/range', 990, 32), body.subarray(990, 1000));
      // Past the end the object exists but the range is empty: an empty array, not "missing".
      expectBytes(await store.getRange('conf/range', 1000, 32), new Uint8Array(0));
      expectBytes(await store.getRange('conf/range', 5000, 32), new Uint8Array(0));
    });

    it('delete removes the object and is idempotent, also for a key never written', async () => {
      await put(store, 'conf/delete-me', patternBytes(64, 4));
      await store.delete('conf/delete-me');
      expect(await store.get('conf/delete-me')).toBeUndefined();
      expect(await store.head('conf/delete-me')).toBeUndefined();
      await expect(store.delete('conf/delete-me')).resolves.toBeUndefined();
      await expect(store.delete('conf/never-written')).resolves.toBeUndefined();
    });

    it('keeps binary bytes intact: zeros, 0xff, every byte value, and an empty object', async () => {
      const every = new Uint8Array(512);
      for (let i = 0; i < every.length; i++) every[i] = i % 256;
      const zeros = new Uint8Array(300);
      const mixed = new Uint8Array([0, 0, 0xff, 0, 0x0a, 0x0d, 0, 0x80, 0]);
      await put(store, 'conf/bin/every', every);
      await put(store, 'conf/bin/zeros', zeros);
      await put(store, 'conf/bin/mixed', mixed);
      await put(store, 'conf/bin/empty', new Uint8Array(0));
      expectBytes(await store.get('conf/bin/every'), every);
      expectBytes(await store.get('conf/bin/zeros'), zeros);
      expectBytes(await store.get('conf/bin/mixed'), mixed);
      expectBytes(await store.get('conf/bin/empty'), new Uint8Array(0));
      expect(await store.head('conf/bin/empty')).toEqual({ size: 0 });
    });

    it('treats keys with slashes as distinct names at any depth', async () => {
      const keys = ['records/dev-1/aa', 'records/dev-1/ab', 'records/dev-2/aa', 'a/b/c/d/e/f.json'];
      await Promise.all(keys.map((k, i) => put(store, k, patternBytes(40, 10 + i))));
      for (const [i, k] of keys.entries()) expectBytes(await store.get(k), patternBytes(40, 10 + i));
      // A prefix of other keys is not itself an object.
      expect(await store.get('records/dev-1')).toBeUndefined();
      expect(await store.head('records/dev-1')).toBeUndefined();
      expect(await store.getRange('records/dev-1', 0, 32)).toBeUndefined();
      await store.delete('records/dev-1');
      expectBytes(await store.get('records/dev-1/aa'), patternBytes(40, 10));
      expect(await store.head('records/dev-3/aa')).toBeUndefined();
    });

    it('stores and ranges over a 2 MiB object', async () => {
      const big = patternBytes(2 * 1024 * 1024, 99);
      await put(store, 'conf/big', big);
      expect(await store.head('conf/big')).toEqual({ size: big.length });
      expectBytes(await store.get('conf/big'), big);
      expectBytes(await store.getRange('conf/big', 1024 * 1024 + 5, 64), big.subarray(1048581, 1048645));
    });

    it('concurrent puts of different keys all land with their own bytes', async () => {
      const n = 24;
      await Promise.all(
        Array.from({ length: n }, (_, i) => put(store, `conf/par/${i}`, patternBytes(2000 + i, 1000 + i))),
      );
      const got = await Promise.all(Array.from({ length: n }, (_, i) => store.get(`conf/par/${i}`)));
      got.forEach((g, i) => {
        expectBytes(g, patternBytes(2000 + i, 1000 + i));
      });
    });

    it('lists the objects under a prefix in key order with size and time stored, page by page', async () => {
      const under = ['uploads/dev-a/01', 'uploads/dev-a/02', 'uploads/dev-b/01', 'uploads/dev-c/01'];
      const before = Date.now();
      for (const [i, k] of under.entries()) await put(store, k, patternBytes(10 + i, i));
      // Not under "uploads/": another prefix, and a key that only shares its first letters.
      await put(store, 'records/dev-a/01', patternBytes(5, 9));
      await put(store, 'uploadsX/dev-a/01', patternBytes(5, 9));
      await put(store, 'uploads/dev-a/gone', patternBytes(5, 9));
      await store.delete('uploads/dev-a/gone');
      const after = Date.now();

      const all = await store.list('uploads/', { limit: 100 });
      expect(all.next).toBeUndefined();
      expect(all.items.map((o) => [o.key, o.size])).toEqual(under.map((k, i) => [k, 10 + i]));
      for (const o of all.items) {
        // S3 keeps LastModified to the second.
        expect(o.storedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
        expect(o.storedAt).toBeLessThanOrEqual(after + 1000);
      }
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list('uploads/', { limit: 3, ...(cursor ? { cursor } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(3);
        pages.push(page.items.map((o) => o.key));
        cursor = page.next;
      } while (cursor);
      expect(pages.flat()).toEqual(under);
      expect(pages.length).toBeGreaterThan(1);
      expect(await store.list('uploads/dev-z/', { limit: 10 })).toEqual({ items: [] });
    });

    describe('createUploadUrl', () => {
      const body = patternBytes(3000, 42);
      const sha = sha256(body);
      const key = `uploads/conf-device/${toHex(sha)}`;
      const grantFor = (s: ObjectStore, size = body.length) =>
        s.createUploadUrl(key, { sha256: sha, size, expiresInSeconds: 300 });

      it('returns a PUT grant whose URL accepts exactly the signed bytes (or refuses to grant)', async () => {
        if (!fx.uploads) {
          await expect(grantFor(store)).rejects.toThrow();
          return;
        }
        const grant = await grantFor(store);
        expect(grant.method).toBe('PUT');
        expect(grant.expiresAt).toBeGreaterThan(Date.now());
        expect(() => new URL(grant.url)).not.toThrow();
        const res = await tryUpload(grant, body);
        expect(res.ok).toBe(true);
        expectBytes(await store.get(key), body);
      });

      it('refuses bytes of the signed size with a different SHA-256, and stores nothing', async () => {
        if (!fx.uploads) {
          await expect(grantFor(store)).rejects.toThrow();
          return;
        }
        const grant = await grantFor(store);
        const wrong = body.slice();
        wrong[1500] = (wrong[1500] as number) ^ 0xff;
        expect((await tryUpload(grant, wrong)).ok).toBe(false);
        expect(await store.head(key)).toBeUndefined();
      });

      it('refuses a body shorter or longer than the signed size, and stores nothing', async () => {
        if (!fx.uploads) {
          await expect(grantFor(store)).rejects.toThrow();
          return;
        }
        const grant = await grantFor(store);
        expect((await tryUpload(grant, body.subarray(0, body.length - 1))).ok).toBe(false);
        const longer = new Uint8Array(body.length + 1);
        longer.set(body);
        expect((await tryUpload(grant, longer)).ok).toBe(false);
        expect(await store.head(key)).toBeUndefined();
        // The grant is still good for the right bytes afterwards.
        expect((await tryUpload(grant, body)).ok).toBe(true);
        expectBytes(await store.get(key), body);
      });
    });
  });
}
