/**
 * Ingest (lib/ingest) over the real local adapters: what gets stored, what gets refused, and that a refusal
 * leaves a dead letter and nothing in the object store or the index.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex, utf8 } from '../../lib/core/bytes.js';
import { ZERO_HASH } from '../../lib/core/envelope.js';
import { sha256 } from '../../lib/core/hash.js';
import {
  type DeviceMessageDeps,
  handleDeviceMessage,
  uploadObjectKey,
} from '../../lib/ingest/device-message.js';
import { ingestEnvelope, recordObjectKey } from '../../lib/ingest/ingest-envelope.js';
import { DEAD_LETTER_PAYLOAD_LIMIT, type DeadLetter } from '../../lib/ports.js';
import { MQTT_MAX_MESSAGE_BYTES } from '../../lib/routing/routes.js';
import { expectBytes, flipByte } from '../support/bytes.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { listObjectKeys } from '../support/object-db.js';
import { provisionLegacyDevices, testOrigin } from '../support/origin.js';
import { TestDevice, testClock } from '../support/test-device.js';

const MAX_SKEW = 60_000;

describe('ingest', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let deps: DeviceMessageDeps;
  let dev: TestDevice;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ uploads: true, clock: clock.now });
    deps = {
      objects: stack.objects,
      index: stack.index,
      devices: stack.index,
      statements: stack.statements,
      origin: testOrigin(stack.index),
      clock: clock.now,
      limits: { maxClockSkewMs: MAX_SKEW, maxPacketBytes: 512 * 1024, uploadTtlSeconds: 300 },
    };
    // Devices from before signing keys: unsigned (v1) records allowed. Origin: tests/ingest/origin.test.ts.
    await provisionLegacyDevices(stack.index, ['dev-1', 'dev-2']);
    dev = new TestDevice('dev-1');
  });
  afterEach(async () => {
    await stack.close();
  });

  const publish = (topic: string, payload: Uint8Array) =>
    handleDeviceMessage(deps, { topic, payload, clientId: topic.split('/')[1] as string });
  const publishRecord = (payload: Uint8Array, deviceId = 'dev-1') =>
    publish(`devices/${deviceId}/records`, payload);
  const json = (v: unknown) => utf8(JSON.stringify(v));
  const deadLetters = async (): Promise<DeadLetter[]> =>
    (await stack.index.listDeadLetters({ limit: 100 })).items;

  /** The refusal left one dead letter with this code and the payload, and nothing stored anywhere. */
  async function expectRefusedCleanly(
    code: string,
    payload: Uint8Array,
    opts: { deviceId?: string; seq?: number; topic?: string; keepFiles?: string[] } = {},
  ): Promise<DeadLetter> {
    const dls = await deadLetters();
    expect(dls.map((d) => d.code)).toEqual([code]);
    const dl = dls[0] as DeadLetter;
    expect(dl).toMatchObject({ source: 'mqtt', code, payloadSize: payload.length });
    expect(dl.payloadSha256).toBe(toHex(sha256(payload)));
    if (opts.deviceId !== undefined) expect(dl.deviceId).toBe(opts.deviceId);
    if (opts.seq !== undefined) expect(dl.seq).toBe(opts.seq);
    if (opts.topic !== undefined) expect(dl.topic).toBe(opts.topic);
    expect(listObjectKeys(stack.objectsDb)).toEqual(opts.keepFiles ?? []);
    expect(await stack.index.countPending()).toBe(0);
    expect(await stack.index.maxSeq('dev-1')).toBeUndefined();
    expect(await stack.index.maxSeq('dev-2')).toBeUndefined();
    return dl;
  }

  describe('inline records', () => {
    it('stores a record: exact envelope bytes under its record hash, one index entry, a stored ack', async () => {
      const r = dev.seal();
      const res = await publishRecord(r.envelope);
      expect(res.outcome).toEqual({ status: 'stored', recordId: 'dev-1.0', seq: 0 });
      expect(res.replies).toEqual([
        { kind: 'ack', deviceId: 'dev-1', entry: { seq: 0, status: 'stored', recordId: 'dev-1.0' } },
      ]);
      const key = recordObjectKey('dev-1', toHex(r.recordHash));
      expect(listObjectKeys(stack.objectsDb)).toEqual([key]);
      expectBytes(await stack.objects.get(key), r.envelope);
      expect(await stack.index.getRecord('dev-1', 0)).toEqual({
        recordId: 'dev-1.0',
        deviceId: 'dev-1',
        seq: 0,
        timestamp: r.timestamp,
        receivedAt: clock.now(),
        recordHash: toHex(r.recordHash),
        prevHash: toHex(ZERO_HASH),
        ciphertextHash: toHex(r.header.ciphertextHash),
        ciphertextLength: r.header.ciphertextLength,
        envelopeSize: r.envelope.length,
        header: toBase64(r.headerBytes),
        objectKey: key,
        via: 'inline',
      });
      expect(await stack.index.countPending()).toBe(1);
      expect(await deadLetters()).toEqual([]);
    });

    it('a redelivery is a duplicate: acked again, nothing rewritten, first receivedAt kept', async () => {
      const r = dev.seal();
      await publishRecord(r.envelope);
      const first = await stack.index.getRecord('dev-1', 0);
      clock.advance(5000);
      const res = await publishRecord(r.envelope);
      expect(res.outcome).toEqual({ status: 'duplicate', recordId: 'dev-1.0', seq: 0 });
      expect(res.replies).toEqual([
        { kind: 'ack', deviceId: 'dev-1', entry: { seq: 0, status: 'duplicate', recordId: 'dev-1.0' } },
      ]);
      expect(await stack.index.getRecord('dev-1', 0)).toEqual(first);
      expect(listObjectKeys(stack.objectsDb)).toHaveLength(1);
      expect(await deadLetters()).toEqual([]);
    });

    it('ingestEnvelope called directly stores, then reports a duplicate, for uploads too', async () => {
      const r = dev.seal();
      expect(await ingestEnvelope(deps, { deviceId: 'dev-1', bytes: r.envelope, via: 'upload' })).toEqual({
        status: 'stored',
        recordId: 'dev-1.0',
        seq: 0,
      });
      expect(await ingestEnvelope(deps, { deviceId: 'dev-1', bytes: r.envelope, via: 'inline' })).toEqual({
        status: 'duplicate',
        recordId: 'dev-1.0',
        seq: 0,
      });
      expect((await stack.index.getRecord('dev-1', 0))?.via).toBe('upload');
    });

    it('stores a chain of records with their links', async () => {
      const rs = [dev.seal(), dev.seal(), dev.seal()];
      for (const r of rs)
        expect((await publishRecord(r.envelope)).outcome).toMatchObject({ status: 'stored' });
      const stored = await stack.index.listBySeq('dev-1', { fromSeq: 0, toSeq: 10, limit: 10 });
      expect(stored.map((e) => e.prevHash)).toEqual([
        toHex(ZERO_HASH),
        toHex(rs[0]?.recordHash as Uint8Array),
        toHex(rs[1]?.recordHash as Uint8Array),
      ]);
    });

    it('racing deliveries of one seq: one record stored, the same bytes acked as duplicates, others refused', async () => {
      const real = dev.seal({ seq: 0 });
      const forged = dev.seal({ seq: 0, plaintext: utf8('forged') });
      const results = await Promise.all([
        publishRecord(real.envelope),
        publishRecord(forged.envelope),
        publishRecord(real.envelope),
        publishRecord(forged.envelope),
      ]);
      const statuses = results.map((r) => r.outcome.status);
      expect(statuses.filter((s) => s === 'stored')).toHaveLength(1);
      const winner = statuses.indexOf('stored') % 2 === 0 ? real : forged;
      expect(await stack.index.getRecord('dev-1', 0)).toMatchObject({ recordHash: toHex(winner.recordHash) });
      // The loser's bytes, written before it lost the conditional put, are cleaned up again.
      expect(listObjectKeys(stack.objectsDb)).toEqual([recordObjectKey('dev-1', toHex(winner.recordHash))]);
      for (const [i, r] of results.entries()) {
        const mine = i % 2 === 0 ? real : forged;
        if (mine === winner) expect(['stored', 'duplicate']).toContain(r.outcome.status);
        else expect(r.outcome).toMatchObject({ status: 'rejected', code: 'sequence-replayed' });
      }
      expect((await deadLetters()).map((d) => d.code)).toEqual(['sequence-replayed', 'sequence-replayed']);
    });

    it('a different record under a stored seq is a replay: refused, the original untouched', async () => {
      const original = dev.seal();
      await publishRecord(original.envelope);
      const before = await stack.index.getRecord('dev-1', 0);
      const replay = dev.seal({ seq: 0, plaintext: utf8('{"temp":99}') });
      const res = await publishRecord(replay.envelope);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'sequence-replayed', seq: 0 });
      expect(res.replies[0]).toMatchObject({
        kind: 'ack',
        entry: { seq: 0, status: 'rejected', code: 'sequence-replayed' },
      });
      expect(await stack.index.getRecord('dev-1', 0)).toEqual(before);
      expect(listObjectKeys(stack.objectsDb)).toEqual([recordObjectKey('dev-1', toHex(original.recordHash))]);
      const dls = await deadLetters();
      expect(dls).toHaveLength(1);
      expect(dls[0]).toMatchObject({ code: 'sequence-replayed', deviceId: 'dev-1', seq: 0, source: 'mqtt' });
      expect(dls[0]?.payloadSha256).toBe(toHex(sha256(replay.envelope)));
    });

    it('refuses an envelope sealed for another device than the topic names', async () => {
      const other = new TestDevice('dev-2').seal();
      const res = await publishRecord(other.envelope, 'dev-1');
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'device-mismatch', seq: 0 });
      await expectRefusedCleanly('device-mismatch', other.envelope, {
        deviceId: 'dev-1',
        topic: 'devices/dev-1/records',
      });
    });

    it('refuses a timestamp further ahead of the backend clock than the allowed skew', async () => {
      const ok = dev.seal({ seq: 0, timestamp: clock.now() + MAX_SKEW });
      const ahead = dev.seal({ seq: 1, timestamp: clock.now() + MAX_SKEW + 1 });
      const res = await publishRecord(ahead.envelope);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'timestamp-in-future', seq: 1 });
      await expectRefusedCleanly('timestamp-in-future', ahead.envelope, { deviceId: 'dev-1', seq: 1 });
      expect((await publishRecord(ok.envelope)).outcome).toMatchObject({ status: 'stored' });
    });

    it('refuses an envelope whose ciphertext does not match the sealed hash', async () => {
      const r = dev.seal();
      const bad = flipByte(r.envelope, r.envelope.length - 1);
      const res = await publishRecord(bad);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'ciphertext-hash-mismatch', seq: 0 });
      await expectRefusedCleanly('ciphertext-hash-mismatch', bad, { deviceId: 'dev-1', seq: 0 });
    });

    it.each([
      ['a wrong magic', 'bad-magic', (e: Uint8Array) => flipByte(e, 0)],
      [
        'version 3',
        'unsupported-version',
        (e: Uint8Array) => Uint8Array.from(e, (b, i) => (i === 4 ? 3 : b)),
      ],
      ['a cut header', 'envelope-truncated', (e: Uint8Array) => e.subarray(0, 40)],
      ['a trailing byte', 'length-mismatch', (e: Uint8Array) => Uint8Array.from([...e, 0])],
      ['no bytes at all', 'envelope-truncated', () => new Uint8Array(0)],
    ])('refuses a malformed envelope (%s): %s', async (_label, code, mutate) => {
      const bad = mutate(dev.seal().envelope);
      const res = await publishRecord(bad);
      expect(res.outcome).toMatchObject({ status: 'rejected', code });
      expect(res.replies[0]).toMatchObject({ kind: 'ack', entry: { status: 'rejected', code } });
      await expectRefusedCleanly(code, bad, { deviceId: 'dev-1' });
    });

    it('refuses a payload larger than the topic allows, keeping a truncated copy', async () => {
      const big = new Uint8Array(MQTT_MAX_MESSAGE_BYTES + 1).fill(0x49);
      const res = await publishRecord(big);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'payload-too-large' });
      const dl = await expectRefusedCleanly('payload-too-large', big, { deviceId: 'dev-1' });
      expect(dl.truncated).toBe(true);
      expect(fromBase64(dl.payload)).toHaveLength(DEAD_LETTER_PAYLOAD_LIMIT);
    });

    it('drops a message on a topic with no route', async () => {
      const payload = utf8('hello');
      const res = await publish('devices/dev-1/telemetry', payload);
      expect(res.outcome).toMatchObject({ status: 'dropped', code: 'unknown-topic' });
      expect(res.replies).toEqual([]);
      await expectRefusedCleanly('unknown-topic', payload, { topic: 'devices/dev-1/telemetry' });
    });
  });

  describe('JSON messages', () => {
    it('refuses malformed JSON on the manifest topic', async () => {
      const payload = utf8('{"v":1,"seq":');
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'malformed-json' });
      expect(res.replies[0]).toMatchObject({
        kind: 'ack',
        entry: { status: 'rejected', code: 'malformed-json' },
      });
      await expectRefusedCleanly('malformed-json', payload, { deviceId: 'dev-1' });
    });

    it('refuses invalid UTF-8 as malformed JSON', async () => {
      const payload = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
      const res = await publish('devices/dev-1/uploads/request', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'malformed-json' });
      await expectRefusedCleanly('malformed-json', payload, { deviceId: 'dev-1' });
    });

    it.each([
      ['bad sha256', { v: 1, seq: 3, sha256: 'zz', size: 10 }],
      ['unknown field', { v: 1, seq: 3, sha256: 'a'.repeat(64), size: 10, extra: true }],
      ['missing size', { v: 1, seq: 3, sha256: 'a'.repeat(64) }],
      ['wrong version', { v: 2, seq: 3, sha256: 'a'.repeat(64), size: 10 }],
    ])('refuses a schema-invalid manifest (%s) and keeps the seq it could read', async (_name, body) => {
      const payload = json(body);
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'schema-invalid', seq: 3 });
      await expectRefusedCleanly('schema-invalid', payload, { deviceId: 'dev-1', seq: 3 });
    });

    it('answers a schema-invalid upload request with a grant error', async () => {
      const payload = json({ v: 1, seq: 2, sha256: 'A'.repeat(64), size: 10 });
      const res = await publish('devices/dev-1/uploads/request', payload);
      expect(res.replies).toEqual([
        {
          kind: 'grant',
          deviceId: 'dev-1',
          message: { v: 1, seq: 2, error: { code: 'schema-invalid', reason: expect.any(String) } },
        },
      ]);
      await expectRefusedCleanly('schema-invalid', payload, { deviceId: 'dev-1', seq: 2 });
    });

    it('refuses a JSON payload over the topic limit', async () => {
      const payload = json({ v: 1, seq: 1, sha256: 'a'.repeat(64), size: 10, pad: 'x'.repeat(5000) });
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'payload-too-large' });
      await expectRefusedCleanly('payload-too-large', payload, { deviceId: 'dev-1' });
    });
  });

  describe('upload flow', () => {
    /** Upload request, PUT to the granted URL, manifest: as the device stub does it. */
    async function upload(envelope: Uint8Array, seq: number): Promise<string> {
      const sha = toHex(sha256(envelope));
      const res = await publish(
        'devices/dev-1/uploads/request',
        json({ v: 1, seq, sha256: sha, size: envelope.length }),
      );
      expect(res.outcome).toEqual({ status: 'granted', seq });
      const reply = res.replies[0];
      if (reply?.kind !== 'grant' || !('url' in reply.message)) throw new Error('no grant');
      expect(reply.message).toMatchObject({ v: 1, seq, sha256: sha, method: 'PUT' });
      const put = await fetch(reply.message.url, {
        method: 'PUT',
        headers: reply.message.headers,
        body: envelope,
      });
      expect(put.status).toBe(201);
      return sha;
    }

    it('request, PUT and manifest store the record via upload and drop the staged copy', async () => {
      const r = dev.seal({ plaintext: new Uint8Array(200 * 1024).fill(7) });
      const sha = await upload(r.envelope, 0);
      expectBytes(await stack.objects.get(uploadObjectKey('dev-1', sha)), r.envelope);
      const res = await publish(
        'devices/dev-1/manifests',
        json({ v: 1, seq: 0, sha256: sha, size: r.envelope.length }),
      );
      expect(res.outcome).toEqual({ status: 'stored', recordId: 'dev-1.0', seq: 0 });
      expect(res.replies).toEqual([
        { kind: 'ack', deviceId: 'dev-1', entry: { seq: 0, status: 'stored', recordId: 'dev-1.0' } },
      ]);
      const key = recordObjectKey('dev-1', toHex(r.recordHash));
      expect(listObjectKeys(stack.objectsDb)).toEqual([key]);
      expectBytes(await stack.objects.get(key), r.envelope);
      expect(await stack.index.getRecord('dev-1', 0)).toMatchObject({
        via: 'upload',
        envelopeSize: r.envelope.length,
      });
      expect(await deadLetters()).toEqual([]);
    });

    it('refuses an upload request over the packet limit without granting anything', async () => {
      const payload = json({ v: 1, seq: 0, sha256: 'b'.repeat(64), size: 512 * 1024 + 1 });
      const res = await publish('devices/dev-1/uploads/request', payload);
      expect(res.replies[0]).toMatchObject({
        kind: 'grant',
        message: { error: { code: 'packet-too-large' } },
      });
      await expectRefusedCleanly('packet-too-large', payload, { deviceId: 'dev-1', seq: 0 });
    });

    it('refuses a manifest for bytes that were never uploaded: upload-not-found', async () => {
      const r = dev.seal();
      const payload = json({ v: 1, seq: 0, sha256: toHex(sha256(r.envelope)), size: r.envelope.length });
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'upload-not-found', seq: 0 });
      await expectRefusedCleanly('upload-not-found', payload, { deviceId: 'dev-1', seq: 0 });
    });

    it('refuses a manifest whose size differs from the upload: upload-mismatch, nothing ingested', async () => {
      const r = dev.seal();
      const sha = await upload(r.envelope, 0);
      const payload = json({ v: 1, seq: 0, sha256: sha, size: r.envelope.length + 1 });
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'upload-mismatch', seq: 0 });
      // The staged upload stays where the device put it (it may send a corrected manifest); nothing else.
      await expectRefusedCleanly('upload-mismatch', payload, {
        deviceId: 'dev-1',
        seq: 0,
        keepFiles: [uploadObjectKey('dev-1', sha)],
      });
    });

    it('refuses a manifest whose seq differs from the uploaded envelope: upload-mismatch, nothing ingested', async () => {
      const r = dev.seal();
      const sha = await upload(r.envelope, 0);
      const payload = json({ v: 1, seq: 5, sha256: sha, size: r.envelope.length });
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'upload-mismatch', seq: 5 });
      await expectRefusedCleanly('upload-mismatch', payload, {
        deviceId: 'dev-1',
        seq: 5,
        keepFiles: [uploadObjectKey('dev-1', sha)],
      });
    });

    it('an uploaded envelope that fails ingest checks is refused with the envelope code', async () => {
      const r = dev.seal({ timestamp: clock.now() + MAX_SKEW + 1000 });
      const sha = await upload(r.envelope, 0);
      const payload = json({ v: 1, seq: 0, sha256: sha, size: r.envelope.length });
      const res = await publish('devices/dev-1/manifests', payload);
      expect(res.outcome).toMatchObject({ status: 'rejected', code: 'timestamp-in-future', seq: 0 });
      await expectRefusedCleanly('timestamp-in-future', payload, {
        deviceId: 'dev-1',
        seq: 0,
        keepFiles: [uploadObjectKey('dev-1', sha)],
      });
    });

    it('the upload endpoint refuses other bytes than granted and keeps a dead letter', async () => {
      const r = dev.seal();
      const sha = toHex(sha256(r.envelope));
      const res = await publish(
        'devices/dev-1/uploads/request',
        json({ v: 1, seq: 0, sha256: sha, size: r.envelope.length }),
      );
      const reply = res.replies[0];
      if (reply?.kind !== 'grant' || !('url' in reply.message)) throw new Error('no grant');
      const bad = flipByte(r.envelope, 100);
      const put = await fetch(reply.message.url, {
        method: 'PUT',
        headers: reply.message.headers,
        body: bad,
      });
      expect(put.status).toBe(400);
      expect(await put.json()).toMatchObject({ error: { code: 'upload-checksum-mismatch' } });
      clock.advance(1);
      const tampered = new URL(reply.message.url);
      tampered.searchParams.set('size', String(r.envelope.length + 1));
      const forged = await fetch(tampered, {
        method: 'PUT',
        headers: reply.message.headers,
        body: r.envelope,
      });
      expect(forged.status).toBe(403);
      const dls = await deadLetters();
      expect(dls.map((d) => [d.source, d.code, d.deviceId])).toEqual([
        ['upload', 'upload-signature-invalid', 'dev-1'],
        ['upload', 'upload-checksum-mismatch', 'dev-1'],
      ]);
      expect(listObjectKeys(stack.objectsDb)).toEqual([]);
    });
  });
});
