import type { Chain, ChainDescription, ChainTx } from '../../lib/ports.js';

/**
 * Test double, not a mock: a real chain behind a switch that makes the next submit fail, either before the
 * transaction reaches the chain ('before') or after the chain took it but before the caller heard back
 * ('after', a lost acknowledgement). Lookups and describe pass straight through.
 */
export class FailingChain implements Chain {
  failNext: 'before' | 'after' | undefined;

  constructor(private readonly inner: Chain) {}

  get chainId(): string {
    return this.inner.chainId;
  }

  async submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }> {
    const mode = this.failNext;
    this.failNext = undefined;
    if (mode === 'before') throw new Error('chain unavailable (test double)');
    const res = await this.inner.submit(data, opts);
    if (mode === 'after') throw new Error('connection reset after submit (test double)');
    return res;
  }

  lookup(txId: string): Promise<ChainTx | undefined> {
    return this.inner.lookup(txId);
  }

  describe(): Promise<ChainDescription> {
    return this.inner.describe();
  }
}
