/**
 * The PinQueue conformance suite over both adapters: SqlitePinQueue on a temp file (a second handle is a
 * second connection, as a second process would open) and DynamoPinQueue on dynalite, with several shards so
 * the cross-shard merge is what is checked.
 */
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { DynamoPinQueue } from '../../lib/adapters/aws/dynamo-pin-queue.js';
import { SqlitePinQueue } from '../../lib/adapters/local/sqlite-pin-queue.js';
import { createTables, type RunningDynalite, startDynalite } from '../aws/support/emulators.js';
import { describePinQueueConformance } from './pin-queue.conformance.js';
import { tempDir } from './support/ipfs-fixture.js';

describePinQueueConformance('SqlitePinQueue', async () => {
  const tmp = tempDir('pinq');
  const path = join(tmp.dir, 'pin-queue.sqlite');
  const queue = new SqlitePinQueue(path);
  const others: SqlitePinQueue[] = [];
  return {
    queue,
    reopen: async () => {
      const q = new SqlitePinQueue(path);
      others.push(q);
      return q;
    },
    cleanup: async () => {
      for (const q of others) await q.close();
      await queue.close();
      tmp.remove();
    },
  };
});

let dynamo: Promise<RunningDynalite> | undefined;
afterAll(async () => {
  if (dynamo) await (await dynamo).close();
});

describePinQueueConformance('DynamoPinQueue on dynalite', async () => {
  dynamo ??= startDynalite();
  const { db } = await dynamo;
  const { pinJobs } = await createTables(db);
  const queue = new DynamoPinQueue({ db, table: pinJobs, shards: 3 });
  return {
    queue,
    reopen: async () => new DynamoPinQueue({ db, table: pinJobs, shards: 3 }),
    cleanup: () => queue.close(),
  };
});
