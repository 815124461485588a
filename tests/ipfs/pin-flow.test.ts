/**
 * The pin path end to end, with every part real: sealed records in the file object store, the SQLite pin
 * queue, the ipfs-pin handler, KuboPinner over HTTP, and the embedded API on disk. The clock is a variable the
 * test moves, so backoff is exercised without waiting and nothing asserts on elapsed time.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedKuboApi } from '../../lib/adapters/ipfs/embedded-kubo-api.js';
import { KuboPinner } from '../../lib/adapters/ipfs/kubo-pinner.js';
import { kuboCid, kuboCidLike } from '../../lib/adapters/ipfs/unixfs-import.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqlitePinQueue } from '../../lib/adapters/local/sqlite-pin-queue.js';
import { hotPolicy } from '../../lib/ipfs/hot-policy.js';
import { createIpfsPinHandler, type IpfsPinHandler, PinRetryableError } from '../../lib/ipfs/pin-handler.js';
import { verifyRecordCid } from '../../lib/ipfs/verify-cid.js';
import { createLogger } from '../../lib/logger.js';
import { closedPort, randomData, standInEndpoint, startApi, tempDir } from './support/ipfs-fixture.js';
import { recordEntryOf, type StoredRecord, storeTestRecord } from './support/records.js';

const silent = createLogger({ write: () => undefined });

describe('ipfs-pin end to end', () => {
  const tmp = tempDir('flow');
  const repoDir = join(tmp.dir, 'ipfs');
  let api: EmbeddedKuboApi;
  let port: number;
  let objects: SqliteObjectStore;
  let index: SqliteIndexStore;
  let queue: SqlitePinQueue;
  let pinner: KuboPinner;
  let handler: IpfsPinHandler;
  let now = 1_000_000;

  const makeHandler = (p: KuboPinner) =>
    createIpfsPinHandler({
      queue,
      objects,
      index,
      pinner: p,
      clock: () => now,
      policy: hotPolicy({ mode: 'match', devices: ['hot-*'] }),
      log: silent,
      backoff: { baseMs: 1_000, maxMs: 8_000 },
      random: () => 0,
      drain: { batch: 4, leaseMs: 60_000 },
    });

  /** Drains until nothing is pending, moving the clock past each backoff; bounded so a bug cannot hang. */
  async function drainAll(h: IpfsPinHandler): Promise<void> {
    for (let i = 0; i < 50 && (await queue.countPending()) > 0; i++) {
      await h.drain();
      now += 10_000;
    }
  }

  beforeAll(async () => {
    api = await startApi(repoDir);
    port = api.port;
    objects = new SqliteObjectStore({ path: join(tmp.dir, 'objects.sqlite'), durable: false });
    index = new SqliteIndexStore(join(tmp.dir, 'index.sqlite'), { durable: false });
    queue = new SqlitePinQueue(join(tmp.dir, 'pin-queue.sqlite'));
    pinner = new KuboPinner({ url: api.url, timeoutMs: 10_000 });
    handler = makeHandler(pinner);
  });
  afterAll(async () => {
    await api.stop({ graceMs: 0 });
    await queue.close();
    await index.close();
    await objects.close();
    tmp.remove();
  });

  it('queues hot records only, and a drain pins their ciphertext under Kubo’s CID and records it in the index', async () => {
    const hot = [await storeTestRecord(objects, 'hot-a', 1), await storeTestRecord(objects, 'hot-a', 2)];
    const cold = await storeTestRecord(objects, 'cold-a', 1);
    for (const r of [...hot, cold]) await index.putRecord(recordEntryOf(r, now));
    for (const r of hot) expect(await handler.recordStored(r)).toBe('queued');
    expect(await handler.recordStored(hot[0] as StoredRecord)).toBe('exists');
    expect(await handler.recordStored(cold)).toBe('cold');

    const report = await handler.drain();
    expect(report.pinned.map((p) => p.recordId).sort()).toEqual(['hot-a.1', 'hot-a.2']);
    for (const r of hot) {
      const job = await queue.getJob(r.recordId);
      expect(job?.state).toBe('pinned');
      expect(job?.cid).toBe(await kuboCid(r.ciphertext));
      expect(await pinner.isPinned(job?.cid ?? '')).toBe(true);
      expect((await index.getRecord(r.deviceId, r.seq))?.ipfs).toEqual({ cid: job?.cid, pinnedAt: now });
    }
    expect(await queue.getJob(cold.recordId)).toBeUndefined();
    expect((await index.getRecord(cold.deviceId, cold.seq))?.ipfs).toBeUndefined();
  });

  it('stopping the IPFS endpoint with jobs queued loses no pin: they back off and all land after a restart', async () => {
    const records: StoredRecord[] = [];
    for (let seq = 1; seq <= 6; seq++) {
      // One ciphertext over 256 KiB, so a multi-block DAG is pinned across the restart too.
      records.push(await storeTestRecord(objects, 'hot-b', seq, seq === 6 ? 400_000 : 64));
      await handler.recordStored(records[seq - 1] as StoredRecord);
    }
    await api.stop({ graceMs: 0 });

    const down = await handler.drain();
    // The first job meets the refused connection; the rest of the batch (4) is handed back untried.
    expect(down.pinned).toEqual([]);
    expect(down.retried.map((r) => [r.code, r.attempts])).toEqual([['ipfs-unavailable', 1]]);
    expect(down.released).toHaveLength(3);
    // The two jobs beyond the first batch meet the same wall on the next pass.
    const rest = await handler.drain();
    expect([rest.claimed, rest.retried.length, rest.released.length]).toEqual([2, 1, 1]);
    // Nothing is due again before its backoff: a pass at the same instant claims nothing.
    expect((await handler.drain()).claimed).toBe(0);
    expect(await queue.countPending()).toBe(6);

    // Still down after the backoff: the failing job's attempts grow, nothing is dropped.
    now += 5_000;
    const stillDown = await handler.drain();
    expect(stillDown.retried.map((r) => r.code)).toEqual(['ipfs-unavailable']);
    expect(await queue.countPending()).toBe(6);
    const firstFailed = await queue.getJob(down.retried[0]?.recordId ?? '');
    expect(firstFailed?.lastError?.code).toBe('ipfs-unavailable');

    api = await startApi(repoDir, port);
    now += 10_000;
    await drainAll(handler);

    expect(await queue.countPending()).toBe(0);
    for (const r of records) {
      const job = await queue.getJob(r.recordId);
      expect(job?.state, r.recordId).toBe('pinned');
      expect(job?.cid).toBe(await kuboCid(r.ciphertext));
      expect(await pinner.isPinned(job?.cid ?? '')).toBe(true);
    }
    // And what was pinned before the outage is still pinned after the node restarted on its repo.
    expect(await pinner.isPinned((await queue.getJob('hot-a.1'))?.cid ?? '')).toBe(true);
  });

  it('a slow endpoint times out into the same backoff', async () => {
    // Stand-in for an overloaded Kubo: it takes the request and never answers.
    const stall = await standInEndpoint((req) => req.resume());
    try {
      const slow = makeHandler(new KuboPinner({ url: stall.url, timeoutMs: 300 }));
      const r = await storeTestRecord(objects, 'hot-c', 1);
      await slow.recordStored(r);
      const report = await slow.drain();
      expect(report.retried.map((x) => x.code)).toEqual(['ipfs-timeout']);
      expect((await queue.getJob(r.recordId))?.state).toBe('pending');
      await drainAll(handler);
      expect((await queue.getJob(r.recordId))?.state).toBe('pinned');
    } finally {
      await stall.close();
    }
  });

  it('a CID the index could not record keeps the job pending, to be pinned (same CID) and recorded again', async () => {
    const r = await storeTestRecord(objects, 'hot-i', 1);
    await index.putRecord(recordEntryOf(r, now));
    await handler.recordStored(r);
    // Stand-in for an index whose write fails (a full disk, a throttled table).
    const broken = createIpfsPinHandler({
      queue,
      objects,
      pinner,
      clock: () => now,
      policy: hotPolicy({ mode: 'all' }),
      log: silent,
      random: () => 0,
      index: {
        getRecord: (d, seq) => index.getRecord(d, seq),
        setIpfsCid: async () => {
          throw new Error('disk full (stand-in)');
        },
      },
    });
    const report = await broken.drain();
    expect(report.retried.map((x) => x.code)).toEqual(['storage-error']);
    expect((await queue.getJob(r.recordId))?.state).toBe('pending');
    await drainAll(handler);
    expect((await queue.getJob(r.recordId))?.state).toBe('pinned');
    expect((await index.getRecord(r.deviceId, r.seq))?.ipfs?.cid).toBe(await kuboCid(r.ciphertext));
  });

  it('an aborted pass hands its jobs back at once, in flight or untried, with no attempt counted', async () => {
    // Stand-in for an endpoint that takes the add and never answers, so the first job is in flight.
    const stall = await standInEndpoint((req) => req.resume());
    try {
      const slow = makeHandler(new KuboPinner({ url: stall.url, timeoutMs: 60_000 }));
      const rs = [await storeTestRecord(objects, 'hot-s', 1), await storeTestRecord(objects, 'hot-s', 2)];
      for (const r of rs) await slow.recordStored(r);
      const stop = new AbortController();
      const pass = slow.drain(stop.signal);
      while (stall.seen.length === 0) await new Promise((res) => setTimeout(res, 5));
      stop.abort();
      const report = await pass;
      expect(report.released.sort()).toEqual(['hot-s.1', 'hot-s.2']);
      for (const r of rs) {
        const job = await queue.getJob(r.recordId);
        expect([job?.state, job?.attempts, job?.nextAttemptAt]).toEqual(['pending', 0, now]);
      }
      await drainAll(handler);
      for (const r of rs) expect((await queue.getJob(r.recordId))?.state).toBe('pinned');
    } finally {
      await stall.close();
    }
  });

  it('parks jobs that cannot succeed: the object is gone, or holds another record', async () => {
    const gone = await storeTestRecord(objects, 'hot-d', 1);
    await objects.delete(gone.objectKey);
    const a = await storeTestRecord(objects, 'hot-d', 2);
    const b = await storeTestRecord(objects, 'hot-d', 3);
    // b's key, a's bytes.
    await objects.put(b.objectKey, a.envelope, { sha256: new Uint8Array(32) });
    for (const r of [gone, b]) await handler.recordStored(r);
    const report = await handler.drain();
    expect(report.failed.sort((x, y) => x.recordId.localeCompare(y.recordId))).toEqual([
      { recordId: 'hot-d.1', code: 'object-missing' },
      { recordId: 'hot-d.3', code: 'object-mismatch' },
    ]);
    expect(await queue.countPending()).toBe(0);
    expect((await queue.getJob('hot-d.1'))?.state).toBe('failed');
  });

  it('pinNow returns the CID, and throws a retryable error while the endpoint is down', async () => {
    const r = await storeTestRecord(objects, 'cold-e', 1);
    const out = await handler.pinNow(r);
    expect(out).toMatchObject({ status: 'pinned', cid: await kuboCid(r.ciphertext) });

    const downHandler = makeHandler(new KuboPinner({ url: `http://127.0.0.1:${await closedPort()}` }));
    const err = await downHandler.pinNow(r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PinRetryableError);
    expect((err as PinRetryableError).code).toBe('ipfs-unavailable');
  });

  describe('verify by CID', () => {
    const deps = () => ({ pinner, cidOf: kuboCidLike });

    it('ok for the pinned copy', async () => {
      const r = await storeTestRecord(objects, 'hot-v', 1);
      const { cid } = await pinner.pin(r.ciphertext);
      const check = await verifyRecordCid(deps(), { cid, header: r.header, recordHash: r.recordHash });
      expect([check.verdict, check.code]).toEqual(['ok', 'ok']);
    });

    it('tampered when the CID recorded for the record holds other content', async () => {
      const r = await storeTestRecord(objects, 'hot-v', 2);
      const other = await storeTestRecord(objects, 'hot-v', 3);
      const { cid } = await pinner.pin(other.ciphertext);
      const check = await verifyRecordCid(deps(), { cid, header: r.header, recordHash: r.recordHash });
      expect([check.verdict, check.code]).toEqual(['tampered', 'ciphertext-hash-mismatch']);
    });

    it('cid unavailable when the endpoint does not have it, or is down', async () => {
      const r = await storeTestRecord(objects, 'hot-v', 4);
      const neverAdded = await kuboCid(randomData(64));
      const missing = await verifyRecordCid(deps(), {
        cid: neverAdded,
        header: r.header,
        recordHash: r.recordHash,
      });
      expect([missing.verdict, missing.code]).toEqual(['cid unavailable', 'cid-not-found']);

      const down = await verifyRecordCid(
        { pinner: new KuboPinner({ url: `http://127.0.0.1:${await closedPort()}` }), cidOf: kuboCidLike },
        { cid: await kuboCid(r.ciphertext), header: r.header, recordHash: r.recordHash },
      );
      expect([down.verdict, down.code]).toEqual(['cid unavailable', 'ipfs-unavailable']);
    });

    it('cid unavailable, not tampered, when an endpoint serves bytes that are not the CID’s content', async () => {
      const r = await storeTestRecord(objects, 'hot-v', 5);
      const cid = await kuboCid(r.ciphertext);
      // Stand-in for a faulty or lying endpoint: every cat answers with the same wrong bytes.
      const liar = await standInEndpoint((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(Buffer.alloc(r.ciphertext.length, 0x41));
      });
      try {
        const check = await verifyRecordCid(
          { pinner: new KuboPinner({ url: liar.url }), cidOf: kuboCidLike },
          { cid, header: r.header, recordHash: r.recordHash },
        );
        expect([check.verdict, check.code]).toEqual(['cid unavailable', 'cid-content-mismatch']);
      } finally {
        await liar.close();
      }
    });
  });
});
