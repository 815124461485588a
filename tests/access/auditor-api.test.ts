/**
 * Auditor tokens, roles, scope and key release, tried as an operator and an auditor would: over HTTP against
 * the embedded runtime (in-process, its real HTTP server and stores). Every refusal of the new routes is
 * answered here with its status and documented body.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64 } from '../../lib/core/bytes.js';
import { openRecord, parseEnvelope } from '../../lib/core/envelope.js';
import { ingestEnvelope } from '../../lib/ingest/ingest-envelope.js';
import type { AuditEvent } from '../../lib/ports.js';
import { testOrigin } from '../support/origin.js';
import { startInProcess, waitFor } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface Res<T = Record<string, unknown>> {
  status: number;
  body: T;
  text: string;
}
interface ErrorBody {
  error: { code: string; message: string };
}
interface Created {
  tokenId: string;
  token: string;
  status: string;
  scope: { devices: string[]; from?: number; to?: number };
  permissions: string[];
  expiresAt: number;
}
interface Keys {
  format: string;
  deviceId: string;
  range: Record<string, number>;
  count: number;
  auditId: string;
  keys: { recordId: string; seq: number; timestamp: number; recordHash: string; key: string }[];
}

const T0 = 1_700_000_000_000;
/** sensor-001 seals seq n at T0 + n s (TestDevice's default clock). */
const at = (seq: number, plusMs = 0) => T0 + seq * 1000 + plusMs;

describe('auditor access over the embedded runtime’s HTTP API', () => {
  let rt: Runtime;
  const devices = {
    sensor: new TestDevice('sensor-001'),
    plantA: new TestDevice('plant-a-1'),
    plantB: new TestDevice('plant-b-1'),
  };

  async function call<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: { token?: string; body?: unknown } = {},
  ): Promise<Res<T>> {
    const res = await fetch(`${rt.baseUrl}${path}`, {
      method,
      headers: {
        ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body: body as T, text };
  }
  const op = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
    call<T>(method, path, { token: rt.operatorToken, ...(body === undefined ? {} : { body }) });
  const expectError = (r: Res<unknown>, status: number, code: string) => {
    expect({ status: r.status, code: (r.body as ErrorBody).error?.code }).toEqual({ status, code });
  };
  async function mint(body: Record<string, unknown>): Promise<Created> {
    const r = await op<Created>('POST', '/v1/tokens', {
      name: 'test',
      ttlSeconds: 3600,
      permissions: ['read'],
      ...body,
    });
    expect(r.status, r.text).toBe(201);
    return r.body;
  }
  async function audit(): Promise<AuditEvent[]> {
    const r = await op<{ items: AuditEvent[] }>('GET', '/v1/audit?limit=1000');
    return r.body.items;
  }
  async function envelopeOf(recordId: string): Promise<Uint8Array> {
    const res = await fetch(`${rt.baseUrl}/v1/records/${recordId}/object`, {
      headers: { authorization: `Bearer ${rt.operatorToken}` },
    });
    expect(res.status).toBe(200);
    return new Uint8Array(await res.arrayBuffer());
  }
  const opens = (envelope: Uint8Array, keyB64: string) => {
    const env = parseEnvelope(envelope);
    if (!env.ok) throw new Error(env.message);
    return openRecord(env, fromBase64(keyB64) as Uint8Array).ok;
  };

  beforeAll(async () => {
    rt = await startInProcess({ KEY_RELEASE_MAX_RECORDS: '5' });
    for (const [d, n] of [
      [devices.sensor, 10],
      [devices.plantA, 3],
      [devices.plantB, 3],
    ] as const) {
      const p = await op('POST', '/v1/devices', { deviceId: d.deviceId, masterKey: d.masterKeyBase64 });
      expect(p.status).toBe(201);
      for (let i = 0; i < n; i++) {
        const out = await ingestEnvelope(
          {
            objects: rt.objects,
            index: rt.index,
            clock: Date.now,
            limits: { maxClockSkewMs: 0 },
            origin: testOrigin(rt.index),
          },
          { deviceId: d.deviceId, bytes: d.seal().envelope, via: 'inline' },
        );
        expect(out.status).toBe('stored');
      }
    }
  });
  afterAll(async () => {
    await rt?.cleanup();
  });

  describe('tokens (operator only)', () => {
    it('creates a token whose secret appears once: in the answer, never in a list, the log or the store', async () => {
      const r = await op<Created>('POST', '/v1/tokens', {
        name: 'annual audit',
        devices: ['sensor-001', 'plant-a-*'],
        from: new Date(at(3)).toISOString(),
        to: at(7),
        ttlSeconds: 3600,
        permissions: ['read', 'key-release'],
      });
      expect(r.status).toBe(201);
      const t = r.body;
      expect(t.token).toMatch(/^ina_[A-Za-z0-9_-]{43}$/);
      expect(t).toMatchObject({
        status: 'active',
        scope: { devices: ['sensor-001', 'plant-a-*'], from: at(3), to: at(7) },
        permissions: ['key-release', 'read'],
      });
      expect(t.expiresAt - Date.now()).toBeGreaterThan(3500_000);
      const list = await op<{ items: Record<string, unknown>[] }>('GET', '/v1/tokens');
      const listed = list.body.items.find((i) => i.tokenId === t.tokenId);
      expect(listed).toMatchObject({ name: 'annual audit', status: 'active' });
      expect(listed && 'token' in listed).toBe(false);
      expect(listed && 'tokenHash' in listed).toBe(false);
      expect(JSON.stringify(list.body)).not.toContain(t.token);
      for (const f of readdirSync(rt.dataDir).filter((f) => f.startsWith('tokens.sqlite')))
        expect(readFileSync(join(rt.dataDir, f)).includes(Buffer.from(t.token))).toBe(false);
      expect(JSON.stringify(await audit())).not.toContain(t.token);
      expect(
        (await audit()).find((e) => e.action === 'token-created' && e.target === t.tokenId),
      ).toMatchObject({
        actor: 'operator',
        outcome: 'succeeded',
        details: { name: 'annual audit', devices: 'sensor-001,plant-a-*', permissions: 'key-release,read' },
      });
    });

    it('refuses a token without a lifetime, beyond 90 days, or with a bad scope or permissions', async () => {
      const base = { name: 'x', devices: ['sensor-001'], permissions: ['read'] };
      for (const [body, message] of [
        [base, /exactly one of expiresAt and ttlSeconds/],
        [{ ...base, ttlSeconds: 60, expiresAt: Date.now() + 60_000 }, /exactly one/],
        [{ ...base, ttlSeconds: 90 * 86_400 + 1 }, /ttlSeconds/],
        [{ ...base, expiresAt: Date.now() + 91 * 86_400_000 }, /at most 90 days/],
        [{ ...base, expiresAt: Date.now() - 1 }, /in the future/],
        [{ ...base, ttlSeconds: 60, devices: ['*'] }, /neither a device id/],
        [{ ...base, ttlSeconds: 60, devices: [] }, /devices/],
        [{ ...base, ttlSeconds: 60, permissions: ['key-release'] }, /must include read/],
        [{ ...base, ttlSeconds: 60, permissions: ['write'] }, /permissions/],
        [{ ...base, ttlSeconds: 60, from: at(5), to: at(5) }, /later than from/],
        [{ ...base, ttlSeconds: 60, from: 'yesterday' }, /ISO 8601/],
        [{ ...base, ttlSeconds: 60, role: 'operator' }, /role/],
      ] as const) {
        const r = await op<ErrorBody>('POST', '/v1/tokens', body);
        expectError(r, 400, 'bad-request');
        expect(r.body.error.message).toMatch(message);
      }
    });

    it('revokes at once and idempotently; an unknown id is token-not-found', async () => {
      const t = await mint({ devices: ['sensor-001'] });
      expect((await call('GET', '/v1/devices/sensor-001/records', { token: t.token })).status).toBe(200);
      const del = await op<{ status: string; revokedBy: string }>('DELETE', `/v1/tokens/${t.tokenId}`);
      expect(del.status).toBe(200);
      expect(del.body).toMatchObject({ status: 'revoked', revokedBy: 'operator' });
      const refused = await call<ErrorBody>('GET', '/v1/devices/sensor-001/records', { token: t.token });
      expectError(refused, 401, 'token-revoked');
      expect((await op('DELETE', `/v1/tokens/${t.tokenId}`)).status).toBe(200);
      expect(
        (await audit()).filter((e) => e.action === 'token-revoked' && e.target === t.tokenId),
      ).toHaveLength(1);
      expectError(await op('DELETE', '/v1/tokens/tok-nope'), 404, 'token-not-found');
    });

    it('answers an expired token token-expired, and audits the refusal under the token', async () => {
      const t = await mint({ devices: ['sensor-001'], ttlSeconds: undefined, expiresAt: Date.now() + 1500 });
      expect((await call('GET', '/v1/chains', { token: t.token })).status).toBe(200);
      const expired = await waitFor('the token to expire', async () => {
        const r = await call<ErrorBody>('GET', '/v1/devices/sensor-001/records', { token: t.token });
        return r.status === 401 ? r : undefined;
      });
      expectError(expired, 401, 'token-expired');
      const rows = (await audit()).filter((e) => e.actor === `auditor:${t.tokenId}`);
      expect(rows[0]).toMatchObject({
        action: 'auditor-request',
        target: '/v1/devices/sensor-001/records',
        outcome: 'failed',
        error: { code: 'token-expired' },
        details: { method: 'GET', status: 401 },
      });
    });

    it('answers a made-up or malformed token unauthorized, the same as a wrong operator token', async () => {
      const made = await call<ErrorBody>('GET', '/v1/chains', { token: `ina_${'A'.repeat(43)}` });
      const short = await call<ErrorBody>('GET', '/v1/chains', { token: 'ina_short' });
      const wrong = await call<ErrorBody>('GET', '/v1/chains', { token: 'not-the-operator-token' });
      const none = await call<ErrorBody>('GET', '/v1/chains');
      for (const r of [made, short, wrong, none]) expectError(r, 401, 'unauthorized');
      expect(made.text).toBe(short.text);
      expect(made.text).toBe(wrong.text);
    });
  });

  describe('an auditor token’s role and scope', () => {
    let reader: Created;
    let windowed: Created;
    beforeAll(async () => {
      reader = await mint({ name: 'reader', devices: ['sensor-001', 'plant-a-*'] });
      // Records of sensor-001 at seq 4, 5, 6 are in [at(3) + 500, at(7)); seq 3 is just before it.
      windowed = await mint({
        name: 'windowed',
        devices: ['sensor-001'],
        from: at(3, 500),
        to: at(7),
        permissions: ['read', 'key-release'],
      });
    });
    const as = (t: Created) => (method: string, path: string, body?: unknown) =>
      call<ErrorBody>(method, path, { token: t.token, ...(body === undefined ? {} : { body }) });

    it('reads every in-scope route: records, a record, verify, proof, object, gaps, chains', async () => {
      const get = as(reader);
      for (const path of [
        '/v1/devices/sensor-001/records',
        '/v1/devices/plant-a-1/records',
        '/v1/devices/sensor-001/gaps',
        '/v1/records/sensor-001.2',
        '/v1/records/plant-a-1.0/verify',
        '/v1/records/sensor-001.2/proof',
        '/v1/records/sensor-001.2/object',
        '/v1/chains',
      ])
        expect((await get('GET', path)).status, path).toBe(200);
      expectError(await get('GET', '/v1/records/sensor-001.99'), 404, 'record-not-found');
    });

    it('gets forbidden on every operator route, whatever it names', async () => {
      const t = as(reader);
      for (const [method, path, body] of [
        ['GET', '/v1/audit'],
        ['GET', '/v1/dead-letters'],
        ['GET', '/v1/tokens'],
        ['POST', '/v1/tokens', { name: 'escalate', devices: ['x'], ttlSeconds: 60, permissions: ['read'] }],
        ['DELETE', `/v1/tokens/${reader.tokenId}`],
        ['POST', '/v1/devices', { deviceId: 'sneaky', masterKey: devices.sensor.masterKeyBase64 }],
        ['POST', '/v1/devices/sensor-001/credentials'],
        ['GET', '/v1/batches/b-1'],
        ['GET', '/v1/anchoring'],
      ] as const)
        expectError(await t(method, path, body), 403, 'forbidden');
      expect((await op('GET', '/v1/devices/sneaky/records')).body).toEqual({ items: [] });
    });

    it('needs the key-release permission to release keys, by record or by range', async () => {
      const t = as(reader);
      const r1 = await t('POST', '/v1/records/sensor-001.1/key-release', { reason: 'audit' });
      expectError(r1, 403, 'forbidden');
      expect(r1.body.error.message).toBe('this token lacks the key-release permission');
      expectError(
        await t('POST', '/v1/devices/sensor-001/key-release', { at: at(1), reason: 'audit' }),
        403,
        'forbidden',
      );
    });

    it('answers a device outside the scope out-of-scope, the same whether it exists or not', async () => {
      const t = as(reader);
      const known = await t('GET', '/v1/devices/plant-b-1/records');
      const unknown = await t('GET', '/v1/devices/never-made/records');
      expectError(known, 403, 'out-of-scope');
      expect(unknown.status).toBe(known.status);
      expect(unknown.text).toBe(known.text);
      for (const path of [
        '/v1/records/plant-b-1.0',
        '/v1/records/plant-b-1.0/proof',
        '/v1/records/plant-b-1.0/object',
        '/v1/records/plant-b-1.99/verify',
        '/v1/devices/plant-b-1/gaps',
        '/v1/devices/plant-b-1/export',
        '/v1/devices/plant-b-1/keys',
        '/v1/devices/plant-a/records',
      ])
        expect((await t('GET', path)).text, path).toBe(known.text);
    });

    it('with a time window: a record outside it and one that does not exist get the same answer', async () => {
      const t = as(windowed);
      expect((await t('GET', '/v1/records/sensor-001.5/proof')).status).toBe(200);
      for (const suffix of ['', '/verify', '/proof', '/object']) {
        const outside = await t('GET', `/v1/records/sensor-001.3${suffix}`);
        const after = await t('GET', `/v1/records/sensor-001.7${suffix}`);
        const missing = await t('GET', `/v1/records/sensor-001.999${suffix}`);
        expectError(outside, 403, 'out-of-scope');
        expect(after.text).toBe(outside.text);
        expect({ status: missing.status, text: missing.text }).toEqual({
          status: outside.status,
          text: outside.text,
        });
      }
    });

    it('with a time window: listings default to it and refuse bounds beyond it', async () => {
      const t = as(windowed);
      const list = await call<{ items: { seq: number }[] }>('GET', '/v1/devices/sensor-001/records', {
        token: windowed.token,
      });
      expect(list.body.items.map((r) => r.seq)).toEqual([4, 5, 6]);
      const inner = await call<{ items: { seq: number }[] }>(
        'GET',
        `/v1/devices/sensor-001/records?from=${at(5)}`,
        { token: windowed.token },
      );
      expect(inner.body.items.map((r) => r.seq)).toEqual([5, 6]);
      expectError(await t('GET', `/v1/devices/sensor-001/records?from=${at(0)}`), 403, 'out-of-scope');
      expectError(await t('GET', `/v1/devices/sensor-001/records?to=${at(9)}`), 403, 'out-of-scope');
    });

    it('with a time window: gaps need a seq range inside it, and do not tell the highest seq', async () => {
      const t = as(windowed);
      const open = await t('GET', '/v1/devices/sensor-001/gaps');
      expectError(open, 400, 'bad-request');
      expect(open.body.error.message).toMatch(/must give fromSeq and toSeq/);
      const ok = await call<Record<string, unknown>>('GET', '/v1/devices/sensor-001/gaps?fromSeq=4&toSeq=6', {
        token: windowed.token,
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ fromSeq: 4, toSeq: 6, received: 3, gaps: [] });
      expect('highestSeq' in ok.body).toBe(false);
      const wide = await t('GET', '/v1/devices/sensor-001/gaps?fromSeq=3&toSeq=6');
      const empty = await t('GET', '/v1/devices/sensor-001/gaps?fromSeq=500&toSeq=600');
      expectError(wide, 403, 'out-of-scope');
      expect(empty.text).toBe(wide.text);
    });

    it('completeness and the key log: read without a window; a window refuses completeness (it names the head)', async () => {
      for (const path of [
        '/v1/devices/sensor-001/completeness?fromSeq=0&toSeq=2',
        '/v1/devices/sensor-001/keys',
      ])
        expect((await as(reader)('GET', path)).status, path).toBe(200);
      const t = as(windowed);
      expectError(
        await t('GET', '/v1/devices/sensor-001/completeness?fromSeq=4&toSeq=6'),
        403,
        'out-of-scope',
      );
      expectError(await t('GET', '/v1/devices/sensor-001/completeness?from=0'), 403, 'out-of-scope');
      expect((await t('GET', '/v1/devices/sensor-001/keys')).status).toBe(200);
    });

    it('writes one audit row per request, refusals included, and one for a key release', async () => {
      const t = await mint({
        name: 'counted',
        devices: ['sensor-001'],
        permissions: ['read', 'key-release'],
      });
      const get = as(t);
      await get('GET', '/v1/devices/sensor-001/records');
      await get('GET', '/v1/records/sensor-001.1/proof');
      await get('GET', '/v1/devices/plant-b-1/records');
      await get('GET', '/v1/audit');
      expect(
        (
          await get('POST', '/v1/devices/sensor-001/key-release', {
            fromSeq: 0,
            toSeq: 3,
            reason: 'four keys',
          })
        ).status,
      ).toBe(200);
      const rows = (await audit()).filter((e) => e.actor === `auditor:${t.tokenId}`).reverse();
      expect(rows.map((e) => [e.action, e.outcome, e.error?.code ?? e.details?.count])).toEqual([
        ['auditor-request', 'succeeded', undefined],
        ['auditor-request', 'succeeded', undefined],
        ['auditor-request', 'failed', 'out-of-scope'],
        ['auditor-request', 'failed', 'forbidden'],
        ['record-keys-released', 'succeeded', 4],
      ]);
      expect(rows[2]).toMatchObject({ target: '/v1/devices/plant-b-1/records', details: { status: 403 } });
    });
  });

  describe('key release for a time point and a range', () => {
    const release = (body: Record<string, unknown>, token?: string) =>
      call<Keys & ErrorBody>('POST', '/v1/devices/sensor-001/key-release', {
        token: token ?? rt.operatorToken,
        body: { reason: 'court order 17', ...body },
      });

    it('for a time point: the key of the record in force then, which opens that record', async () => {
      const r = await release({ at: at(4, 500) });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ format: 'iot-notary.keys.v1', deviceId: 'sensor-001', count: 1 });
      expect(r.body.keys.map((k) => k.seq)).toEqual([4]);
      const k = r.body.keys[0];
      expect(k).toMatchObject({ recordId: 'sensor-001.4', timestamp: at(4) });
      expect(opens(await envelopeOf('sensor-001.4'), k?.key ?? '')).toBe(true);
      expect((await release({ at: new Date(at(4)).toISOString() })).body.keys[0]?.seq).toBe(4);
      expectError(await release({ at: T0 - 1 }), 404, 'record-not-found');
    });

    it('for a time range: one audited release, and no released key opens a record outside it', async () => {
      const r = await release({ from: at(3), to: at(7) });
      expect(r.status).toBe(200);
      expect(r.body.count).toBe(4);
      expect(r.body.keys.map((k) => k.seq)).toEqual([3, 4, 5, 6]);
      for (const k of r.body.keys) expect(opens(await envelopeOf(k.recordId), k.key)).toBe(true);
      // Per-record keys: not one of them opens any other record of the device, the neighbours 2 and 7 first.
      for (const seq of [2, 7, 0, 1, 8, 9]) {
        const envelope = await envelopeOf(`sensor-001.${seq}`);
        for (const k of r.body.keys)
          expect(opens(envelope, k.key), `seq ${seq} with key of ${k.seq}`).toBe(false);
      }
      const entry = (await audit()).find((e) => e.id === r.body.auditId);
      expect(entry).toMatchObject({
        actor: 'operator',
        action: 'record-keys-released',
        target: 'sensor-001',
        reason: 'court order 17',
        details: {
          range: 'time',
          from: at(3),
          to: at(7),
          count: 4,
          firstRecord: 'sensor-001.3',
          lastRecord: 'sensor-001.6',
        },
      });
    });

    it('for a seq range, inclusive', async () => {
      const r = await release({ fromSeq: 7, toSeq: 9 });
      expect(r.body.keys.map((k) => k.seq)).toEqual([7, 8, 9]);
      expect(opens(await envelopeOf('sensor-001.8'), r.body.keys[1]?.key ?? '')).toBe(true);
    });

    it('refuses a range wider than KEY_RELEASE_MAX_RECORDS with range-too-wide, releasing and auditing nothing', async () => {
      const before = (await audit()).filter((e) => e.action === 'record-keys-released').length;
      const bySeq = await release({ fromSeq: 0, toSeq: 5 });
      expectError(bySeq, 400, 'range-too-wide');
      expect(bySeq.body.error.message).toMatch(/at most 5 records/);
      expectError(await release({ from: at(0), to: at(10) }), 400, 'range-too-wide');
      expect((await audit()).filter((e) => e.action === 'record-keys-released').length).toBe(before);
    });

    it('refuses a malformed range with bad-request', async () => {
      for (const [body, message] of [
        [{}, /exactly one of/],
        [{ at: at(1), from: at(0), to: at(2) }, /exactly one of/],
        [{ from: at(1) }, /from and to go together/],
        [{ from: at(2), to: at(2) }, /to must be later than from/],
        [{ fromSeq: 3 }, /fromSeq and toSeq go together/],
        [{ fromSeq: 4, toSeq: 3 }, /toSeq must not be below fromSeq/],
        [{ fromSeq: -1, toSeq: 3 }, /fromSeq/],
        [{ at: 'next tuesday' }, /ISO 8601/],
        [{ at: at(1), reason: '' }, /reason/],
        [{ at: at(1), keys: 'all' }, /keys/],
      ] as const) {
        const r = await release(body);
        expectError(r, 400, 'bad-request');
        expect(r.body.error.message).toMatch(message);
      }
    });

    it('for a windowed auditor: only inside the window, and a record in force from before it is out of scope', async () => {
      const t = await mint({
        name: 'window releaser',
        devices: ['sensor-001'],
        from: at(3, 500),
        to: at(7),
        permissions: ['read', 'key-release'],
      });
      const ok = await release({ from: at(4), to: at(6) }, t.token);
      expect(ok.body.keys.map((k) => k.seq)).toEqual([4, 5]);
      expect((await release({ fromSeq: 4, toSeq: 6 }, t.token)).body.count).toBe(3);
      expect((await release({ at: at(6, 900) }, t.token)).body.keys[0]?.seq).toBe(6);
      const wide = await release({ from: at(3), to: at(6) }, t.token);
      expectError(wide, 403, 'out-of-scope');
      for (const body of [
        { from: at(4), to: at(8) },
        { fromSeq: 3, toSeq: 6 },
        { fromSeq: 50, toSeq: 52 },
        { at: at(3, 600) },
        { at: at(8) },
      ])
        expect((await release(body, t.token)).text, JSON.stringify(body)).toBe(wide.text);
      const other = await call<ErrorBody>('POST', '/v1/devices/plant-a-1/key-release', {
        token: t.token,
        body: { at: at(1), reason: 'not mine' },
      });
      expect(other.text).toBe(wide.text);
    });
  });
});
