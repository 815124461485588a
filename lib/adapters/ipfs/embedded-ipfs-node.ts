/**
 * The embedded IPFS node: Helia with no networking at all, its blocks and pins on disk under one repo
 * directory. It is what the embedded runtime pins to when no Kubo endpoint is configured, and what the tests
 * and the bench run kubo-rpc-client against, behind kubo-rpc-server.ts.
 *
 * Offline by construction: `createHeliaLight` has no libp2p, no routers and no block brokers, so nothing can
 * dial out and startup cannot wait on a network; a block that is not in the repo is "not found" at once.
 *
 * Layout of the repo directory:
 *   blocks/        blockstore-fs: one file per block, written to a temporary name and renamed
 *   datastore/     datastore-fs: pins and the pinned-block reference counts
 *   identity.pk8   the node's Ed25519 key (its peer id)
 *   repo.lock      pid of the process that has the repo open
 *
 * Neither store fsyncs. A process crash loses nothing that was acknowledged; a power cut may lose the last
 * blocks and pins. docs/ipfs.md says what that means for the pin queue.
 */
import { join } from 'node:path';
import { unixfs } from '@helia/unixfs';
import { FsBlockstore } from 'blockstore-fs';
import { FsDatastore } from 'datastore-fs';
import { createHeliaLight, type Helia } from 'helia';
import { CID } from 'multiformats/cid';
import { blockNotFound, KuboCommandError } from './kubo-command-error.js';
import { loadOrCreatePeerIdentity, lockRepo, type PeerIdentity } from './repo-files.js';
import { type ImportedFile, type ImportSettings, importFile } from './unixfs-import.js';

const DAG_PB = 0x70;
const RAW = 0x55;

export type PinType = 'recursive' | 'direct' | 'indirect';
export type PinTypeFilter = PinType | 'all';

export interface PinInfo {
  cid: CID;
  /** `indirect through <root>` for an indirect pin, as Kubo says it. */
  type: string;
  name?: string;
}

/** Error names Helia and the stores use for "that block is not here". */
const NOT_FOUND_ERRORS = new Set(['NotFoundError', 'BlockNotFoundWhileOfflineError']);

/** Pin metadata: Helia keys pins by CIDv1, so the version the pin was made with is kept to list it as given. */
interface PinMeta extends Record<string, string | number | boolean> {
  cidVersion: number;
}

/** CIDv0 and CIDv1 of the same dag-pb block name one block. */
const sameBlock = (a: CID, b: CID): boolean => a.toV1().equals(b.toV1());

export class EmbeddedIpfsNode {
  private pinChain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly helia: Helia,
    private readonly stores: { blocks: FsBlockstore; data: FsDatastore },
    private readonly releaseLock: () => void,
    readonly peer: PeerIdentity,
  ) {}

  static async open(repoDir: string): Promise<EmbeddedIpfsNode> {
    const release = lockRepo(repoDir);
    try {
      const peer = loadOrCreatePeerIdentity(repoDir);
      const blocks = new FsBlockstore(join(repoDir, 'blocks'));
      const data = new FsDatastore(join(repoDir, 'datastore'));
      await blocks.open();
      await data.open();
      const helia = createHeliaLight({ blockstore: blocks, datastore: data });
      await helia.start();
      return new EmbeddedIpfsNode(helia, { blocks, data }, release, peer);
    } catch (e) {
      release();
      throw e;
    }
  }

  /**
   * Pin changes run one at a time. Helia's pin add checks "already pinned" and then counts references block by
   * block; two concurrent adds of one CID would both pass the check and count twice.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.pinChain.then(fn, fn);
    this.pinChain = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new KuboCommandError('the IPFS node is shutting down');
  }

  async add(
    content: AsyncIterable<Uint8Array>,
    s: ImportSettings & { pin: boolean; onlyHash: boolean; pinName?: string },
    opts: { signal?: AbortSignal } = {},
  ): Promise<ImportedFile> {
    this.assertOpen();
    const sink = s.onlyHash ? { put: (cid: CID) => cid } : this.helia.blockstore;
    const imported = await importFile(content, sink, s, opts);
    if (s.pin && !s.onlyHash)
      await this.pinAdd(imported.cid, { recursive: true, ...(s.pinName ? { name: s.pinName } : {}) });
    return imported;
  }

  async pinAdd(cid: CID, opts: { recursive: boolean; name?: string }): Promise<CID> {
    return this.serial(async () => {
      this.assertOpen();
      const depth = opts.recursive ? Number.POSITIVE_INFINITY : 0;
      const existing = await this.getPin(cid);
      if (existing && existing.depth === depth) return cid;
      if (existing && existing.depth === Number.POSITIVE_INFINITY)
        throw new KuboCommandError(`pin: ${cid} already pinned recursively`);
      // Walk first: Helia's own walk leaves an unhandled rejection behind when a block is missing, and that
      // would end the process. Ours fails cleanly with Kubo's "not found" before Helia walks.
      for await (const _ of this.walk(cid, depth));
      if (existing) for await (const _ of this.helia.pins.rm(cid));
      const metadata: PinMeta = { cidVersion: cid.version, ...(opts.name ? { name: opts.name } : {}) };
      for await (const _ of this.helia.pins.add(cid, { depth, metadata }));
      return cid;
    });
  }

  async pinRm(cid: CID, opts: { recursive: boolean }): Promise<CID> {
    return this.serial(async () => {
      this.assertOpen();
      const existing = await this.getPin(cid);
      if (!existing) throw new KuboCommandError('not pinned or pinned indirectly');
      if (existing.depth === Number.POSITIVE_INFINITY && !opts.recursive)
        throw new KuboCommandError(`${cid} is pinned recursively`);
      for await (const _ of this.helia.pins.rm(cid));
      return cid;
    });
  }

  /** Kubo's pin ls: every pin of the type, or the given CIDs' pin state (an error for one not pinned). */
  async pinLs(opts: { cids: { cid: CID; arg: string }[]; type: PinTypeFilter }): Promise<PinInfo[]> {
    this.assertOpen();
    const want = (t: PinType) => opts.type === 'all' || opts.type === t;
    const pins: { cid: CID; depth: number; name?: string }[] = [];
    for await (const p of this.helia.pins.ls()) {
      const meta = p.metadata as Partial<PinMeta>;
      pins.push({
        cid: meta.cidVersion === 0 ? p.cid.toV0() : p.cid,
        depth: p.depth,
        ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
      });
    }
    const typeOf = (depth: number): PinType => (depth === 0 ? 'direct' : 'recursive');
    const info = (p: { cid: CID; depth: number; name?: string }, type: string): PinInfo => ({
      cid: p.cid,
      type,
      ...(p.name ? { name: p.name } : {}),
    });

    if (opts.cids.length > 0) {
      const out: PinInfo[] = [];
      for (const { cid, arg } of opts.cids) {
        const own = pins.find((p) => sameBlock(p.cid, cid));
        if (own && want(typeOf(own.depth))) {
          out.push(info(own, typeOf(own.depth)));
          continue;
        }
        const root = want('indirect') ? await this.indirectRoot(cid, pins) : undefined;
        if (!root) throw new KuboCommandError(`path '${arg}' is not pinned`);
        out.push({ cid, type: `indirect through ${root}` });
      }
      return out;
    }

    const out = pins.filter((p) => want(typeOf(p.depth))).map((p) => info(p, typeOf(p.depth)));
    if (want('indirect')) {
      const seen = new Set(pins.map((p) => p.cid.toV1().toString()));
      for (const p of pins) {
        if (p.depth === 0) continue;
        for await (const c of this.walk(p.cid, p.depth)) {
          const key = c.toV1().toString();
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ cid: c, type: 'indirect' });
        }
      }
    }
    return out;
  }

  private async indirectRoot(cid: CID, pins: { cid: CID; depth: number }[]): Promise<CID | undefined> {
    for (const p of pins) {
      if (p.depth === 0) continue;
      for await (const c of this.walk(p.cid, p.depth))
        if (!sameBlock(c, p.cid) && sameBlock(c, cid)) return p.cid;
    }
    return undefined;
  }

  /** The file's bytes from `offset`, at most `length` of them. */
  async *cat(
    cid: CID,
    opts: { path?: string; offset?: number; length?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<Uint8Array> {
    this.assertOpen();
    try {
      yield* unixfs(this.helia).cat(cid, { ...opts, offline: true });
    } catch (e) {
      throw this.translate(e, cid);
    }
  }

  async blockStat(cid: CID): Promise<{ cid: CID; size: number }> {
    this.assertOpen();
    return { cid, size: (await this.getBlock(cid)).length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let a pin change in progress finish: stopping under it would leave its reference counts half-written.
    await this.pinChain;
    try {
      await this.helia.stop();
      await this.stores.blocks.close();
      await this.stores.data.close();
    } finally {
      this.releaseLock();
    }
  }

  private async getPin(cid: CID): Promise<{ depth: number } | undefined> {
    try {
      return await this.helia.pins.get(cid);
    } catch (e) {
      if (e instanceof Error && e.name === 'NotFoundError') return undefined;
      throw e;
    }
  }

  private async getBlock(cid: CID): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    try {
      for await (const part of this.helia.blockstore.get(cid, { offline: true })) parts.push(part);
    } catch (e) {
      throw this.translate(e, cid);
    }
    return Buffer.concat(parts);
  }

  /** Every block of the DAG under `root` down to `depth` links (root included), each once, from the repo. */
  private async *walk(root: CID, depth: number): AsyncGenerator<CID> {
    const seen = new Set<string>();
    let level = [root];
    for (let d = 0; level.length > 0; d++) {
      const next: CID[] = [];
      for (const cid of level) {
        const key = cid.toV1().toString();
        if (seen.has(key)) continue;
        seen.add(key);
        const bytes = await this.getBlock(cid);
        yield cid;
        if (d < depth) next.push(...(await this.linksOf(cid, bytes)));
      }
      level = next;
    }
  }

  private async linksOf(cid: CID, bytes: Uint8Array): Promise<CID[]> {
    if (cid.code === RAW) return [];
    if (cid.code !== DAG_PB)
      throw new KuboCommandError(`codec 0x${cid.code.toString(16)} is not supported by this node`);
    const codec = await this.helia.getCodec(DAG_PB);
    const node: unknown = codec.decode(bytes);
    const links = (node as { Links?: unknown }).Links;
    if (!Array.isArray(links)) return [];
    const out: CID[] = [];
    for (const l of links) {
      const hash = CID.asCID((l as { Hash?: unknown }).Hash);
      if (hash) out.push(hash);
    }
    return out;
  }

  private translate(e: unknown, cid: CID): unknown {
    if (e instanceof KuboCommandError) return e;
    if (e instanceof Error && NOT_FOUND_ERRORS.has(e.name)) return blockNotFound(cid);
    if (e instanceof Error && e.name === 'NotAFileError')
      return new KuboCommandError('this dag node is a directory', 'normal', { cause: e });
    return e;
  }
}
