/**
 * CIDs must equal Kubo's for the same bytes and options. Three layers of evidence:
 *
 * 1. Kubo's own published CIDs (sources below) checked against the naive reference builder and the shipped
 *    importer, offline;
 * 2. the shipped importer against the reference on sizes around the chunk and link boundaries;
 * 3. the same through kubo-rpc-client over HTTP to the embedded API, which is how everything is pinned.
 */
import fc from 'fast-check';
import { create, type KuboRPCClient } from 'kubo-rpc-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { KUBO_DEFAULT_IMPORT, kuboCid, kuboCidLike } from '../../lib/adapters/ipfs/unixfs-import.js';
import { utf8 } from '../../lib/core/bytes.js';
import { randomData, startApi, tempDir } from './support/ipfs-fixture.js';
import { KUBO_MAX_LINKS, type ReferenceSettings, referenceKuboCid } from './support/kubo-reference-dag.js';
import { kuboDeterministicBytes } from './support/kubo-test-data.js';

const V0: ReferenceSettings = { cidVersion: 0, rawLeaves: false, chunkSize: 262_144 };
const V1_RAW: ReferenceSettings = { cidVersion: 1, rawLeaves: true, chunkSize: 262_144 };
const V1_PB: ReferenceSettings = { cidVersion: 1, rawLeaves: false, chunkSize: 262_144 };

/**
 * Kubo's answers. `hello world\n`: the vector in ../shared/FACTS.md. `hello world` (no newline), its CIDv1
 * forms and the v0-seed files: ipfs/kubo test/cli/add_test.go and test/cli/cid_profiles_test.go
 * (profile unixfs-v0-2015, Kubo's default), the files made by kubo-test-data.ts. The empty file: Kubo's
 * well-known empty-file CID, the same in every version since go-ipfs 0.4.
 */
const KUBO_VECTORS: { name: string; bytes: () => Uint8Array; settings: ReferenceSettings; cid: string }[] = [
  {
    name: '"hello world\\n"',
    bytes: () => utf8('hello world\n'),
    settings: V0,
    cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
  },
  {
    name: '"hello world"',
    bytes: () => utf8('hello world'),
    settings: V0,
    cid: 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD',
  },
  {
    name: '"hello world", CIDv1 raw leaves',
    bytes: () => utf8('hello world'),
    settings: V1_RAW,
    cid: 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e',
  },
  {
    name: '"hello world", CIDv1 without raw leaves',
    bytes: () => utf8('hello world'),
    settings: V1_PB,
    cid: 'bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa',
  },
  {
    name: 'the empty file',
    bytes: () => new Uint8Array(0),
    settings: V0,
    cid: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH',
  },
  {
    name: '44544 KiB "v0-seed": 174 leaves, one level',
    bytes: () => kuboDeterministicBytes(44_544 * 1024, 'v0-seed'),
    settings: V0,
    cid: 'QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2',
  },
  {
    name: '44800 KiB "v0-seed": 175 leaves, two levels',
    bytes: () => kuboDeterministicBytes(44_800 * 1024, 'v0-seed'),
    settings: V0,
    cid: 'QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf',
  },
];

describe("Kubo's published CIDs, offline", () => {
  for (const v of KUBO_VECTORS) {
    it(`${v.name}: reference builder and shipped importer both give ${v.cid.slice(0, 12)}…`, async () => {
      const bytes = v.bytes();
      expect(referenceKuboCid(bytes, v.settings).cid).toBe(v.cid);
      expect(await kuboCid(bytes, v.settings)).toBe(v.cid);
    });
  }

  it('kuboCidLike picks the settings from the CID it is given', async () => {
    const bytes = utf8('hello world');
    expect(await kuboCidLike(bytes, 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD')).toBe(
      'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD',
    );
    expect(await kuboCidLike(bytes, 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).toBe(
      'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e',
    );
  });
});

describe('shipped importer against the reference builder', () => {
  const boundaries = [262_143, 262_144, 262_145, 300_000, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1];
  for (const n of boundaries) {
    it(`${n} random bytes, CIDv0 and CIDv1`, async () => {
      const bytes = randomData(n);
      for (const s of [V0, V1_RAW, V1_PB])
        expect(await kuboCid(bytes, s)).toBe(referenceKuboCid(bytes, s).cid);
    });
  }

  it('small chunks force a third level exactly where the reference puts it', async () => {
    // 1 KiB chunks: 174 leaves fill one level, 174 * 174 two; one more byte needs a third.
    const chunkSize = 1024;
    for (const n of [KUBO_MAX_LINKS * chunkSize, KUBO_MAX_LINKS * KUBO_MAX_LINKS * chunkSize + 1]) {
      const bytes = randomData(n);
      const s = { ...V0, chunkSize };
      expect(await kuboCid(bytes, s)).toBe(referenceKuboCid(bytes, s).cid);
    }
  });

  it('any size and chunk size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 600_000 }),
        fc.constantFrom(256, 4096, 262_144),
        fc.constantFrom(V0, V1_RAW, V1_PB),
        async (n, chunkSize, base) => {
          const bytes = randomData(n);
          const s = { ...base, chunkSize };
          expect(await kuboCid(bytes, s)).toBe(referenceKuboCid(bytes, s).cid);
        },
      ),
      // n = 0 first, always: the empty file with raw leaves once diverged from Kubo and was found this way.
      { numRuns: 25, examples: [[0, 256, V1_RAW]] },
    );
  });
});

describe('through kubo-rpc-client to the embedded API', () => {
  const repo = tempDir('vectors');
  let api: EmbeddedKuboApi;
  let client: KuboRPCClient;
  const kuboAdd = { cidVersion: 0, rawLeaves: false, chunker: 'size-262144', pin: true } as const;

  beforeAll(async () => {
    api = await startApi(repo.dir);
    client = create({ url: api.url });
  });
  afterAll(async () => {
    await api.stop();
    repo.remove();
  });

  it('the FACTS.md vector: "hello world\\n" is QmT78zSu…, Size 20, pinned', async () => {
    const r = await client.add(utf8('hello world\n'), kuboAdd);
    expect(r.cid.toString()).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o');
    // Kubo's add reports the cumulative DAG size: 20 bytes for this one block.
    expect(r.size).toBe(20);
    const pins = [];
    for await (const p of client.pin.ls({ paths: [r.cid] })) pins.push(p);
    expect(pins.map((p) => [p.cid.toString(), p.type])).toEqual([
      ['QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', 'recursive'],
    ]);
  });

  it('CIDv1 defaults to raw leaves, as in Kubo; raw-leaves=false gives the dag-pb form', async () => {
    const raw = await client.add(utf8('hello world'), { cidVersion: 1 });
    expect(raw.cid.toString()).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e');
    const pb = await client.add(utf8('hello world'), { cidVersion: 1, rawLeaves: false });
    expect(pb.cid.toString()).toBe('bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa');
  });

  it('> 256 KiB and 2 MiB: CID and Size equal the reference', async () => {
    for (const n of [300_000, 2 * 1024 * 1024]) {
      const bytes = randomData(n);
      const ref = referenceKuboCid(bytes, V0);
      const r = await client.add(bytes, kuboAdd);
      expect(r.cid.toString()).toBe(ref.cid);
      expect(r.size).toBe(ref.cumulativeSize);
      const back: Uint8Array[] = [];
      for await (const part of client.cat(r.cid)) back.push(part);
      expect(Buffer.concat(back).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it("Kubo's two-level vector (44800 KiB, 175 chunks) over HTTP", async () => {
    const r = await client.add(kuboDeterministicBytes(44_800 * 1024, 'v0-seed'), kuboAdd);
    expect(r.cid.toString()).toBe('QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf');
  });

  it('chunker=size-1024 is honoured: 200 chunks make two levels', async () => {
    const bytes = randomData(200 * 1024);
    const r = await client.add(bytes, { ...kuboAdd, chunker: 'size-1024' });
    expect(r.cid.toString()).toBe(referenceKuboCid(bytes, { ...V0, chunkSize: 1024 }).cid);
  });

  it('the empty file', async () => {
    const r = await client.add(new Uint8Array(0), kuboAdd);
    expect(r.cid.toString()).toBe('QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH');
  });

  it('only-hash computes the CID and stores nothing', async () => {
    const bytes = randomData(70_000);
    const r = await client.add(bytes, { ...kuboAdd, onlyHash: true });
    expect(r.cid.toString()).toBe(await kuboCid(bytes, KUBO_DEFAULT_IMPORT));
    await expect(client.block.stat(r.cid)).rejects.toThrow(/could not find/);
  });
});
