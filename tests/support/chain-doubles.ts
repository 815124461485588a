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

/**
 * Test double, not a mock: a real chain without fee bumps (the BigBang stand-in) given a replace() that
 * simply sends the data again as a second transaction. Unlike an EVM replacement both could be mined, which
 * lets a test make the replacement vanish and the earlier transaction be mined: the case the finality poller
 * must survive after a real bump, where only one of the two ever is.
 */
export class ResendingChain implements Chain {
  private resent = 0;
  readonly replacedBy = new Map<string, string>();

  constructor(private readonly inner: Chain) {}

  get chainId(): string {
    return this.inner.chainId;
  }

  submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }> {
    return this.inner.submit(data, opts);
  }

  async replace(txId: string, data: Uint8Array): Promise<{ txId: string }> {
    const r = await this.inner.submit(data, { dedupKey: `resent-${++this.resent}` });
    this.replacedBy.set(txId, r.txId);
    return r;
  }

  lookup(txId: string): Promise<ChainTx | undefined> {
    return this.inner.lookup(txId);
  }

  describe(): Promise<ChainDescription> {
    return this.inner.describe();
  }
}
