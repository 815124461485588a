/** The port conformance suites, run against the local (embedded) adapters on temp dirs. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteLeaseStore } from '../../lib/adapters/local/sqlite-lease-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../../lib/adapters/local/sqlite-statement-store.js';
import { SqliteTokenStore } from '../../lib/adapters/local/sqlite-token-store.js';
import { openUploadingStore } from '../support/local-stack.js';
import { makeTempDir } from '../support/temp-dir.js';
import { describeChainConformance } from './chain.conformance.js';
import { describeIndexStoreConformance } from './index-store.conformance.js';
import { describeKeyVaultConformance } from './key-vault.conformance.js';
import { describeLeaseStoreConformance } from './lease-store.conformance.js';
import { describeObjectStoreConformance } from './object-store.conformance.js';
import { describeStatementStoreConformance } from './statement-store.conformance.js';
import { describeTokenStoreConformance } from './token-store.conformance.js';

describeObjectStoreConformance('SqliteObjectStore with its upload endpoint', async () => {
  const tmp = makeTempDir('objects');
  const deadLetters = new SqliteIndexStore(join(tmp.dir, 'index.sqlite'));
  const up = await openUploadingStore({ path: join(tmp.dir, 'objects.sqlite'), deadLetters });
  return {
    store: up.objects,
    uploads: true,
    cleanup: async () => {
      await up.close();
      await deadLetters.close();
      tmp.remove();
    },
  };
});

describeObjectStoreConformance('SqliteObjectStore without an upload endpoint', async () => {
  const tmp = makeTempDir('objects');
  const store = new SqliteObjectStore({ path: join(tmp.dir, 'objects.sqlite') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      tmp.remove();
    },
  };
});

describeIndexStoreConformance('SqliteIndexStore', async () => {
  const tmp = makeTempDir('index');
  const store = new SqliteIndexStore(join(tmp.dir, 'index.sqlite'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      tmp.remove();
    },
  };
});

describeStatementStoreConformance('SqliteStatementStore', async () => {
  const tmp = makeTempDir('statements');
  const store = new SqliteStatementStore(join(tmp.dir, 'statements.sqlite'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      tmp.remove();
    },
  };
});

describeChainConformance('EmbeddedLedger', async () => {
  const tmp = makeTempDir('ledger');
  const chain = new EmbeddedLedger(
    join(tmp.dir, 'ledger', 'ledger.jsonl'),
    join(tmp.dir, 'secrets', 'ledger.pk8'),
  );
  return {
    chain,
    minesPerTx: true,
    cleanup: async () => {
      chain.close();
      tmp.remove();
    },
  };
});

describeKeyVaultConformance('LocalKeyVault', async () => ({
  vault: new LocalKeyVault(new Uint8Array(randomBytes(32))),
  cleanup: async () => {},
}));

describeTokenStoreConformance('SqliteTokenStore', async () => {
  const tmp = makeTempDir('tokens');
  const store = new SqliteTokenStore(join(tmp.dir, 'tokens.sqlite'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      tmp.remove();
    },
  };
});

describeLeaseStoreConformance('SqliteLeaseStore, two connections to one file', async () => {
  const tmp = makeTempDir('leases');
  const path = join(tmp.dir, 'leases.sqlite');
  const a = new SqliteLeaseStore(path);
  const b = new SqliteLeaseStore(path);
  return {
    a,
    b,
    cleanup: async () => {
      await a.close();
      await b.close();
      tmp.remove();
    },
  };
});
