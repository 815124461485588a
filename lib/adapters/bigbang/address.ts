/**
 * BigBang addresses: a one-character prefix ('1' pubkey, '2' template) and the base32 text of
 * 32 bytes of key or template id followed by their CRC-24Q (3 bytes), with the alphabet
 * 0123456789abcdefghjkmnpqrstvwxyz. 57 characters in all.
 *
 * The adapter checks its configured addresses with this before it spends anything, so a typo is a
 * configuration error at start-up rather than a refused transaction later. The stand-in mints addresses
 * with it. Pure.
 */
import { utils } from '@scure/base';

/**
 * BigBang's base32: 5 bits per character, most significant first, no padding (35 bytes are exactly 56
 * characters), over its own alphabet. @scure/base does the bit work; the alphabet is BigBang's.
 */
const base32 = utils.chain(
  utils.radix2(5),
  utils.alphabet('0123456789abcdefghjkmnpqrstvwxyz'),
  utils.join(''),
);

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

/** The bytes of BigBang base32 text; undefined for a character outside the alphabet. */
function base32Decode(text: string): Uint8Array | undefined {
  try {
    return base32.decode(text);
  } catch {
    return undefined;
  }
}

export function encodeAddress(kind: AddressKind, body: Uint8Array): string {
  // Programming errors throw RangeError in this file (bodies are 32-byte keys or hashes).
  if (body.length !== 32) throw new RangeError('address body must be 32 bytes');
  const crc = crc24q(body);
  const full = new Uint8Array(35);
  full.set(body);
  full.set([(crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], 32);
  return (kind === 'pubkey' ? '1' : '2') + base32.encode(full);
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
