import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, isBase64, isHex, toBase64, toHex } from '../../lib/core/bytes.js';

const FIVE_MB = 5 * 1024 * 1024;

/**
 * The patterns the checks used to be. They define the accepted language, so on short strings (where V8 can
 * still run them) the loops must agree with them exactly.
 */
const HEX_PATTERN = /^(?:[0-9a-f]{2})*$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

describe('strict hex and base64 on attacker-sized input', () => {
  it('decodes 5 MB of base64 and refuses 5 MB of non-base64, without overflowing the stack', () => {
    const bytes = new Uint8Array(Math.floor((FIVE_MB * 3) / 4)).fill(0xa5);
    const b64 = toBase64(bytes);
    expect(b64.length).toBeGreaterThanOrEqual(FIVE_MB - 4);
    expect(fromBase64(b64)).toEqual(bytes);
    expect(fromBase64(`${'A'.repeat(FIVE_MB)}!`)).toBeUndefined();
    expect(fromBase64('A'.repeat(FIVE_MB + 1))).toBeUndefined();
    expect(isBase64(`${'A'.repeat(FIVE_MB - 4)}AA==`)).toBe(true);
  });

  it('decodes 5 MB of hex and refuses 5 MB with one uppercase digit at the end', () => {
    const bytes = new Uint8Array(FIVE_MB / 2).fill(0x5a);
    expect(fromHex(toHex(bytes))).toEqual(bytes);
    expect(fromHex(`${'a'.repeat(FIVE_MB)}A0`)).toBeUndefined();
  });

  it('accepts exactly what the former patterns accepted (base64)', () => {
    const alphabet = fc.constantFrom(...'AZaz09+/=-_ !\n'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 14 }), (chars) => {
        const s = chars.join('');
        expect(isBase64(s)).toBe(BASE64_PATTERN.test(s));
      }),
      { numRuns: 5000 },
    );
    for (const s of ['', 'AA==', 'AAA=', 'AAAA', '=AAA', 'A===', '====', 'AA=A', 'AAAAA===', 'AA==AAAA'])
      expect(isBase64(s), s).toBe(BASE64_PATTERN.test(s));
  });

  it('accepts exactly what the former patterns accepted (hex)', () => {
    const alphabet = fc.constantFrom(...'09afAFgx '.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 9 }), (chars) => {
        const s = chars.join('');
        expect(isHex(s)).toBe(HEX_PATTERN.test(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(fromBase64(toBase64(b))).toEqual(b);
        expect(fromHex(toHex(b))).toEqual(b);
      }),
    );
  });
});
