/**
 * A size limit on every MQTT frame, enforced on the bytes before aedes parses them. aedes (1.2) and its parser
 * mqtt-packet (9) have no maximum packet size (aedes issue #831): they buffer a frame until its declared
 * remaining length has arrived, so a CONNECT declaring 268 MB is held in memory before any login check. The
 * guard reads each frame's fixed header as the bytes pass (it never copies or holds them) and closes the
 * connection at the first frame declaring more than the limit, before its body is read.
 *
 * Limits apply to the remaining length (everything after the 2-5 byte fixed header). The first frame must
 * be a CONNECT no longer than `connectMaxBytes` (MQTT-3.1.0-1: nothing else may come first); every later
 * frame may be up to `frameMaxBytes`, derived from the routing table's largest route.
 */

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { DEVICE_ROUTES } from '../routing/routes.js';

/** Room for a PUBLISH's own fields around the payload: topic length (2), topic (≤ 88 for device topics), packet id (2). */
export const MQTT_FRAME_OVERHEAD_BYTES = 1024;

/** Largest remaining length after CONNECT: the largest route's payload plus the PUBLISH fields (132096). */
export const MQTT_MAX_FRAME_BYTES =
  Math.max(...DEVICE_ROUTES.map((r) => r.maxBytes)) + MQTT_FRAME_OVERHEAD_BYTES;

/**
 * Largest CONNECT: client id and username (64 bytes each), a password, and room for a will message of a
 * manifest's size. Far below the frame limit, so an unauthenticated socket can make the broker hold little.
 */
export const MQTT_MAX_CONNECT_BYTES = 8 * 1024;

export interface FrameLimits {
  connectMaxBytes: number;
  frameMaxBytes: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  connectMaxBytes: MQTT_MAX_CONNECT_BYTES,
  frameMaxBytes: MQTT_MAX_FRAME_BYTES,
};

export type FrameRefusalCode = 'connect-expected' | 'frame-too-large' | 'malformed-length';

export interface FrameRefusal {
  code: FrameRefusalCode;
  /** MQTT control packet type (1 CONNECT, 3 PUBLISH, …). */
  packetType: number;
  /** The remaining length the frame declares, or the least it can still declare once it is over the limit. */
  declaredBytes: number;
  limit: number;
  reason: string;
}

const PACKET_NAMES = [
  'reserved',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
];

/**
 * Follows frame boundaries through a byte stream by reading only fixed headers: type byte, then the
 * remaining length (1-4 bytes, 7 bits each, least significant first), then it skips that many bytes.
 * Pure state over the bytes it is fed; the first refusal is final.
 */
export class FrameHeaderScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private frames = 0;
  private packetType = 0;
  private length = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;
  private refusal: FrameRefusal | undefined;

  constructor(private readonly limits: FrameLimits) {}

  /** Reads the headers in `chunk`; returns the refusal if a frame is not allowed. */
  feed(chunk: Uint8Array): FrameRefusal | undefined {
    if (this.refusal) return this.refusal;
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skip = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= skip;
        i += skip;
        if (this.bodyLeft === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++] as number;
      if (this.state === 'type') {
        this.packetType = byte >> 4;
        if (this.frames === 0 && this.packetType !== 1)
          return this.refuse('connect-expected', 0, 0, 'the first frame must be CONNECT');
        this.length = 0;
        this.lengthBytes = 0;
        this.state = 'length';
        continue;
      }
      // state === 'length'
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes++;
      const more = (byte & 0x80) !== 0;
      const limit = this.frames === 0 ? this.limits.connectMaxBytes : this.limits.frameMaxBytes;
      // Refuse as early as the length is known to exceed the limit, without waiting for its last byte.
      const atLeast = more ? this.length + 128 ** this.lengthBytes : this.length;
      if (atLeast > limit) return this.refuse('frame-too-large', atLeast, limit);
      if (more && this.lengthBytes === 4)
        return this.refuse('malformed-length', atLeast, limit, 'remaining length longer than 4 bytes');
      if (more) continue;
      this.frames++;
      this.bodyLeft = this.length;
      this.state = this.length === 0 ? 'type' : 'body';
    }
    return undefined;
  }

  /** Frames whose header has been read completely. */
  framesSeen(): number {
    return this.frames;
  }

  private refuse(code: FrameRefusalCode, declared: number, limit: number, reason?: string): FrameRefusal {
    const name = PACKET_NAMES[this.packetType] ?? 'unknown';
    this.refusal = {
      code,
      packetType: this.packetType,
      declaredBytes: declared,
      limit,
      reason:
        reason ??
        `${name} frame of ${declared === this.length ? '' : 'at least '}${declared} bytes exceeds the broker's ${limit}-byte ${this.frames === 0 ? 'CONNECT' : 'frame'} limit`,
    };
    return this.refusal;
  }
}

/**
 * What aedes reads from and writes to instead of the socket itself: the socket's bytes pass through
 * unchanged (no copy) once the scanner has read their headers, and a refused frame destroys the socket
 * before its body is read. Backpressure carries through in both directions: when aedes stops reading, the
 * socket is paused, so the kernel's window, not memory, holds what a client sends.
 */
export class GuardedConnection extends Duplex {
  /** The device this connection authenticated as, once it has; set by the broker. */
  deviceId: string | undefined;

  constructor(
    readonly socket: Socket,
    /** What the listener it arrived on accepts as a device's credential. */
    readonly credential: 'password' | 'certificate',
    limits: FrameLimits,
    onRefuse: (refusal: FrameRefusal, conn: GuardedConnection) => void,
  ) {
    super({ allowHalfOpen: false });
    const scanner = new FrameHeaderScanner(limits);
    socket.on('data', (chunk: Buffer) => {
      const refusal = scanner.feed(chunk);
      if (refusal) {
        onRefuse(refusal, this);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.once('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) done();
    else this.socket.once('drain', () => done());
  }

  // mqtt-packet corks the stream around each packet: its pieces go to the socket in one write.
  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const c of chunks) ok = this.socket.write(c.chunk);
    this.socket.uncork();
    if (ok) done();
    else this.socket.once('drain', () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(() => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}
