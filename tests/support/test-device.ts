import { randomBytes } from 'node:crypto';
import { toBase64 } from '../../lib/core/bytes.js';
import type { DigestSigner } from '../../lib/core/device-signature.js';
import { type SealedRecord, sealRecord, ZERO_HASH } from '../../lib/core/envelope.js';
import { deriveRecordKey, MASTER_KEY_BYTES } from '../../lib/core/record-key.js';

/**
 * A device as the stub runs it, minus the network: one master key, a sequence counter and the hash chain.
 * Each `seal` produces the next record in order; options break the rules on purpose.
 */
export class TestDevice {
  readonly masterKey: Uint8Array;
  nextSeq = 0;
  prevHash: Uint8Array = ZERO_HASH;

  /** Its signing key: with one, `seal` makes v2 (signed) envelopes. */
  signer: DigestSigner | undefined;

  constructor(
    readonly deviceId: string,
    masterKey?: Uint8Array,
    signer?: DigestSigner,
  ) {
    this.signer = signer;
    this.masterKey = masterKey ?? new Uint8Array(randomBytes(MASTER_KEY_BYTES));
  }

  get masterKeyBase64(): string {
    return toBase64(this.masterKey);
  }

  seal(
    opts: {
      plaintext?: Uint8Array;
      timestamp?: number;
      /** Seal at this seq without moving the counter or the chain (replays, forgeries). */
      seq?: number;
      prevHash?: Uint8Array;
      /** Seal as another device id with this device's key. */
      asDeviceId?: string;
      /** Sign with this key instead of the device's own; `null`: seal an unsigned (v1) envelope. */
      signer?: DigestSigner | null;
    } = {},
  ): SealedRecord & { seq: number; timestamp: number; plaintext: Uint8Array } {
    const seq = opts.seq ?? this.nextSeq;
    const timestamp = opts.timestamp ?? 1_700_000_000_000 + seq * 1000;
    const deviceId = opts.asDeviceId ?? this.deviceId;
    const signer = opts.signer === null ? undefined : (opts.signer ?? this.signer);
    const plaintext =
      opts.plaintext ?? new TextEncoder().encode(JSON.stringify({ seq, temp: 20 + (seq % 7) }));
    const sealed = sealRecord({
      recordKey: deriveRecordKey(this.masterKey, deviceId, timestamp, seq),
      deviceId,
      seq,
      timestamp,
      prevHash: opts.prevHash ?? this.prevHash,
      nonce: new Uint8Array(randomBytes(12)),
      plaintext,
      ...(signer ? { signer } : {}),
    });
    if (opts.seq === undefined && opts.asDeviceId === undefined) {
      this.nextSeq = seq + 1;
      this.prevHash = sealed.recordHash;
    }
    return { ...sealed, seq, timestamp, plaintext };
  }
}

/** A fixed backend clock well after the test devices' timestamps; `advance` moves it on. */
export function testClock(start = 1_700_100_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}
