/**
 * The two storage steps of ingest on their own, through the same adapters the embedded runtime uses, at the
 * concurrency the broker allows (aedes `concurrency: 256` in lib/runtime/mqtt-broker.ts). When end-to-end
 * ingest falls short of the raw broker, these say which step sets the pace.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteIndexStore } from '../lib/adapters/local/sqlite-index-store.js';
import { SqliteObjectStore } from '../lib/adapters/local/sqlite-object-store.js';
import { toHex } from '../lib/core/bytes.js';
import { sha256 } from '../lib/core/hash.js';
import type { RecordEntry } from '../lib/ports.js';
import { perSec, type Series, series } from './stats.js';
import { diskTempDir, removeTempDir } from './temp-dirs.js';

export const BROKER_CONCURRENCY = 256;

async function inPool(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Keys shaped like ingest's (records/<deviceId>/<record hash>), spread over `devices` directories. */
function keyOf(i: number, devices: number, rep: number): string {
  const h = toHex(sha256(new TextEncoder().encode(`${rep}/${i}`)));
  return `records/bench-${i % devices}/${h}`;
}

export interface ComponentFigures {
  label: string;
  perSec: Series;
}

export async function measureObjectPuts(o: {
  bodyBytes: number;
  count: number;
  devices: number;
  durable: boolean;
  reps: number;
}): Promise<ComponentFigures> {
  const body = new Uint8Array(randomBytes(o.bodyBytes));
  const digest = sha256(body);
  const runs: number[] = [];
  // Repetition -1 is an untimed warm-up: the first puts in a fresh process run several times slower.
  for (let r = -1; r < o.reps; r++) {
    const root = diskTempDir('objects');
    try {
      const store = new SqliteObjectStore({ path: join(root, 'objects.sqlite'), durable: o.durable });
      const count = r < 0 ? Math.min(o.count, 500) : o.count;
      const t0 = performance.now();
      await inPool(count, BROKER_CONCURRENCY, (i) =>
        store.put(keyOf(i, o.devices, r), body, { sha256: digest }),
      );
      if (r >= 0) runs.push(perSec(count, performance.now() - t0));
      await store.close();
    } finally {
      removeTempDir(root);
    }
  }
  return {
    label: `SqliteObjectStore.put, ${o.bodyBytes} B, durable=${o.durable}`,
    perSec: series(runs),
  };
}

function entryOf(i: number, devices: number): RecordEntry {
  const deviceId = `bench-${i % devices}`;
  const seq = Math.floor(i / devices);
  const hash = toHex(sha256(new TextEncoder().encode(`${i}`)));
  return {
    recordId: `${deviceId}.${seq}`,
    deviceId,
    seq,
    timestamp: 1_700_000_000_000 + i,
    receivedAt: 1_700_000_000_000 + i,
    recordHash: hash,
    prevHash: hash,
    ciphertextHash: hash,
    ciphertextLength: 900,
    envelopeSize: 1024,
    header: 'A'.repeat(156),
    objectKey: `records/${deviceId}/${hash}`,
    via: 'inline',
  };
}

export async function measureIndexPuts(o: {
  count: number;
  devices: number;
  reps: number;
}): Promise<ComponentFigures> {
  const runs: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    const dir = diskTempDir('index');
    const index = new SqliteIndexStore(join(dir, 'index.sqlite'));
    try {
      const t0 = performance.now();
      await inPool(o.count, BROKER_CONCURRENCY, (i) => index.putRecord(entryOf(i, o.devices)));
      runs.push(perSec(o.count, performance.now() - t0));
    } finally {
      await index.close();
      removeTempDir(dir);
    }
  }
  return { label: 'SqliteIndexStore.putRecord (group commit, synchronous=FULL)', perSec: series(runs) };
}
