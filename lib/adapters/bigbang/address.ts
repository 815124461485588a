/**
 * BigBang addresses: a one-character prefix ('1' pubkey, '2' template) and the base32 text of
 * 32 bytes of key or template id followed by their CRC-24Q (3 bytes), with the alphabet
 * 0123456789abcdefghjkmnpqrstvwxyz. 57 characters in all.
 *
 * The adapter checks its configured addresses with this before it spends anything, so a typo is a
 * configuration error at start-up rather than a refused transaction later. The stand-in mints addresses
 * with it. Pure.
 */

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i] as const));
export const ADDRESS_LENGTH = 57;

export type AddressKind = 'pubkey' | 'template';

/** CRC-24Q (polynomial 0x864CFB, initial value 0, no reflection), as BigBang's address checksum. */
export function crc24q(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

function base32Decode(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of text) {
    const v = INDEX.get(c);
    if (v === undefined) return undefined;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 0xff);
    }
    acc &= (1 << bits) - 1;
  }
  return new Uint8Array(out);
}

export function encodeAddress(kind: AddressKind, body: Uint8Array): string {
  if (body.length !== 32) throw new RangeError('address body must be 32 bytes');
  const crc = crc24q(body);
  const full = new Uint8Array(35);
  full.set(body);
  full.set([(crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], 32);
  return (kind === 'pubkey' ? '1' : '2') + base32Encode(full);
}

export function decodeAddress(address: string): { kind: AddressKind; body: Uint8Array } | undefined {
  if (address.length !== ADDRESS_LENGTH) return undefined;
  const kind: AddressKind | undefined =
    address[0] === '1' ? 'pubkey' : address[0] === '2' ? 'template' : undefined;
  const full = kind ? base32Decode(address.slice(1)) : undefined;
  if (!kind || full?.length !== 35) return undefined;
  const body = full.slice(0, 32);
  const crc = crc24q(body);
  if (full[32] !== ((crc >>> 16) & 0xff) || full[33] !== ((crc >>> 8) & 0xff) || full[34] !== (crc & 0xff)) {
    return undefined;
  }
  return { kind, body };
}

export function isAddress(address: string): boolean {
  return decodeAddress(address) !== undefined;
}

/**
 * The key of a pubkey address as the node prints it (listkey, unlockkey, signmessage): the address's 32 bytes
 * in reverse order, as BigBang shows a uint256. rpc.json's own examples agree three times (the key
 * 2e05c9ee…e882 and its address 1gbma6s2…, getpubkeyaddress and importpubkey). Undefined for a template
 * address or one that does not decode.
 */
export function pubkeyHexOfAddress(address: string): string | undefined {
  const d = decodeAddress(address);
  if (d?.kind !== 'pubkey') return undefined;
  return Buffer.from(d.body).reverse().toString('hex');
}
