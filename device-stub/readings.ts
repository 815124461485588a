/**
 * Deterministic sensor readings: the same seed, device and seq always give the same plaintext, so a run can
 * be reproduced and a decrypted record compared with what the stub would have sent.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** A small seeded PRNG (mulberry32). Good for test data; not for keys. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(parts: string): number {
  const h = sha256(new TextEncoder().encode(parts));
  return new DataView(h.buffer, h.byteOffset, 4).getUint32(0);
}

/**
 * A packet of readings as JSON, about `targetBytes` long: as many samples as fit, one per second before
 * `timestamp`. The packet is what gets encrypted into one record.
 */
export function readingsPacket(
  seed: number,
  deviceId: string,
  seq: number,
  timestamp: number,
  targetBytes: number,
): Uint8Array {
  const rand = prng(seedOf(`${seed}/${deviceId}/${seq}`));
  const head = `{"deviceId":"${deviceId}","seq":${seq},"samples":[`;
  const parts: string[] = [];
  let len = head.length + 2;
  for (let i = 0; ; i++) {
    const s = JSON.stringify({
      t: timestamp - i * 1000,
      temperature: Math.round((18 + rand() * 8) * 100) / 100,
      humidity: Math.round((35 + rand() * 30) * 10) / 10,
    });
    if (i > 0 && len + s.length + 1 > targetBytes) break;
    parts.push(s);
    len += s.length + 1;
  }
  return new TextEncoder().encode(`${head}${parts.join(',')}]}`);
}

/** The stub's stand-in for a key burnt in at the factory: derived from the run's seed and the device id. */
export function simulatedMasterKey(seed: number, deviceId: string): Uint8Array {
  return hkdf(
    sha256,
    new TextEncoder().encode(`iot-notary device-stub seed ${seed}`),
    new TextEncoder().encode(deviceId),
    new TextEncoder().encode('master-key'),
    32,
  );
}
