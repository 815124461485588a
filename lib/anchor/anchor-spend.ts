/**
 * Spend and economics of the anchor cycle: each chain's current fees (read again after a TTL, the last known
 * kept while its node is down), what was spent since 00:00 UTC, and the inline parts a batch can afford.
 *
 * Memory only. After a restart the day's transactions are counted again from the stored batches (restore);
 * inline refusals and fees start over.
 */
import type { BatchStore, Chain, ChainEconomics, InlinePart, RecordEntry } from '../ports.js';
import type { AnchorChain, InlinePolicy } from './anchor-policy.js';
import type { AnchorPlan } from './budget.js';
import { packInline } from './inline-packet.js';

const DAY_MS = 86_400_000;
const SPEND_SCAN_PAGES = 50;

/** A chain that states no economics (the embedded ledger) costs nothing and takes up to 1 MiB. */
export const FREE: ChainEconomics = { maxDataBytes: 1 << 20, feePerTx: () => 0, unit: '', decimals: 0 };

export interface DaySpend {
  day: number;
  rootTxs: number;
  inlineTxs: number;
  inlineTokens: number;
}

export interface InlineStats {
  records: number;
  txs: number;
  /** Records not sent inline, by reason (over-policy-size, fees-unknown, over-tx-rate, packInline's). */
  refused: Record<string, number>;
}

const dayOf = (t: number) => Math.floor(t / DAY_MS);

export class EconomicsCache {
  private readonly cache = new Map<string, { value?: ChainEconomics; at: number; error?: string }>();
  constructor(private readonly ttlMs: number) {}

  /** The chain's fees now: cached for the TTL; when the node is down, the last known ones (or none). */
  async read(chain: Chain, now: number): Promise<ChainEconomics | undefined> {
    if (!chain.economics) return FREE;
    const cached = this.cache.get(chain.chainId);
    if (cached && now - cached.at < this.ttlMs && cached.value) return cached.value;
    try {
      const value = await chain.economics();
      this.cache.set(chain.chainId, { value, at: now });
      return value;
    } catch (e) {
      // The node is down: keep planning with the last known fees, and say so.
      const message = e instanceof Error ? e.message : String(e);
      this.cache.set(chain.chainId, {
        ...(cached?.value ? { value: cached.value } : {}),
        at: now,
        error: message,
      });
      return cached?.value;
    }
  }

  /** The last fees read, without asking the node. */
  known(chain: Chain): ChainEconomics | undefined {
    return chain.economics ? this.cache.get(chain.chainId)?.value : FREE;
  }

  /** Why the last read failed, while it did. */
  error(chainId: string): string | undefined {
    return this.cache.get(chainId)?.error;
  }
}

export class SpendLedger {
  private readonly days = new Map<string, DaySpend>();
  private readonly inline = new Map<string, InlineStats>();

  /** Today's spend of a chain; a new day starts at zero. */
  of(chainId: string, now: number): DaySpend {
    let s = this.days.get(chainId);
    if (!s || s.day !== dayOf(now)) {
      s = { day: dayOf(now), rootTxs: 0, inlineTxs: 0, inlineTokens: 0 };
      this.days.set(chainId, s);
    }
    return s;
  }

  inlineOf(chainId: string): InlineStats {
    let s = this.inline.get(chainId);
    if (!s) {
      s = { records: 0, txs: 0, refused: {} };
      this.inline.set(chainId, s);
    }
    return s;
  }

  /**
   * Today's transactions, counted again from the newest stored batches back to 00:00 UTC (at most
   * SPEND_SCAN_PAGES pages). Returns the last batch's creation time, if any batch is stored.
   */
  async restore(store: Pick<BatchStore, 'listBatches'>, now: number): Promise<number | undefined> {
    let lastBatchAt: number | undefined;
    let cursor: string | undefined;
    const dayStart = dayOf(now) * DAY_MS;
    for (let page = 0; page < SPEND_SCAN_PAGES; page++) {
      const p = await store.listBatches({ limit: 200, ...(cursor ? { cursor } : {}) });
      for (const b of p.items) {
        lastBatchAt = Math.max(lastBatchAt ?? 0, b.createdAt);
        if (b.createdAt < dayStart) return lastBatchAt;
        for (const a of b.anchors) {
          const s = this.of(a.chainId, now);
          if ((a.kind ?? 'root') === 'root') s.rootTxs += a.attempt ?? 1;
          else s.inlineTxs += a.attempt ?? 1;
        }
      }
      if (!p.next) return lastBatchAt;
      cursor = p.next;
    }
    return lastBatchAt;
  }
}

/**
 * The inline parts of the batch about to be built, chain by chain, within what the day's budget leaves after
 * the roots and the transactions per second the root does not use. What is sent counts as spent at once;
 * what is refused is counted by reason.
 */
export function planInline(deps: {
  chains: readonly AnchorChain[];
  plan: AnchorPlan;
  now: number;
  economics: EconomicsCache;
  spend: SpendLedger;
}): (records: readonly RecordEntry[]) => InlinePart[] {
  const { plan: p, now } = deps;
  return (records) => {
    const parts: InlinePart[] = [];
    for (const c of deps.chains) {
      if (!c.inline) continue;
      const chainId = c.chain.chainId;
      const e = deps.economics.known(c.chain);
      const stats = deps.spend.inlineOf(chainId);
      const refuse = (reason: string, n: number) => {
        if (n > 0) stats.refused[reason] = (stats.refused[reason] ?? 0) + n;
      };
      const small = records.filter((r) => r.envelopeSize <= (c.inline as InlinePolicy).maxEnvelopeBytes);
      refuse('over-policy-size', records.length - small.length);
      if (!e) {
        refuse('fees-unknown', small.length);
        continue;
      }
      const s = deps.spend.of(chainId, now);
      const rootPerDay = p.chains.find((x) => x.chainId === chainId)?.tokensPerDay ?? 0;
      const tokensLeft =
        Math.min(c.inline.maxTokensPerDay, c.budget.maxTokensPerDay - rootPerDay) - s.inlineTokens;
      // Transactions per second are shared with the root: one root per interval, the rest may be inline.
      const txRoom = Number.isFinite(c.budget.maxTxPerSecond)
        ? Math.floor((c.budget.maxTxPerSecond * p.intervalMs) / 1000) - 1
        : Number.POSITIVE_INFINITY;
      const cap = Math.max(0, Math.min(c.inline.maxTxsPerBatch, txRoom));
      const packed = packInline(
        small.map((r) => ({ id: r.recordId, envelopeBytes: r.envelopeSize })),
        {
          maxDataBytes: e.maxDataBytes,
          maxEnvelopeBytes: c.inline.maxEnvelopeBytes,
          feePerTx: e.feePerTx,
          tokensLeft: Math.max(0, tokensLeft),
        },
      );
      for (const h of packed.hashed) refuse(h.reason, 1);
      packed.txs.forEach((tx, i) => {
        if (i >= cap) {
          refuse('over-tx-rate', tx.ids.length);
          return;
        }
        parts.push({ chainId, records: tx.ids, dataBytes: tx.dataBytes });
        s.inlineTokens += tx.fee;
        s.inlineTxs++;
        stats.txs++;
        stats.records += tx.ids.length;
      });
    }
    return parts;
  };
}
