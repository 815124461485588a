/**
 * Key release through the HTTP API (the app over the runtime's SQLite stores, called with app.request(): the
 * routes' answers are the subject, not the server): the audit log says whether each release succeeded, and
 * a master key the vault cannot unwrap is a typed 503 `key-unavailable`, audited as failed, not a bare 500
 * with the log claiming a release. The wrapped key is damaged behind the app's back, in index.sqlite, the
 * way a disk fault or a store restored with another KEK would leave it.
 */

import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { AuditEvent } from '../../lib/ports.js';
import { type ApiApp, type ApiCall, openApiApp } from '../support/api-app.js';
import { testOrigin } from '../support/origin.js';
import { TestDevice } from '../support/test-device.js';

describe('POST /v1/records/{id}/key-release and the audit log', () => {
  let rt: ApiApp;
  let api: ApiCall;
  const dev = new TestDevice('kr-1');

  beforeAll(async () => {
    rt = await openApiApp();
    api = rt.as(rt.operatorToken);
    const p = await api('/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ deviceId: dev.deviceId, masterKey: dev.masterKeyBase64 }),
    });
    expect(p.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const r = await ingestEnvelope(
        {
          objects: rt.stack.objects,
          index: rt.stack.index,
          clock: Date.now,
          limits: { maxClockSkewMs: 0 },
          origin: testOrigin(rt.stack.index),
        },
        {
          deviceId: dev.deviceId,
          bytes: dev.seal({ timestamp: Date.now() - 1000 + i }).envelope,
          via: 'inline',
        },
      );
      expect(r.status).toBe('stored');
    }
  });
  afterAll(async () => {
    await rt.close();
  });

  const release = (recordId: string, reason: string) =>
    api<{
      key?: string;
      auditId?: string;
      error?: { code: string; message: string; details?: { auditId: string } };
    }>(`/v1/records/${recordId}/key-release`, { method: 'POST', body: JSON.stringify({ reason }) });
  const latestAudit = async () => (await api<{ items: AuditEvent[] }>('/v1/audit?limit=1')).body.items[0];

  it('a release that succeeds is audited as succeeded', async () => {
    const r = await release('kr-1.0', 'incident 7');
    expect(r.status).toBe(200);
    expect(r.body.key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(await latestAudit()).toMatchObject({
      id: r.body.auditId,
      action: 'record-key-released',
      target: 'kr-1.0',
      reason: 'incident 7',
      outcome: 'succeeded',
    });
  });

  it('a wrapped master key the vault cannot unwrap answers 503 key-unavailable, audited as failed', async () => {
    const db = new DatabaseSync(rt.stack.indexPath);
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      const row = db
        .prepare('SELECT wrapped_master_key AS w FROM devices WHERE device_id = ?')
        .get('kr-1') as {
        w: string;
      };
      const bytes = Buffer.from(row.w, 'base64');
      bytes[20] = (bytes[20] as number) ^ 1;
      db.prepare('UPDATE devices SET wrapped_master_key = ? WHERE device_id = ?').run(
        bytes.toString('base64'),
        'kr-1',
      );
    } finally {
      db.close();
    }

    const r = await release('kr-1.1', 'incident 8');
    expect(r.status).toBe(503);
    expect(r.body.key).toBeUndefined();
    expect(r.body.error).toMatchObject({
      code: 'key-unavailable',
      message: expect.stringContaining('the master key of device kr-1 cannot be unwrapped (unwrap-failed)'),
    });
    const auditId = r.body.error?.details?.auditId;
    expect(await latestAudit()).toMatchObject({
      id: auditId,
      action: 'record-key-released',
      target: 'kr-1.1',
      reason: 'incident 8',
      outcome: 'failed',
      error: { code: 'unwrap-failed' },
    });
  });
  // Runs after the wrapped key was damaged above.
  it('a range release the vault cannot serve is 503 key-unavailable, audited once as failed with its range', async () => {
    const r = await api<{ keys?: unknown; error?: { code: string; details?: { auditId: string } } }>(
      '/v1/devices/kr-1/key-release',
      { method: 'POST', body: JSON.stringify({ fromSeq: 0, toSeq: 1, reason: 'incident 9' }) },
    );
    expect(r.status).toBe(503);
    expect(r.body.keys).toBeUndefined();
    expect(r.body.error?.code).toBe('key-unavailable');
    expect(await latestAudit()).toMatchObject({
      id: r.body.error?.details?.auditId,
      action: 'record-keys-released',
      target: 'kr-1',
      outcome: 'failed',
      error: { code: 'unwrap-failed' },
      details: { range: 'seq', fromSeq: 0, toSeq: 1, count: 2 },
    });
  });

  it('an auditor’s release that fails in the vault is still one audit row per request', async () => {
    const t = await api<{ tokenId: string; token: string }>('/v1/tokens', {
      method: 'POST',
      body: JSON.stringify({
        name: 'kr',
        devices: ['kr-1'],
        ttlSeconds: 600,
        permissions: ['read', 'key-release'],
      }),
    });
    expect(t.status).toBe(201);
    const asAuditor = rt.as(t.body.token);
    const byRange = await asAuditor<{ error?: { code: string } }>('/v1/devices/kr-1/key-release', {
      method: 'POST',
      body: JSON.stringify({ at: Date.now(), reason: 'audit 1' }),
    });
    const byRecord = await asAuditor<{ error?: { code: string } }>('/v1/records/kr-1.0/key-release', {
      method: 'POST',
      body: JSON.stringify({ reason: 'audit 2' }),
    });
    expect([byRange.body.error?.code, byRecord.body.error?.code]).toEqual([
      'key-unavailable',
      'key-unavailable',
    ]);
    const rows = (await api<{ items: AuditEvent[] }>('/v1/audit?limit=50')).body.items
      .filter((e) => e.actor === `auditor:${t.body.tokenId}`)
      .reverse();
    expect(rows.map((e) => [e.action, e.outcome, e.error?.code])).toEqual([
      ['record-keys-released', 'failed', 'unwrap-failed'],
      ['record-key-released', 'failed', 'unwrap-failed'],
    ]);
  });
});
