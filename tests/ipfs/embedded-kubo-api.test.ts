/**
 * The embedded API speaks Kubo's RPC for the commands it serves: request parameters, JSON shapes, error bodies
 * and status codes as docs.ipfs.tech/reference/kubo/rpc documents them. Raw fetch where the exact wire shape
 * is the point; kubo-rpc-client where "a Kubo client works against it" is.
 */
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import type { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedIpfsNode } from '../../lib/adapters/ipfs/embedded-ipfs-node.js';
import type { EmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { RepoLockedError } from '../../lib/adapters/ipfs/repo-files.js';
import { utf8 } from '../../lib/core/bytes.js';
import { randomData, startApi, tempDir } from './support/ipfs-fixture.js';

const HELLO = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
/** A CID no test adds: Kubo's empty directory. */
const ABSENT = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn';

interface KuboErrorBody {
  Message: string;
  Code: number;
  Type: string;
}
const errorOf = async (res: Response) => (await res.json()) as KuboErrorBody;

function multipart(files: { name?: string; bytes: Uint8Array; field?: string; type?: string }[]): {
  body: Uint8Array;
  contentType: string;
} {
  const boundary = '-----------------------------testboundary42';
  const parts: Buffer[] = [];
  files.forEach((f, i) => {
    parts.push(
      Buffer.from(
        `${i > 0 ? '\r\n' : ''}--${boundary}\r\nContent-Disposition: form-data; name="${f.field ?? (i === 0 ? 'file' : `file-${i}`)}"; filename="${encodeURIComponent(f.name ?? '')}"\r\nContent-Type: ${f.type ?? 'application/octet-stream'}\r\n\r\n`,
      ),
      Buffer.from(f.bytes),
    );
  });
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return {
    body: new Uint8Array(Buffer.concat(parts)),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

describe('embedded Kubo RPC API', () => {
  const repo = tempDir('api');
  let api: EmbeddedKuboApi;
  let client: KuboRPCClient;
  const rpc = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}/api/v0/${path}`, { method: 'POST', ...init });
  const addRaw = async (query: string, files: Parameters<typeof multipart>[0]) => {
    const { body, contentType } = multipart(files);
    return rpc(`add?${query}`, { body, headers: { 'content-type': contentType } });
  };

  beforeAll(async () => {
    api = await startApi(repo.dir);
    client = create({ url: api.url });
  });
  afterAll(async () => {
    await api.stop();
    repo.remove();
  });

  describe('add', () => {
    it('answers one NDJSON line per file: Name (the CID when unnamed), Hash, Size as a string', async () => {
      const res = await addRaw('cid-version=0&pin=true', [
        { bytes: utf8('hello world\n') },
        { name: 'notes/b.txt', bytes: utf8('hello world') },
      ]);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      const lines = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toEqual([
        { Name: HELLO, Hash: HELLO, Size: '20' },
        { Name: 'notes/b.txt', Hash: 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD', Size: '19' },
      ]);
    });

    it('progress=true adds a Bytes line before each result', async () => {
      const res = await addRaw('progress=true', [{ name: 'p', bytes: randomData(1000) }]);
      const lines = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines[0]).toEqual({ Name: 'p', Bytes: 1000 });
      expect(Object.keys(lines[1])).toEqual(['Name', 'Hash', 'Size']);
    });

    it('pin=false stores without pinning', async () => {
      const bytes = randomData(5000);
      const r = await client.add(bytes, { pin: false });
      expect((await client.block.stat(r.cid)).size).toBeGreaterThan(0);
      await expect(async () => {
        for await (const _ of client.pin.ls({ paths: [r.cid] }));
      }).rejects.toThrow(`path '${r.cid}' is not pinned`);
    });

    it('refuses options that would give a CID other than Kubo’s, as a Kubo error body', async () => {
      for (const q of [
        'trickle=true',
        'chunker=rabin-16-32-64',
        'hash=blake2b-256',
        'wrap-with-directory=true',
      ]) {
        const res = await addRaw(q, [{ bytes: utf8('x') }]);
        expect(res.status).toBe(500);
        const body = await errorOf(res);
        expect(body).toMatchObject({ Code: 0, Type: 'error' });
        expect(typeof body.Message).toBe('string');
      }
    });

    it('pin-name without pin is refused, as Kubo refuses it', async () => {
      const res = await addRaw('pin=false&pin-name=x', [{ bytes: utf8('x') }]);
      expect(res.status).toBe(500);
      expect((await errorOf(res)).Message).toBe('pin-name option requires pin to be set');
    });

    it('refuses directories', async () => {
      const res = await addRaw('', [
        { field: 'dir', name: 'd', bytes: new Uint8Array(0), type: 'application/x-directory' },
      ]);
      expect(res.status).toBe(500);
      expect((await errorOf(res)).Message).toMatch(/directories are not supported/);
    });

    it('a malformed boolean is a client error: 400, Code 1', async () => {
      const res = await addRaw('pin=maybe', [{ bytes: utf8('x') }]);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        Message: 'Could not convert value "maybe" to type "bool" (for option "-pin")',
        Code: 1,
        Type: 'error',
      });
    });

    it('a body that is not multipart is a client error', async () => {
      const res = await rpc('add', { body: 'plain', headers: { 'content-type': 'text/plain' } });
      expect(res.status).toBe(400);
      expect((await errorOf(res)).Code).toBe(1);
    });
  });

  describe('pins', () => {
    it('pin/add answers {"Pins": [...]}, idempotently', async () => {
      const r = await client.add(utf8('pin me'), { pin: false });
      for (let i = 0; i < 2; i++) {
        const res = await rpc(`pin/add?arg=${r.cid}&recursive=true`);
        expect(await res.json()).toEqual({ Pins: [r.cid.toString()] });
      }
    });

    it('pin/ls: Keys map without stream, one {"Cid","Type"} line per pin with stream', async () => {
      await client.add(utf8('hello world\n'));
      const plain = await (await rpc(`pin/ls?arg=${HELLO}`)).json();
      expect(plain).toEqual({ Keys: { [HELLO]: { Type: 'recursive' } } });
      const streamed = (await (await rpc(`pin/ls?arg=${HELLO}&stream=true`)).text()).trim();
      expect(JSON.parse(streamed)).toEqual({ Cid: HELLO, Type: 'recursive' });
    });

    it('lists the blocks under a recursive pin as indirect, and names the root for one of them', async () => {
      const r = await client.add(randomData(600_000));
      const all = [];
      for await (const p of client.pin.ls({ type: 'all' })) all.push({ cid: p.cid.toString(), type: p.type });
      expect(all).toContainEqual({ cid: r.cid.toString(), type: 'recursive' });
      // 600,000 bytes: three 256 KiB leaves under the root, each pinned indirectly.
      const indirect = [];
      for await (const p of client.pin.ls({ type: 'indirect' })) indirect.push(p.cid.toString());
      expect(indirect.length).toBeGreaterThanOrEqual(3);
      expect(all.filter((p) => p.type === 'indirect').map((p) => p.cid)).toEqual(indirect);
      const one = (await (await rpc(`pin/ls?arg=${indirect[0]}&type=indirect`)).json()) as {
        Keys: Record<string, unknown>;
      };
      expect(Object.values(one.Keys)[0]).toEqual({ Type: expect.stringMatching(/^indirect through Qm/) });
    });

    it('direct pins (recursive=false) are listed as direct and removed only non-recursively', async () => {
      const r = await client.add(utf8('direct'), { pin: false });
      await client.pin.add(r.cid, { recursive: false });
      const pins = [];
      for await (const p of client.pin.ls({ paths: [r.cid] })) pins.push(p.type);
      expect(pins).toEqual(['direct']);
      const res = await rpc(`pin/rm?arg=${r.cid}`);
      expect(await res.json()).toEqual({ Pins: [r.cid.toString()] });
    });

    it('pin/rm of something not pinned: 500 with Kubo’s message', async () => {
      const r = await client.add(utf8('rm twice'));
      expect(await (await rpc(`pin/rm?arg=${r.cid}`)).json()).toEqual({ Pins: [r.cid.toString()] });
      const again = await rpc(`pin/rm?arg=${r.cid}`);
      expect(again.status).toBe(500);
      expect(await again.json()).toEqual({
        Message: 'not pinned or pinned indirectly',
        Code: 0,
        Type: 'error',
      });
    });

    it('pin/add of content the node does not have fails cleanly (and the process lives on)', async () => {
      const res = await rpc(`pin/add?arg=${ABSENT}`);
      expect(res.status).toBe(500);
      expect((await errorOf(res)).Message).toBe(
        `block was not found locally (offline): ipld: could not find ${ABSENT}`,
      );
    });

    it('pin/ls of an unknown type is an error', async () => {
      const res = await rpc('pin/ls?type=sideways');
      expect(res.status).toBe(500);
      expect((await errorOf(res)).Message).toMatch(/invalid type 'sideways'/);
    });
  });

  describe('cat, block/stat, version, id', () => {
    it('cat streams the file; offset and length cut it as Kubo does', async () => {
      const bytes = randomData(700_000);
      const r = await client.add(bytes);
      const res = await rpc(`cat?arg=/ipfs/${r.cid}&offset=262000&length=1000`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-stream-output')).toBe('1');
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes.subarray(262_000, 263_000)))).toBe(
        true,
      );
    });

    it('cat of an absent CID: 500 with Kubo’s offline not-found message; no argument: 400', async () => {
      const res = await rpc(`cat?arg=${ABSENT}`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({
        Message: `block was not found locally (offline): ipld: could not find ${ABSENT}`,
        Code: 0,
        Type: 'error',
      });
      const none = await rpc('cat');
      expect(none.status).toBe(400);
      expect(await none.json()).toEqual({
        Message: 'argument "ipfs-path" is required',
        Code: 1,
        Type: 'error',
      });
      const bad = await rpc('cat?arg=not-a-cid');
      expect(bad.status).toBe(500);
      expect((await errorOf(bad)).Message).toMatch(/^invalid path "not-a-cid"/);
    });

    it('block/stat gives Key and Size', async () => {
      await client.add(utf8('hello world\n'));
      expect(await (await rpc(`block/stat?arg=${HELLO}`)).json()).toEqual({ Key: HELLO, Size: 20 });
    });

    it('version and id parse with kubo-rpc-client; the node has a real peer id and no addresses', async () => {
      const v = await client.version();
      expect(v.version).toMatch(/^\d+\.\d+\.\d+$/);
      const id = await client.id();
      expect(id.id.toString()).toMatch(/^12D3KooW/);
      expect(id.addresses).toEqual([]);
      expect(id.agentVersion).toMatch(/^iot-notary-embedded-ipfs\//);
    });

    it('only POST (405), only known commands (404)', async () => {
      expect((await fetch(`${api.url}/api/v0/version`)).status).toBe(405);
      expect((await rpc('swarm/peers')).status).toBe(404);
      expect((await rpc('../version')).status).toBe(404);
    });
  });
});

describe('embedded node on disk', () => {
  it('pins, content and identity survive a restart on the same directory, on the same port', async () => {
    const repo = tempDir('restart');
    try {
      const first = await startApi(repo.dir);
      const c1 = create({ url: first.url });
      const bytes = randomData(400_000);
      const added = await c1.add(bytes);
      const peer = (await c1.id()).id.toString();
      await first.stop();

      const second = await startApi(repo.dir, first.port);
      try {
        const c2 = create({ url: second.url });
        const pins = [];
        for await (const p of c2.pin.ls({ type: 'recursive' })) pins.push(p.cid.toString());
        expect(pins).toEqual([added.cid.toString()]);
        const back: Uint8Array[] = [];
        for await (const part of c2.cat(added.cid)) back.push(part);
        expect(Buffer.concat(back).equals(Buffer.from(bytes))).toBe(true);
        expect((await c2.id()).id.toString()).toBe(peer);
      } finally {
        await second.stop();
      }
    } finally {
      repo.remove();
    }
  });

  it('one repo, one node: a second open is refused while the first holds it, then allowed', async () => {
    const repo = tempDir('lock');
    try {
      const node = await EmbeddedIpfsNode.open(repo.dir);
      await expect(EmbeddedIpfsNode.open(repo.dir)).rejects.toBeInstanceOf(RepoLockedError);
      await node.close();
      const again = await EmbeddedIpfsNode.open(repo.dir);
      await again.close();
    } finally {
      repo.remove();
    }
  });

  it('concurrent adds of the same bytes leave one pin that one pin/rm removes', async () => {
    const repo = tempDir('concurrent');
    const api = await startApi(repo.dir);
    try {
      const client = create({ url: api.url });
      const bytes = randomData(300_000);
      const results = await Promise.all([1, 2, 3, 4].map(() => client.add(bytes)));
      const cid = results[0]?.cid as CID;
      expect(new Set(results.map((r) => r.cid.toString())).size).toBe(1);
      await client.pin.rm(cid);
      const left = [];
      for await (const p of client.pin.ls()) left.push(p);
      expect(left).toEqual([]);
    } finally {
      await api.stop();
      repo.remove();
    }
  });
});
