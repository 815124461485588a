/**
 * Real local adapters on a temp dir, wired the way lib/runtime/embedded.ts wires them, for use-case tests and
 * the local conformance runs. Nothing here is a mock: every store writes real files.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../../lib/adapters/local/sqlite-statement-store.js';
import { createUploadEndpoint } from '../../lib/adapters/local/upload-endpoint.js';
import { FailureLimiter } from '../../lib/ingest/failure-limiter.js';
import { silentLogger } from '../../lib/logger.js';
import type { DeadLetterStore } from '../../lib/ports.js';
import { makeTempDir } from './temp-dir.js';

export interface UploadingStore {
  objects: SqliteObjectStore;
  /** http://127.0.0.1:<port> of the upload endpoint. */
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * A SqliteObjectStore in the file `path` whose upload URLs point at a live upload endpoint (port 0), refusals of
 * which go to `deadLetters`.
 */
export async function openUploadingStore(opts: {
  path: string;
  deadLetters: DeadLetterStore;
  durable?: boolean;
  clock?: () => number;
}): Promise<UploadingStore> {
  const secret = new Uint8Array(randomBytes(32));
  let baseUrl = '';
  const objects = new SqliteObjectStore({
    path: opts.path,
    durable: opts.durable ?? true,
    uploadBaseUrl: () => baseUrl,
    uploadSecret: secret,
  });
  const limiter = new FailureLimiter(
    { store: opts.deadLetters, clock: opts.clock ?? Date.now, log: silentLogger },
    { budget: { burst: 10, perMinute: 6 }, summaryMs: 60_000 },
  );
  const app = createUploadEndpoint({
    objects,
    limiter,
    secret,
    clock: opts.clock ?? Date.now,
    log: silentLogger,
  });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    objects,
    baseUrl,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      });
      await limiter.stop();
      await objects.close();
    },
  };
}

export interface LocalStack {
  dir: string;
  /** The object store's SQLite file (tests tamper with it through tests/support/object-db.ts). */
  objectsDb: string;
  indexPath: string;
  objects: SqliteObjectStore;
  index: SqliteIndexStore;
  statements: SqliteStatementStore;
  ledger: EmbeddedLedger;
  vault: LocalKeyVault;
  /** Set when opened with `uploads: true`. */
  uploadBaseUrl?: string;
  close(): Promise<void>;
}

/**
 * Object store, index, embedded ledger and key vault on a fresh temp dir. Object writes skip fsync (the
 * conformance runs cover durable mode); everything else is as in production.
 */
export async function openLocalStack(
  opts: { uploads?: boolean; clock?: () => number } = {},
): Promise<LocalStack> {
  const tmp = makeTempDir('stack');
  const objectsDb = join(tmp.dir, 'objects.sqlite');
  const indexPath = join(tmp.dir, 'index.sqlite');
  const index = new SqliteIndexStore(indexPath);
  const statements = new SqliteStatementStore(join(tmp.dir, 'statements.sqlite'));
  const clock = opts.clock ?? Date.now;
  const uploading = opts.uploads
    ? await openUploadingStore({ path: objectsDb, deadLetters: index, durable: false, clock })
    : undefined;
  const objects = uploading?.objects ?? new SqliteObjectStore({ path: objectsDb, durable: false });
  const ledger = new EmbeddedLedger(
    join(tmp.dir, 'ledger', 'ledger.jsonl'),
    join(tmp.dir, 'secrets', 'ledger-ed25519.pk8'),
    clock,
  );
  const vault = new LocalKeyVault(new Uint8Array(randomBytes(32)));
  return {
    dir: tmp.dir,
    objectsDb,
    indexPath,
    objects,
    index,
    statements,
    ledger,
    vault,
    ...(uploading ? { uploadBaseUrl: uploading.baseUrl } : {}),
    close: async () => {
      await uploading?.close();
      await objects.close();
      await index.close();
      await statements.close();
      ledger.close();
      tmp.remove();
    },
  };
}
