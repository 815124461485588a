/** The port conformance suites, run against the local (embedded) adapters on temp dirs. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { LocalLedgerSigner } from '../../lib/adapters/local/local-ledger-signer.js';
import { SqliteAuditLog } from '../../lib/adapters/local/sqlite-audit-log.js';
import { SqliteBatchStore } from '../../lib/adapters/local/sqlite-batch-store.js';
import { SqliteDeadLetterStore } from '../../lib/adapters/local/sqlite-dead-letters.js';
import { SqliteDeviceRegistry } from '../../lib/adapters/local/sqlite-device-registry.js';
import { SqliteIndexDb } from '../../lib/adapters/local/sqlite-index-db.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteLeaseStore } from '../../lib/adapters/local/sqlite-lease-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqliteRecordIndex } from '../../lib/adapters/local/sqlite-record-index.js';
import { SqliteStatementStore } from '../../lib/adapters/local/sqlite-statement-store.js';
import { SqliteTokenStore } from '../../lib/adapters/local/sqlite-token-store.js';
import { openUploadingStore } from '../support/local-stack.js';
import { makeTempDir } from '../support/temp-dir.js';
import { describeAuditLogConformance } from './audit-log.conformance.js';
import { describeBatchStoreConformance } from './batch-store.conformance.js';
import { describeChainConformance } from './chain.conformance.js';
import { describeDeadLetterStoreConformance } from './dead-letters.conformance.js';
import { describeDeviceRegistryConformance } from './device-registry.conformance.js';
import { describeKeyVaultConformance } from './key-vault.conformance.js';
import { describeLeaseStoreConformance } from './lease-store.conformance.js';
import { describeLedgerSignerConformance } from './ledger-signer.conformance.js';
import { describeObjectStoreConformance } from './object-store.conformance.js';
import { describeRecordIndexConformance } from './record-index.conformance.js';
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

/** A fresh index file per test, and one sub-port's adapter over it, as SqliteIndexStore composes them. */
const onIndexDb =
  <T>(open: (db: SqliteIndexDb) => T) =>
  async () => {
    const tmp = makeTempDir('index');
    const db = new SqliteIndexDb(join(tmp.dir, 'index.sqlite'));
    return {
      store: open(db),
      cleanup: async () => {
        await db.close();
        tmp.remove();
      },
    };
  };

describeRecordIndexConformance(
  'SqliteRecordIndex',
  onIndexDb((db) => new SqliteRecordIndex(db)),
);
describeBatchStoreConformance(
  'SqliteBatchStore',
  onIndexDb((db) => new SqliteBatchStore(db)),
);
describeDeviceRegistryConformance(
  'SqliteDeviceRegistry',
  onIndexDb((db) => new SqliteDeviceRegistry(db)),
);
describeDeadLetterStoreConformance(
  'SqliteDeadLetterStore',
  onIndexDb((db) => new SqliteDeadLetterStore(db)),
);
describeAuditLogConformance(
  'SqliteAuditLog',
  onIndexDb((db) => new SqliteAuditLog(db)),
);

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

describeLedgerSignerConformance('LocalLedgerSigner, the embedded ledger’s key file', async () => {
  const tmp = makeTempDir('ledger-key');
  const keyPath = join(tmp.dir, 'ledger.key');
  return {
    signer: LocalLedgerSigner.fromKeyFile(keyPath, { create: true }),
    reopen: async () => LocalLedgerSigner.fromKeyFile(keyPath, { create: false }),
    cleanup: async () => tmp.remove(),
  };
});

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
