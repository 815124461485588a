/**
 * The frame-header scanner in front of aedes (lib/runtime/mqtt-frame-guard.ts), on bytes encoded by
 * mqtt-packet (the encoder mqtt.js uses), fed whole and cut at arbitrary points.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import {
  FrameHeaderScanner,
  type FrameLimits,
  MQTT_MAX_CONNECT_BYTES,
  MQTT_MAX_FRAME_BYTES,
} from '../../lib/runtime/mqtt-frame-guard.js';

const LIMITS: FrameLimits = { connectMaxBytes: MQTT_MAX_CONNECT_BYTES, frameMaxBytes: MQTT_MAX_FRAME_BYTES };

const connect = (password = 'x'.repeat(43)) =>
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: 'dev-1',
    keepalive: 60,
    username: 'dev-1',
    password: Buffer.from(password),
  });
const publish = (payloadBytes: number, topic = 'devices/dev-1/records') =>
  mqttPacket.generate({
    cmd: 'publish',
    topic,
    payload: Buffer.alloc(payloadBytes, 1),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
  });
const ping = () => mqttPacket.generate({ cmd: 'pingreq' });

function feedInPieces(bytes: Buffer, cuts: number[]) {
  const scanner = new FrameHeaderScanner(LIMITS);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, bytes.length]) {
    const refusal = scanner.feed(bytes.subarray(from, p));
    if (refusal) return { refusal, frames: scanner.framesSeen() };
    from = p;
  }
  return { refusal: undefined, frames: scanner.framesSeen() };
}

describe('FrameHeaderScanner', () => {
  it('is 132096 bytes after CONNECT: the largest route (128 KiB) plus the PUBLISH fields', () => {
    expect(MQTT_MAX_FRAME_BYTES).toBe(131072 + 1024);
  });

  it('lets a session of legal frames through, however the bytes are cut', () => {
    // The largest payload a device topic takes, on the longest device topic.
    const longTopic = `devices/${'d'.repeat(64)}/uploads/request`;
    const session = Buffer.concat([connect(), publish(131072, longTopic), ping(), publish(10), publish(0)]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        expect(feedInPieces(session, cuts)).toEqual({ refusal: undefined, frames: 5 });
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a PUBLISH one byte over the limit, and takes one exactly at it', () => {
    const overhead = publish(0).length - 2; // fixed header of a small frame is 2 bytes
    const at = publish(MQTT_MAX_FRAME_BYTES - overhead);
    const scannerAt = new FrameHeaderScanner(LIMITS);
    expect(scannerAt.feed(Buffer.concat([connect(), at]))).toBeUndefined();
    const over = publish(MQTT_MAX_FRAME_BYTES - overhead + 1);
    expect(new FrameHeaderScanner(LIMITS).feed(Buffer.concat([connect(), over]))).toMatchObject({
      code: 'frame-too-large',
      packetType: 3,
      declaredBytes: MQTT_MAX_FRAME_BYTES + 1,
      limit: MQTT_MAX_FRAME_BYTES,
      reason: "PUBLISH frame of 132097 bytes exceeds the broker's 132096-byte frame limit",
    });
  });

  it('refuses a CONNECT declaring 268 MB as soon as its second length byte arrives', () => {
    const scanner = new FrameHeaderScanner(LIMITS);
    expect(scanner.feed(Buffer.from([0x10, 0xff]))).toBeUndefined();
    // 127 + 127·128 so far, and more bytes to come: at least 32,767, over the 8 KiB CONNECT limit.
    expect(scanner.feed(Buffer.from([0xff]))).toMatchObject({
      code: 'frame-too-large',
      packetType: 1,
      declaredBytes: 32767,
      limit: MQTT_MAX_CONNECT_BYTES,
      reason: "CONNECT frame of at least 32767 bytes exceeds the broker's 8192-byte CONNECT limit",
    });
    // The refusal is final.
    expect(scanner.feed(connect())).toMatchObject({ code: 'frame-too-large' });
  });

  it('refuses a CONNECT over 8 KiB (a will message the size of a record)', () => {
    const big = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'dev-1',
      keepalive: 60,
      will: { topic: 'devices/dev-1/records', payload: Buffer.alloc(9000), qos: 1, retain: false },
    });
    expect(new FrameHeaderScanner(LIMITS).feed(big)).toMatchObject({
      code: 'frame-too-large',
      packetType: 1,
    });
  });

  it('refuses any first frame that is not CONNECT', () => {
    expect(new FrameHeaderScanner(LIMITS).feed(publish(10))).toMatchObject({
      code: 'connect-expected',
      packetType: 3,
    });
    expect(new FrameHeaderScanner(LIMITS).feed(Buffer.from('GET / HTTP/1.1\r\n'))).toMatchObject({
      code: 'connect-expected',
    });
  });

  it('refuses a remaining length longer than four bytes', () => {
    const limits = { connectMaxBytes: Number.MAX_SAFE_INTEGER, frameMaxBytes: Number.MAX_SAFE_INTEGER };
    expect(
      new FrameHeaderScanner(limits).feed(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01])),
    ).toMatchObject({ code: 'malformed-length' });
  });
});
