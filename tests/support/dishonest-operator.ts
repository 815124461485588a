/**
 * What an operator who runs the backend can do beyond the API, for the end-to-end tests of issue 9: open the
 * stores under DATA_DIR with the project's own adapters (while the runtime is stopped), unwrap a device's master
 * key with the KEK, store records behind ingest's back and anchor them with the ledger key, and publish over MQTT
 * as any device after issuing it a new password. Nothing here is a mock: it is the real code, used by someone
 * the proofs must not have to trust.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { EmbeddedLedger } from '../../lib/adapters/local/embedded-ledger.js';
import { LocalKeyVault } from '../../lib/adapters/local/local-key-vault.js';
import { loadOrCreateSecret } from '../../lib/adapters/local/secret-file.js';
import { SqliteIndexStore } from '../../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../../lib/adapters/local/sqlite-object-store.js';
import { SqliteStatementStore } from '../../lib/adapters/local/sqlite-statement-store.js';
import { anchorPending } from '../../lib/anchor/anchor-pending.js';
import { fromBase64 } from '../../lib/core/bytes.js';
import { type AckEntry, AckMessage } from '../../lib/core/device-messages.js';
import { masterKeyContext } from '../../lib/devices/provision-device.js';
import { storeEnvelope } from '../../lib/ingest/ingest-envelope.js';
import { waitFor } from './runtime.js';

export interface OperatorStores {
  index: SqliteIndexStore;
  statements: SqliteStatementStore;
  objects: SqliteObjectStore;
  ledger: EmbeddedLedger;
  /** The device's master key, unwrapped with the KEK in DATA_DIR/secrets. */
  masterKey(deviceId: string): Promise<Uint8Array>;
  /** Stores an envelope as ingest would after its checks, with none of them. */
  storeBehindIngest(envelope: Uint8Array): Promise<void>;
  /** Anchors everything queued, with the ledger key in DATA_DIR/secrets. */
  anchor(): Promise<void>;
  close(): Promise<void>;
}

/** The runtime's stores under `dataDir`; the runtime must not be running. */
export function openOperatorStores(dataDir: string): OperatorStores {
  const index = new SqliteIndexStore(join(dataDir, 'index.sqlite'));
  const statements = new SqliteStatementStore(join(dataDir, 'statements.sqlite'));
  const objects = new SqliteObjectStore({
    path: join(dataDir, 'objects.sqlite'),
    durable: true,
    uploadBaseUrl: () => '',
    uploadSecret: loadOrCreateSecret(join(dataDir, 'secrets', 'upload-hmac')),
  });
  const ledger = new EmbeddedLedger(
    join(dataDir, 'ledger', 'ledger.jsonl'),
    join(dataDir, 'secrets', 'ledger-ed25519.pk8'),
    Date.now,
  );
  const vault = new LocalKeyVault(loadOrCreateSecret(join(dataDir, 'secrets', 'kek')));
  return {
    index,
    statements,
    objects,
    ledger,
    masterKey: async (deviceId) => {
      const d = await index.getDevice(deviceId);
      const wrapped = d ? fromBase64(d.wrappedMasterKey) : undefined;
      if (!wrapped) throw new Error(`no device ${deviceId}`);
      return vault.unwrap(wrapped, masterKeyContext(deviceId));
    },
    storeBehindIngest: async (envelope) => {
      const out = await storeEnvelope(
        { objects, index },
        { bytes: envelope, via: 'inline', receivedAt: Date.now() },
      );
      if (out.status !== 'stored') throw new Error(`not stored: ${JSON.stringify(out)}`);
    },
    anchor: async () => {
      const report = await anchorPending({
        index,
        statements,
        objects,
        chains: [ledger],
        clock: Date.now,
        maxBatchSize: 100_000,
      });
      if (report.failures.length > 0) throw new Error(`anchoring failed: ${JSON.stringify(report.failures)}`);
    },
    close: async () => {
      await objects.close();
      await statements.close();
      await index.close();
      ledger.close();
    },
  };
}

/** Publishes `payload` on `topic` as the device (MQTT password auth) and returns the ack entry that answers it. */
export async function publishAsDevice(o: {
  mqttUrl: string;
  deviceId: string;
  password: string;
  topic: string;
  payload: Uint8Array;
  /** Picks the answer among the device's acks. */
  answers: (a: AckEntry) => boolean;
}): Promise<AckEntry> {
  const client = await mqtt.connectAsync(o.mqttUrl, {
    clientId: o.deviceId,
    username: o.deviceId,
    password: o.password,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  try {
    const acks: AckEntry[] = [];
    client.on('message', (_t, p) => {
      const m = AckMessage.safeParse(JSON.parse(p.toString('utf8')));
      if (m.success) acks.push(...m.data.acks);
    });
    await client.subscribeAsync(`devices/${o.deviceId}/acks`, { qos: 1 });
    await client.publishAsync(o.topic, Buffer.from(o.payload), { qos: 1 });
    return await waitFor(`the answer on devices/${o.deviceId}/acks`, () => acks.find(o.answers), 20_000, 20);
  } finally {
    await client.endAsync();
  }
}

/** Waits until the record is in a batch anchored on every chain (the API's batch state). */
export async function waitAnchored(
  api: <T>(path: string) => Promise<{ status: number; body: T }>,
  recordId: string,
): Promise<void> {
  await waitFor(
    `${recordId} anchored`,
    async () => {
      const r = await api<{ batch?: { batchId: string } }>(`/v1/records/${recordId}`);
      if (!r.body.batch) return undefined;
      const b = await api<{ state: string }>(`/v1/batches/${r.body.batch.batchId}`);
      return b.body.state === 'anchored' || b.body.state === 'final' ? true : undefined;
    },
    60_000,
  );
}

/** GET as the operator, the response body as the exact text the server sent. */
export async function getText(
  baseUrl: string,
  token: string,
  path: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text() };
}
