/**
 * Anchoring on three chains at once under a budget: the embedded ledger, a real local EVM node (ganache
 * 7.9.2, started here) and the BigBang STAND-IN (tests/support/bigbang-standin.ts, a JSON-RPC server with a
 * v2.0.5 node's shapes, mining a block a second; no BigBang node can run here). Records arrive at a steady
 * rate straight into ingest (no MQTT: this measures anchoring, not the broker), the anchor cycle runs on the
 * plan's interval with the finality poller between cycles, exactly as the embedded runtime schedules them.
 *
 * Per chain: records per transaction, transactions per second used against the budget, tokens per million
 * records (fees actually paid, from receipts) against one transaction per record (the seed's design, at the
 * same fee), and time-to-anchor p50/p99 per record (received → its root's transaction first seen in a block).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generatePrivateKey } from 'viem/accounts';
import { BigBangChain } from '../lib/adapters/bigbang/bigbang-chain.js';
import { EvmChain } from '../lib/adapters/evm/evm-chain.js';
import { EmbeddedLedger } from '../lib/adapters/local/embedded-ledger.js';
import { SqliteIndexStore } from '../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../lib/adapters/local/sqlite-statement-store.js';
import { createAnchorCycle } from '../lib/anchor/anchor-cycle.js';
import { batchLeavesKey } from '../lib/anchor/anchor-pending.js';
import type { AnchorChain } from '../lib/anchor/anchor-policy.js';
import { sealRecord, ZERO_HASH } from '../lib/core/envelope.js';
import { deriveRecordKey } from '../lib/core/record-key.js';
import { DeviceKeyCache } from '../lib/ingest/device-key-cache.js';
import { ingestEnvelope } from '../lib/ingest/ingest-envelope.js';
import { coreVerifier } from '../lib/ingest/signature-verifier.js';
import { silentLogger } from '../lib/logger.js';
import type { BatchEntry } from '../lib/ports.js';
import { startAnchorScheduler } from '../lib/runtime/anchor-scheduler.js';
import { startBigBangStandIn } from '../tests/support/bigbang-standin.js';
import { startGanache } from '../tests/support/ganache-node.js';
import { diskTempDir, removeTempDir } from './temp-dirs.js';

export interface ChainBenchOptions {
  /** How long records arrive. */
  durationMs: number;
  recordsPerSecond: number;
  /** The latency target: a record in a block on every chain within this long. */
  targetMs: number;
  devices?: number;
  onProgress?: (msg: string) => void;
}

export interface ChainRow {
  chainId: string;
  label: string;
  unit: string;
  budget: { maxTxPerSecond: number | null; maxTokensPerDay: number | null };
  records: number;
  txs: number;
  recordsPerTx: number;
  txPerSecond: number;
  /** txPerSecond / maxTxPerSecond. */
  tpsShare: number | null;
  tokensPaid: number;
  tokensPerMillionRecords: number;
  /** The plan's estimate at the fee it read: one root per interval, its batch at the observed rate. */
  planTokensPerMillionRecords: number;
  seedTokensPerMillionRecords: number;
  feePerTx: number;
  timeToAnchorMs: { p50: number; p99: number };
}

export interface ChainBenchFigures {
  durationMs: number;
  recordsPerSecond: number;
  targetMs: number;
  records: number;
  batches: number;
  intervalMs: number;
  limitedBy: string;
  rows: ChainRow[];
}

const ETH = 10n ** 18n;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

export async function measureChains(o: ChainBenchOptions): Promise<ChainBenchFigures> {
  const say = o.onProgress ?? (() => {});
  const dir = diskTempDir('chains');
  const key = generatePrivateKey();
  const node = await startGanache({ accounts: [{ secretKey: key, balance: 1000n * ETH }] });
  const standin = await startBigBangStandIn({ blockIntervalMs: 1000, balanceUnits: 1_000_000 * 1_000_000 });
  const index = new SqliteIndexStore(join(dir, 'index.sqlite'), { durable: false });
  const statements = new SqliteStatementStore(join(dir, 'statements.sqlite'), { durable: false });
  const objects = new SqliteObjectStore({
    path: join(dir, 'objects.sqlite'),
    durable: false,
    uploadBaseUrl: () => 'http://127.0.0.1:1',
    uploadSecret: new Uint8Array(randomBytes(32)),
  });
  const ledger = new EmbeddedLedger(join(dir, 'ledger.jsonl'), join(dir, 'ledger.pk8'));
  const finality = { confirmations: 1, pollMs: 250, dropAfterMs: 60_000, stuckAfterMs: 600_000 };
  // Budgets of this run: a share of each chain's throughput and a daily spend, as an operator would set.
  const chains: AnchorChain[] = [
    {
      chain: ledger,
      budget: { maxTxPerSecond: Infinity, maxTokensPerDay: Infinity, inclusionMs: 0 },
      finality,
    },
    {
      chain: new EvmChain({ rpcUrl: node.url, chainId: node.chainId, privateKey: key, gasRule: 'istanbul' }),
      budget: { maxTxPerSecond: 1, maxTokensPerDay: 10, inclusionMs: 0 },
      finality,
    },
    {
      chain: new BigBangChain({ rpcUrl: standin.url, from: standin.address, network: 'standin' }),
      budget: { maxTxPerSecond: 1, maxTokensPerDay: 5_000, inclusionMs: 1_000 },
      finality,
    },
  ];
  const labels = ['embedded ledger', 'EVM (ganache 7.9.2, local)', 'BigBang (stand-in, 1 block/s)'];
  const cycle = createAnchorCycle({
    index,
    statements,
    objects,
    chains,
    clock: Date.now,
    policy: { targetMaxTimeToAnchorMs: o.targetMs, maxBatchSize: 2 ** 20, minIntervalMs: 1_000 },
  });
  const scheduler = startAnchorScheduler(
    {
      cycle: async ({ force }) => {
        await cycle.run({ force, gate: true });
        return { nextInMs: cycle.nextDelayMs() };
      },
      poll: () => cycle.poll(),
      pollEveryMs: cycle.pollEveryMs,
      firstIntervalMs: o.targetMs,
    },
    silentLogger,
  );

  const devices = Array.from({ length: o.devices ?? 10 }, (_, i) => ({
    id: `bench-chain-${i}`,
    key: new Uint8Array(randomBytes(32)),
    seq: 0,
    prev: ZERO_HASH as Uint8Array,
  }));
  // Devices from before signing keys (unsigned records allowed): this bench measures anchoring, not origin.
  for (const d of devices)
    await index.createDevice({
      deviceId: d.id,
      createdAt: Date.now(),
      status: 'active',
      credentialHash: '0'.repeat(64),
      wrappedMasterKey: 'AA==',
      keys: [],
      allowUnsigned: true,
      keysRevision: 0,
    });
  const origin = {
    keys: new DeviceKeyCache(index, { maxAgeMs: Infinity, clock: Date.now }),
    verifier: coreVerifier,
  };
  const receivedAt = new Map<string, number>();
  let records = 0;
  try {
    say(`chains: ${o.recordsPerSecond} records/s for ${o.durationMs / 1000} s, target ${o.targetMs} ms`);
    const t0 = performance.now();
    const started = Date.now();
    while (performance.now() - t0 < o.durationMs) {
      const due = Math.floor(((performance.now() - t0) / 1000) * o.recordsPerSecond);
      while (records < due) {
        const d = devices[records % devices.length] as (typeof devices)[number];
        const timestamp = Date.now();
        const sealed = sealRecord({
          recordKey: deriveRecordKey(d.key, d.id, timestamp, d.seq),
          deviceId: d.id,
          seq: d.seq,
          timestamp,
          prevHash: d.prev,
          nonce: new Uint8Array(randomBytes(12)),
          plaintext: new Uint8Array(48),
        });
        const now = Date.now();
        await ingestEnvelope(
          { objects, index, clock: () => now, limits: { maxClockSkewMs: 60_000 }, origin },
          { deviceId: d.id, bytes: sealed.envelope, via: 'inline' },
        );
        receivedAt.set(`${d.id}.${d.seq}`, now);
        d.seq++;
        d.prev = sealed.recordHash;
        records++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    say(`chains: ${records} records in; waiting for every batch to be final on every chain`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pending = await index.countPending();
      const open = (await index.listUnanchored()).length;
      const due = (await index.listAnchorsDue(Number.MAX_SAFE_INTEGER, 1)).length;
      if (pending === 0 && open === 0 && due === 0) break;
      if (Date.now() > deadline)
        throw new Error(`chains bench: not settled (${pending} pending, ${open} open)`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const elapsedS = (Date.now() - started) / 1000;
    await scheduler.stop();

    const batches: BatchEntry[] = [];
    for (let cursor: string | undefined; ; ) {
      const p = await index.listBatches({ limit: 500, ...(cursor ? { cursor } : {}) });
      batches.push(...p.items);
      if (!p.next) break;
      cursor = p.next;
    }
    const members = new Map<string, string[]>();
    for (const b of batches) {
      const bytes = await objects.get(batchLeavesKey(b.batchId));
      members.set(b.batchId, (JSON.parse(new TextDecoder().decode(bytes)) as { records: string[] }).records);
    }
    const status = await cycle.status();
    const rows: ChainRow[] = [];
    for (const [i, c] of chains.entries()) {
      const chainId = c.chain.chainId;
      const s = status.chains.find((x) => x.chainId === chainId);
      const econ = c.chain.economics ? await c.chain.economics() : undefined;
      let txs = 0;
      let paid = 0;
      const delays: number[] = [];
      for (const b of batches) {
        for (const a of b.anchors) {
          if (a.chainId !== chainId) continue;
          txs += a.attempt ?? 1;
          if (a.fee !== undefined && econ) paid += Number(a.fee) / 10 ** econ.decimals;
          if ((a.kind ?? 'root') === 'root' && a.anchoredAt !== undefined) {
            for (const id of members.get(b.batchId) ?? []) {
              const at = receivedAt.get(id);
              if (at !== undefined) delays.push(a.anchoredAt - at);
            }
          }
        }
      }
      delays.sort((x, y) => x - y);
      const txPerSecond = txs / elapsedS;
      rows.push({
        chainId,
        label: labels[i] as string,
        unit: econ?.unit ?? '—',
        budget: s?.budget ?? { maxTxPerSecond: null, maxTokensPerDay: null },
        records,
        txs,
        recordsPerTx: txs > 0 ? records / txs : 0,
        txPerSecond,
        tpsShare: Number.isFinite(c.budget.maxTxPerSecond) ? txPerSecond / c.budget.maxTxPerSecond : null,
        tokensPaid: paid,
        tokensPerMillionRecords: records > 0 ? (paid / records) * 1e6 : 0,
        planTokensPerMillionRecords: s?.cost?.tokensPerMillionRecords ?? 0,
        seedTokensPerMillionRecords: s?.cost?.seedTokensPerMillionRecords ?? 0,
        feePerTx: s?.cost?.feePerTx ?? 0,
        timeToAnchorMs: { p50: pct(delays, 0.5), p99: pct(delays, 0.99) },
      });
    }
    return {
      durationMs: o.durationMs,
      recordsPerSecond: o.recordsPerSecond,
      targetMs: o.targetMs,
      records,
      batches: batches.length,
      intervalMs: status.plan?.intervalMs ?? 0,
      limitedBy: status.plan?.limitedBy ?? '',
      rows,
    };
  } finally {
    await scheduler.stop();
    await index.close();
    await statements.close();
    await objects.close();
    ledger.close();
    await standin.close();
    await node.close();
    removeTempDir(dir);
  }
}

// ------------------------------------------------------------------------------------------ report

const n = (x: number, d = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const tok = (x: number) => (x === 0 ? '0' : x >= 100 ? n(x, 0) : x >= 1 ? n(x, 2) : x.toPrecision(3));
const lim = (x: number | null, unit = '') => (x === null ? 'none' : `${tok(x)}${unit}`);

export function chainsSection(f: ChainBenchFigures | undefined): string {
  if (!f) return '';
  const rows = f.rows.map((r) =>
    [
      r.label,
      `${lim(r.budget.maxTxPerSecond, ' tx/s')}, ${lim(r.budget.maxTokensPerDay, r.unit === '—' ? '' : ` ${r.unit}/day`)}`,
      n(r.recordsPerTx, 0),
      `${r.txPerSecond.toFixed(3)}${r.tpsShare === null ? '' : ` (${(r.tpsShare * 100).toFixed(0)}% of budget)`}`,
      r.unit === '—' ? '0 (free)' : `${tok(r.tokensPerMillionRecords)} ${r.unit}`,
      r.unit === '—' ? '—' : `${tok(r.seedTokensPerMillionRecords)} ${r.unit}`,
      `${n(r.timeToAnchorMs.p50)} / ${n(r.timeToAnchorMs.p99)} ms`,
    ].join(' | '),
  );
  return `## Chains: anchoring under a budget

\`bench/chains.ts\`: ${n(f.records)} records at ${f.recordsPerSecond}/s for ${f.durationMs / 1000} s, every batch root
on three chains at once (embedded ledger; EVM on a local ganache 7.9.2 node, which mines each transaction at
once; the BigBang **stand-in**, one block a second; no BigBang node can run here), one confirmation each.
Target time-to-anchor ${f.targetMs} ms: the plan chose a ${n(f.intervalMs)} ms interval (limited by
${f.limitedBy}), ${f.batches} batches. Tokens are the fees actually paid (EVM receipts at ganache's gas price;
BigBang's CalcMinTxFee), per million records; "seed" is one transaction per record at the same fee.
Time-to-anchor is per record, from ingest to its root's transaction first seen in a block.

| Chain | Budget | Records / tx | Tx/s used | Tokens per 1M records | Seed: 1 tx per record | Time-to-anchor p50 / p99 |
| --- | --- | --- | --- | --- | --- | --- |
${rows.map((r) => `| ${r} |`).join('\n')}

Scale: a batch costs one 45-byte transaction per chain whatever it holds, so the budget sets how often to
anchor, never how much a root covers. One root per minute (1,440 transactions a day per chain) carries a
million records a minute at a proof depth of 20 (2^20 leaves, a 640-byte inclusion path); one transaction per
record, the seed's design, would be a million transactions a minute, ${n(1e6 / 60)} per second on one chain.
At 20 gwei and EIP-7623 a root costs 22,800 gas (0.000456 ETH): 0.000456 ETH per million records against 445.6 ETH
for a transaction per record; on BigBang 0.03 BBC against 30,000 BBC (docs/chains.md §5).
`;
}
