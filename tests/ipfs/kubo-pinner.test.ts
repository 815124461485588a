/**
 * KuboPinner over real HTTP: against the embedded API for what a working endpoint does, and against stand-in
 * endpoints (real HTTP servers) for the failures: nothing listening, a stall, a gateway error, a non-Kubo
 * server. Each failure must come out as its stable code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { KuboPinner } from '../../lib/adapters/ipfs/kubo-pinner.js';
import { kuboCid } from '../../lib/adapters/ipfs/unixfs-import.js';
import { IpfsError } from '../../lib/ipfs/errors.js';
import {
  closedPort,
  randomData,
  replyJson,
  type StandIn,
  standInEndpoint,
  startApi,
  tempDir,
} from './support/ipfs-fixture.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof IpfsError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('KuboPinner against the embedded API', () => {
  const repo = tempDir('pinner');
  let api: EmbeddedKuboApi;
  let pinner: KuboPinner;

  beforeAll(async () => {
    api = await startApi(repo.dir);
    pinner = new KuboPinner({ url: api.url, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await api.stop();
    repo.remove();
  });

  it('pins with Kubo’s CID, fetches it back, unpins idempotently', async () => {
    const bytes = randomData(300_000);
    const { cid, size } = await pinner.pin(bytes);
    expect(cid).toBe(await kuboCid(bytes));
    expect(size).toBeGreaterThan(bytes.length);
    expect(await pinner.isPinned(cid)).toBe(true);
    const back = await pinner.fetch(cid, { maxBytes: bytes.length });
    expect(Buffer.from(back ?? []).equals(Buffer.from(bytes))).toBe(true);
    await pinner.unpin(cid);
    await pinner.unpin(cid);
    expect(await pinner.isPinned(cid)).toBe(false);
  });

  it('fetch: undefined when the endpoint cannot find the CID; content-too-large past the cap', async () => {
    expect(await pinner.fetch(await kuboCid(randomData(100)), { maxBytes: 1000 })).toBeUndefined();
    const { cid } = await pinner.pin(randomData(5000));
    expect((await pinner.fetch(cid, { maxBytes: 5000 }))?.length).toBe(5000);
    expect(await codeOf(pinner.fetch(cid, { maxBytes: 4999 }))).toBe('content-too-large');
  });

  it('a string that is not a CID is refused before any request', async () => {
    expect(await codeOf(pinner.fetch('not-a-cid', { maxBytes: 10 }))).toBe('invalid-cid');
  });

  it("the caller's own abort is passed through, not turned into an IPFS failure", async () => {
    const ac = new AbortController();
    ac.abort(new Error('caller gave up'));
    await expect(pinner.pin(randomData(10), { signal: ac.signal })).rejects.toThrow('caller gave up');
  });
});

describe('KuboPinner failure codes', () => {
  const standIns: StandIn[] = [];
  const standIn = async (...a: Parameters<typeof standInEndpoint>) => {
    const s = await standInEndpoint(...a);
    standIns.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of standIns) await s.close();
  });

  it('nothing listening: ipfs-unavailable', async () => {
    const p = new KuboPinner({ url: `http://127.0.0.1:${await closedPort()}` });
    expect(await codeOf(p.pin(randomData(10)))).toBe('ipfs-unavailable');
    expect(await codeOf(p.fetch('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', { maxBytes: 100 }))).toBe(
      'ipfs-unavailable',
    );
  });

  it('an endpoint that never answers: ipfs-timeout', async () => {
    // Stand-in for a Kubo node stuck on a slow disk or a DHT lookup: it reads the request and stays silent.
    const stall = await standIn((req) => req.resume());
    const p = new KuboPinner({ url: stall.url, timeoutMs: 300 });
    expect(await codeOf(p.pin(randomData(10)))).toBe('ipfs-timeout');
    expect(stall.seen[0]).toMatch(/^POST \/api\/v0\/add\?/);
  });

  it('a gateway in front of a down cluster (502/503): ipfs-unavailable', async () => {
    const gw = await standIn((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream unavailable');
    });
    expect(await codeOf(new KuboPinner({ url: gw.url }).pin(randomData(10)))).toBe('ipfs-unavailable');
  });

  it('Kubo’s error body: not-found messages mean "not there", others ipfs-error', async () => {
    const kuboLike = await standIn((req, res) =>
      req.url?.startsWith('/api/v0/cat')
        ? replyJson(res, req, 500, {
            Message: 'block was not found locally (offline): ipld: could not find Qm…',
            Code: 0,
            Type: 'error',
          })
        : replyJson(res, req, 500, {
            Message: 'write /data/blocks: no space left on device',
            Code: 0,
            Type: 'error',
          }),
    );
    const p = new KuboPinner({ url: kuboLike.url });
    expect(
      await p.fetch('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', { maxBytes: 100 }),
    ).toBeUndefined();
    const err = await p.pin(randomData(10)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpfsError);
    expect((err as IpfsError).code).toBe('ipfs-error');
    expect((err as IpfsError).message).toMatch(/no space left on device/);
  });

  it('something that is not a Kubo RPC endpoint: ipfs-error', async () => {
    const web = await standIn((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    });
    expect(await codeOf(new KuboPinner({ url: web.url }).pin(randomData(10)))).toBe('ipfs-error');
  });
});
