/**
 * Ingest of record packs (lib/ingest/ingest-pack.ts, docs/topics.md) over the real local adapters, the real
 * key-state cache and the real worker-thread verifier: one object per pack, one ack message per pack whose
 * stored records collapse into a range, each record readable alone, and refusals as a whole or one by one.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { AckMessage } from '../../lib/core/device-messages.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import { sha256 } from '../../lib/core/hash.js';
import { encodeRecordPack } from '../../lib/core/record-pack.js';
import { provisionDevice } from '../../lib/devices/provision-device.js';
import { DeviceGate } from '../../lib/ingest/device-gate.js';
import { DeviceKeyCache } from '../../lib/ingest/device-key-cache.js';
import {
  type DeviceMessageDeps,
  encodeReplies,
  handleDeviceMessage,
} from '../../lib/ingest/device-message.js';
import { createVerifierPool, type SignatureVerifier } from '../../lib/ingest/signature-verifier.js';
import { packObjectKey, readRecordEnvelope } from '../../lib/record-object.js';
import { expectBytes } from '../support/bytes.js';
import { type LocalStack, openLocalStack } from '../support/local-stack.js';
import { listObjectKeys } from '../support/object-db.js';
import { TestDevice, testClock } from '../support/test-device.js';

let verifier: SignatureVerifier;
beforeAll(() => {
  verifier = createVerifierPool({ threads: 1 });
});
afterAll(async () => {
  await verifier.close();
});

describe('record packs', () => {
  let stack: LocalStack;
  let clock: ReturnType<typeof testClock>;
  let deps: DeviceMessageDeps;
  let key: SigningKey;
  let dev: TestDevice;

  beforeEach(async () => {
    clock = testClock();
    stack = await openLocalStack({ clock: clock.now });
    const cache = new DeviceKeyCache(stack.index, { maxAgeMs: Number.POSITIVE_INFINITY, clock: clock.now });
    deps = {
      objects: stack.objects,
      index: stack.index,
      devices: cache.watch(stack.index),
      statements: stack.statements,
      origin: { keys: cache, verifier, gate: new DeviceGate(clock.now) },
      clock: clock.now,
      limits: { maxClockSkewMs: 60_000, maxPacketBytes: 512 * 1024, uploadTtlSeconds: 300 },
    };
    key = generateSigningKey('ed25519');
    for (const deviceId of ['dev-p', 'dev-q'])
      await provisionDevice(
        { devices: deps.devices, statements: stack.statements, clock: clock.now, vault: stack.vault },
        {
          deviceId,
          masterKey: toBase64(new Uint8Array(32).fill(3)),
          actor: 'test',
          signingKey: { alg: key.alg, publicKey: key.publicKey },
        },
      );
    dev = new TestDevice('dev-p', undefined, signerOf(key));
  });
  afterEach(async () => {
    await stack.close();
  });

  const publishPack = (pack: Uint8Array, deviceId = 'dev-p') =>
    handleDeviceMessage(deps, { topic: `devices/${deviceId}/packs`, payload: pack });
  const ackMessages = (replies: Awaited<ReturnType<typeof publishPack>>['replies']) =>
    encodeReplies(replies).map((m) => ({ topic: m.topic, body: AckMessage.parse(JSON.parse(m.payload)) }));
  const deadLetters = async () => (await stack.index.listDeadLetters({ limit: 100 })).items;

  it('stores a full pack as one object, answers with one ack message of one range entry', async () => {
    const sealed = Array.from({ length: 64 }, () => dev.seal());
    const pack = encodeRecordPack(sealed.map((r) => r.envelope));
    const res = await publishPack(pack);
    const msgs = ackMessages(res.replies);
    expect(msgs).toEqual([
      { topic: 'devices/dev-p/acks', body: { v: 1, acks: [{ seq: 0, toSeq: 63, status: 'stored' }] } },
    ]);
    const object = new Uint8Array(Buffer.concat(sealed.map((r) => r.envelope)));
    const objectKey = packObjectKey('dev-p', toHex(sha256(object)));
    expect(listObjectKeys(stack.objectsDb)).toEqual([objectKey]);
    let offset = 0;
    for (const r of sealed) {
      const entry = await stack.index.getRecord('dev-p', r.seq);
      expect(entry).toMatchObject({
        objectKey,
        objectRange: { offset, length: r.envelope.length },
        envelopeSize: r.envelope.length,
        recordHash: toHex(r.recordHash),
        via: 'inline',
      });
      offset += r.envelope.length;
      expectBytes(await readRecordEnvelope(stack.objects, entry as NonNullable<typeof entry>), r.envelope);
      // A pin job knows the key and the record hash only: it finds the envelope in the pack object.
      expectBytes(
        await readRecordEnvelope(stack.objects, { objectKey, recordHash: toHex(r.recordHash) }),
        r.envelope,
      );
    }
    expect(await stack.index.countPending()).toBe(64);
    expect(await deadLetters()).toEqual([]);
  });

  it('a replayed pack is answered duplicate for every record, and stores nothing more', async () => {
    const pack = encodeRecordPack(Array.from({ length: 5 }, () => dev.seal().envelope));
    await publishPack(pack);
    const keys = listObjectKeys(stack.objectsDb);
    const res = await publishPack(pack);
    expect(ackMessages(res.replies)[0]?.body.acks).toEqual([{ seq: 0, toSeq: 4, status: 'duplicate' }]);
    expect(listObjectKeys(stack.objectsDb)).toEqual(keys);
  });

  it('one bad signature: that record refused and dead-lettered alone, the others stored', async () => {
    const other = generateSigningKey('ed25519');
    const records = [dev.seal(), dev.seal(), dev.seal({ signer: signerOf(other) }), dev.seal()];
    // The third was sealed with another key but named as the device's: a forged signature under its key id.
    const forged = records[2]?.envelope.slice() as Uint8Array;
    const goodKeyId = records[0]?.header.signature?.keyId as Uint8Array;
    forged.set(goodKeyId, 7 + 5 + 16 + 32 + 1);
    const envs = [records[0], records[1], { envelope: forged }, records[3]].map(
      (r) => r?.envelope as Uint8Array,
    );
    const res = await publishPack(encodeRecordPack(envs));
    expect(ackMessages(res.replies)[0]?.body.acks).toEqual([
      { seq: 0, toSeq: 1, status: 'stored' },
      { seq: 2, status: 'rejected', code: 'signature-invalid' },
      { seq: 3, toSeq: 3, status: 'stored' },
    ]);
    const dls = await deadLetters();
    expect(dls.map((d) => [d.code, d.seq, d.payloadSha256])).toEqual([
      ['signature-invalid', 2, toHex(sha256(forged))],
    ]);
    expect(await stack.index.getRecord('dev-p', 2)).toBeUndefined();
    for (const seq of [0, 1, 3]) {
      const e = await stack.index.getRecord('dev-p', seq);
      expectBytes(
        await readRecordEnvelope(stack.objects, e as NonNullable<typeof e>),
        envs[seq] as Uint8Array,
      );
    }
  });

  it('a pack published on another device topic is refused as a whole: nothing stored, one dead letter', async () => {
    const pack = encodeRecordPack([dev.seal().envelope, dev.seal().envelope]);
    const res = await publishPack(pack, 'dev-q');
    expect(ackMessages(res.replies)).toEqual([
      {
        topic: 'devices/dev-q/acks',
        body: {
          v: 1,
          acks: [
            {
              kind: 'pack',
              sha256: toHex(sha256(pack)),
              status: 'rejected',
              code: 'pack-device-mismatch',
              reason: expect.stringContaining('is for device dev-p, published by dev-q'),
            },
          ],
        },
      },
    ]);
    expect((await deadLetters()).map((d) => [d.code, d.deviceId, d.payloadSize])).toEqual([
      ['pack-device-mismatch', 'dev-q', pack.length],
    ]);
    expect(listObjectKeys(stack.objectsDb)).toEqual([]);
    expect(await stack.index.countPending()).toBe(0);
  });

  it('a malformed pack stores nothing and is dead-lettered', async () => {
    const pack = encodeRecordPack([dev.seal().envelope]);
    const res = await publishPack(pack.subarray(0, pack.length - 1));
    expect(res.outcome).toMatchObject({ status: 'rejected', code: 'pack-truncated' });
    expect((await deadLetters()).map((d) => d.code)).toEqual(['pack-truncated']);
    expect(listObjectKeys(stack.objectsDb)).toEqual([]);
  });

  it('a pack mixing stored and new records: the stored answer duplicate, the new stored, one object', async () => {
    const first = [dev.seal(), dev.seal()];
    await publishPack(encodeRecordPack(first.map((r) => r.envelope)));
    const more = [dev.seal(), dev.seal()];
    const res = await publishPack(encodeRecordPack([...first, ...more].map((r) => r.envelope)));
    expect(ackMessages(res.replies)[0]?.body.acks).toEqual([
      { seq: 0, toSeq: 1, status: 'duplicate' },
      { seq: 2, toSeq: 3, status: 'stored' },
    ]);
    // Only the newly accepted envelopes go into the second object.
    const e2 = await stack.index.getRecord('dev-p', 2);
    expect(e2?.objectRange).toEqual({ offset: 0, length: more[0]?.envelope.length });
    expect(listObjectKeys(stack.objectsDb)).toHaveLength(2);
  });

  it('the ack to a full 128 KiB pack of stored records is one entry, far under the 5 KB IoT metering unit', async () => {
    // A 128 KiB pack of the smallest records (about 380 of them) all stored: one entry.
    const small = new Uint8Array(1);
    const sealed: Uint8Array[] = [];
    let size = 7;
    for (;;) {
      const r = dev.seal({ plaintext: small });
      if (size + 4 + r.envelope.length > 128 * 1024) break;
      size += 4 + r.envelope.length;
      sealed.push(r.envelope);
    }
    const res = await publishPack(encodeRecordPack(sealed));
    const [msg] = encodeReplies(res.replies);
    expect(msg?.payload.length).toBeLessThan(5 * 1024);
    expect(JSON.parse(msg?.payload ?? '')).toEqual({
      v: 1,
      acks: [{ seq: 0, toSeq: sealed.length - 1, status: 'stored' }],
    });
  });
});
