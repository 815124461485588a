/**
 * Conformance suite for the Chain port (lib/ports.ts). Every adapter runs it unchanged, e.g.:
 *
 *   describeChainConformance('EmbeddedLedger', async () => ({ chain, cleanup, minesPerTx: true }));
 *
 * `make` is called once per test and must return a chain that is ready to accept transactions. Set
 * `minesPerTx: true` for chains that include every transaction at once and where each later transaction adds
 * a confirmation to the earlier ones (the embedded ledger, an automining dev chain such as ganache).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeAnchorPayload } from '../../lib/core/anchor-payload.js';
import { toHex, utf8 } from '../../lib/core/bytes.js';
import { sha256 } from '../../lib/core/hash.js';
import type { Chain } from '../../lib/ports.js';
import { expectBytes } from '../support/bytes.js';

export interface ChainFixture {
  chain: Chain;
  cleanup(): Promise<void>;
  /** Each submit is included at once and each later submit adds one confirmation to it. */
  minesPerTx?: true;
}

/** A real anchor payload (45 bytes) for a distinct root per label. */
const payload = (label: string, treeSize = 3): Uint8Array =>
  encodeAnchorPayload({ root: sha256(utf8(label)), treeSize });

export function describeChainConformance(name: string, make: () => Promise<ChainFixture>): void {
  describe(`Chain conformance: ${name}`, () => {
    let fx: ChainFixture;
    let chain: Chain;
    beforeEach(async () => {
      fx = await make();
      chain = fx.chain;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('describe() names the same chainId the chain carries', async () => {
      expect(chain.chainId).toMatch(/^[a-z0-9-]+:\S+$/);
      const d = await chain.describe();
      expect(d.chainId).toBe(chain.chainId);
    });

    it('submit returns a txId whose lookup gives back exactly the data, confirmed at least once', async () => {
      const data = payload('root one');
      const { txId } = await chain.submit(data, { dedupKey: 'conf-batch-1' });
      expect(typeof txId).toBe('string');
      expect(txId.length).toBeGreaterThan(0);
      const tx = await chain.lookup(txId);
      expect(tx?.txId).toBe(txId);
      expectBytes(tx?.data, data);
      expect(tx?.confirmations).toBeGreaterThanOrEqual(1);
    });

    it('carries arbitrary bytes, zeros included, unchanged', async () => {
      const data = new Uint8Array([0, 0, 0, 1, 0xff, 0, 0x49, 0x4f, 0x54, 0x41, 0]);
      const { txId } = await chain.submit(data, { dedupKey: 'conf-binary' });
      expectBytes((await chain.lookup(txId))?.data, data);
    });

    it('lookup of an unknown txId is undefined', async () => {
      await chain.submit(payload('something'), { dedupKey: 'conf-other' });
      expect(await chain.lookup(toHex(sha256(utf8('no such transaction'))))).toBeUndefined();
      expect(await chain.lookup(`0x${toHex(sha256(utf8('nor this one')))}`)).toBeUndefined();
    });

    it('a retried submit with the same dedupKey returns the first txId; other keys get their own', async () => {
      const data = payload('root dedup');
      const first = await chain.submit(data, { dedupKey: 'conf-batch-dedup' });
      const retry = await chain.submit(data, { dedupKey: 'conf-batch-dedup' });
      expect(retry.txId).toBe(first.txId);
      const other = await chain.submit(payload('root other'), { dedupKey: 'conf-batch-other' });
      expect(other.txId).not.toBe(first.txId);
      expectBytes((await chain.lookup(first.txId))?.data, data);
      expectBytes((await chain.lookup(other.txId))?.data, payload('root other'));
    });

    it('concurrent submits each get their own transaction with their own data', async () => {
      const datas = Array.from({ length: 6 }, (_, i) => payload(`concurrent ${i}`, i + 1));
      const txs = await Promise.all(datas.map((d, i) => chain.submit(d, { dedupKey: `conf-par-${i}` })));
      expect(new Set(txs.map((t) => t.txId)).size).toBe(datas.length);
      for (const [i, t] of txs.entries())
        expectBytes((await chain.lookup(t.txId))?.data, datas[i] as Uint8Array);
    });

    it('confirmations grow as later transactions are added (chains that mine per transaction)', async () => {
      const { txId } = await chain.submit(payload('first'), { dedupKey: 'conf-c-0' });
      const before = (await chain.lookup(txId))?.confirmations ?? 0;
      expect(before).toBeGreaterThanOrEqual(1);
      for (let i = 1; i <= 3; i++) await chain.submit(payload(`later ${i}`), { dedupKey: `conf-c-${i}` });
      const after = (await chain.lookup(txId))?.confirmations ?? 0;
      if (fx.minesPerTx) expect(after).toBe(before + 3);
      else expect(after).toBeGreaterThanOrEqual(before);
    });
  });
}
