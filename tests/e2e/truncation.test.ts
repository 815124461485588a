/**
 * The truncation test of issue 9, against the runtime process and the device stub. Four devices each send 12
 * signed records and a closing signed head (count 12); everything is anchored. Then the operator edits the
 * index behind the server's back (it holds DATA_DIR): for one device it drops the last three records (the ones
 * no later record links to, invisible before heads existed), for one a record in the middle, for one it swaps
 * two records' places; the fourth is left alone. Each change is reported by the completeness document
 * (checked offline by checkCompleteness and by verify_bundle.py) and by GET /v1/devices/{id}/gaps, which now
 * runs up to the latest head without being told toSeq.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetDeviceIds, startFleet } from '../../device-stub/fleet.js';
import { SigningKeyStore } from '../../device-stub/signing-key-store.js';
import { toHex } from '../../lib/core/bytes.js';
import {
  type CompletenessCheck,
  CompletenessDocument,
  checkCompleteness,
} from '../../lib/core/completeness.js';
import type { Gap } from '../../lib/core/gaps.js';
import type { DeviceKeyPin } from '../../lib/core/key-chain.js';
import { getText } from '../support/dishonest-operator.js';
import { probePython, pythonDisagreements } from '../support/python-verifier.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir, waitFor } from '../support/runtime.js';

interface GapsReport {
  toSeq: number;
  gaps: Gap[];
  head?: { count: number; lastRecord: string };
}

describe('truncation, a dropped record and a reordering are reported by the completeness document and by gaps', () => {
  const dataDir = tempDir('iotn-trunc-');
  const stateDir = tempDir('iotn-trunc-stub-');
  const [intact, tail, middle, swapped] = fleetDeviceIds({ devices: 4, seed: 5, prefix: 'trunc' }) as [
    string,
    string,
    string,
    string,
  ];
  let rt: SpawnedRuntime;
  let api: ReturnType<typeof operatorFetch>;
  let ledgerKeys: string[];
  const pins: DeviceKeyPin[] = [];
  const documents = new Map<string, string>();

  const completeness = async (deviceId: string) => {
    const r = await getText(rt.info.baseUrl, rt.token, `/v1/devices/${deviceId}/completeness`);
    expect(r.status).toBe(200);
    return r.text;
  };
  const check = (text: string): CompletenessCheck =>
    checkCompleteness(CompletenessDocument.parse(JSON.parse(text)), {
      trustedLedgerKeys: ledgerKeys,
      trustedDeviceKeys: pins,
    });

  beforeAll(async () => {
    rt = await spawnRuntime(dataDir, { ANCHOR_INTERVAL_MS: '300' });
    api = operatorFetch(rt.info.baseUrl, rt.token);
    const fleet = await startFleet({
      devices: 4,
      records: 12,
      ratePerSecond: 0,
      packetBytes: 200,
      seed: 5,
      prefix: 'trunc',
      mqttUrl: `mqtt://127.0.0.1:${rt.info.mqttPort}`,
      apiUrl: rt.info.baseUrl,
      operatorToken: rt.token,
      stateDir,
      maxInFlight: 100,
      ackTimeoutMs: 3000,
      timeoutMs: 60_000,
    }).result;
    expect(fleet).toMatchObject({ stored: 48, heads: 4, ok: true });
    ledgerKeys = (await api<{ items: { publicKey: string }[] }>('/v1/chains')).body.items.map(
      (c) => c.publicKey,
    );
    const keys = new SigningKeyStore(stateDir);
    for (const id of [intact, tail, middle, swapped])
      pins.push({ deviceId: id, keyId: toHex(keys.load(id)?.key.keyId ?? new Uint8Array(0)) });
    // Every record and head anchored: each device's document reads complete.
    for (const id of [intact, tail, middle, swapped])
      await waitFor(
        `${id} complete`,
        async () => check(await completeness(id)).outcome === 'complete' || undefined,
        60_000,
      );

    // The operator edits the index behind the server's back.
    const db = new DatabaseSync(join(dataDir, 'index.sqlite'));
    try {
      db.exec('PRAGMA busy_timeout = 10000');
      const del = db.prepare('DELETE FROM records WHERE device_id = ? AND seq = ?');
      for (const seq of [9, 10, 11]) del.run(tail, seq);
      del.run(middle, 4);
      // Records 6 and 7 trade places: each sits where the other should.
      const move = db.prepare('UPDATE records SET seq = ?, record_id = ? WHERE device_id = ? AND seq = ?');
      db.exec('BEGIN');
      move.run(-1, `${swapped}.x`, swapped, 6);
      move.run(6, `${swapped}.6`, swapped, 7);
      move.run(7, `${swapped}.7`, swapped, -1);
      db.exec('COMMIT');
    } finally {
      db.close();
    }
    for (const id of [intact, tail, middle, swapped]) documents.set(id, await completeness(id));
  }, 300_000);

  afterAll(async () => {
    rt.child.kill('SIGTERM');
    await rt.exited;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  const gaps = async (id: string) => (await api<GapsReport>(`/v1/devices/${id}/gaps`)).body;

  it('an untouched device: complete up to its head, no gaps', async () => {
    const c = check(documents.get(intact) ?? '');
    expect(c).toMatchObject({ status: 'verified', outcome: 'complete', missing: [], chainBreaks: [] });
    expect(c.range).toEqual({ fromSeq: 0, toSeq: 11 });
    expect(await gaps(intact)).toMatchObject({
      toSeq: 11,
      gaps: [],
      head: { count: 12, lastRecord: 'matches' },
    });
  });

  it('the last records dropped after the latest head: missing up to the head, in the document and in gaps', async () => {
    const c = check(documents.get(tail) ?? '');
    expect(c.outcome).toBe('incomplete');
    expect(c.missing).toEqual([{ fromSeq: 9, toSeq: 11 }]);
    expect(c.reasons.map((r) => r.code)).toContain('record-missing');
    // No toSeq given: the report runs to what the device signed for, and says its last record is gone.
    expect(await gaps(tail)).toMatchObject({
      toSeq: 11,
      gaps: [{ kind: 'not-received', fromSeq: 9, toSeq: 11 }],
      head: { count: 12, lastRecord: 'missing' },
    });
  });

  it('a record dropped in the middle: missing, and the link over it broken', async () => {
    const c = check(documents.get(middle) ?? '');
    expect(c.outcome).toBe('incomplete');
    expect(c.missing).toEqual([{ fromSeq: 4, toSeq: 4 }]);
    expect((await gaps(middle)).gaps).toEqual([{ kind: 'not-received', fromSeq: 4, toSeq: 4 }]);
  });

  it('two records reordered: the document is refused as tampered, and gaps shows the links around them break', async () => {
    const c = check(documents.get(swapped) ?? '');
    // Each record names its own seq and predecessor, so the order the server lists them in is checked
    // against them: the document is tampered with (every record is still there, linked, as the outcome says).
    expect(c.status).toBe('tampered');
    expect(c.reasons.map((r) => r.code)).toEqual(['records-out-of-order']);
    const g = (await gaps(swapped)).gaps;
    expect(g.filter((x) => x.kind === 'chain-break').map((x) => (x as { seq: number }).seq)).toEqual([
      6, 7, 8,
    ]);
  });

  const python = probePython();
  it('verify_bundle.py reaches the same verdicts on every document', () => {
    if (!python.ok) throw new Error(`verify_bundle.py cannot run here: ${python.reason}`);
    expect(
      pythonDisagreements(documents, { trustedLedgerKeys: ledgerKeys, trustedDeviceKeys: pins }),
    ).toEqual([]);
    expect(pythonDisagreements(documents, { trustedDeviceKeys: [] })).toEqual([]);
  });
});
