import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundaryOf, MultipartError, parseMultipart } from '../../lib/adapters/ipfs/multipart.js';

const BOUNDARY = '-----------------------------b0und4ry';

function encode(
  parts: { field: string; filename?: string; body: Uint8Array }[],
  boundary = BOUNDARY,
): Buffer {
  const out: Buffer[] = [Buffer.from('preamble to ignore\r\n')];
  for (const p of parts) {
    const fn = p.filename === undefined ? '' : `; filename="${encodeURIComponent(p.filename)}"`;
    out.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"${fn}\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.from(p.body),
      Buffer.from('\r\n'),
    );
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

/** The bytes as a stream cut at the given offsets. */
async function* cutAt(bytes: Buffer, cuts: number[]): AsyncGenerator<Uint8Array> {
  let prev = 0;
  for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (c <= prev || c >= bytes.length) continue;
    yield bytes.subarray(prev, c);
    prev = c;
  }
  yield bytes.subarray(prev);
}

async function collect(source: AsyncIterable<Uint8Array>, boundary = BOUNDARY) {
  const out: { field: string; filename?: string; body: Buffer }[] = [];
  for await (const part of parseMultipart(source, boundary)) {
    const chunks: Uint8Array[] = [];
    for await (const c of part.body) chunks.push(c);
    out.push({
      field: part.field,
      ...(part.filename === undefined ? {} : { filename: part.filename }),
      body: Buffer.concat(chunks),
    });
  }
  return out;
}

/**
 * Bodies full of near-misses: CRLF, dashes and prefixes of the delimiter. A sender must pick a boundary its
 * content does not contain (RFC 2046 §5.1.1), so bodies holding the whole delimiter are left out.
 */
const DELIMITER = Buffer.from(`\r\n--${BOUNDARY}`);
const trickyBody = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(
        Buffer.from('\r\n'),
        Buffer.from('\r\n--'),
        Buffer.from(`\r\n--${BOUNDARY.slice(0, 20)}`),
        Buffer.from(`--${BOUNDARY}`),
        Buffer.from('\r\n\r\n'),
      ),
    ),
    { maxLength: 12 },
  )
  .map((parts) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p)))))
  .filter((b) => !Buffer.from(b).includes(DELIMITER));

describe('multipart reader', () => {
  it('round-trips any parts however the stream is cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            field: fc.constantFrom('file', 'file-1', 'file-2?mode=0644'),
            filename: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
            body: trickyBody,
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.array(fc.nat({ max: 2000 }), { maxLength: 20 }),
        async (parts, cuts) => {
          const got = await collect(cutAt(encode(parts), cuts));
          expect(got).toEqual(
            parts.map((p) => ({
              field: p.field.split('?')[0],
              ...(p.filename === undefined ? {} : { filename: p.filename }),
              body: Buffer.from(p.body),
            })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('one byte at a time', async () => {
    const bytes = encode([{ field: 'file', body: new Uint8Array(Buffer.from('a\r\n--b\r\n')) }]);
    const cuts = Array.from({ length: bytes.length }, (_, i) => i);
    expect((await collect(cutAt(bytes, cuts)))[0]?.body.toString()).toBe('a\r\n--b\r\n');
  });

  it('skips a body the consumer left unread or half read', async () => {
    const bytes = encode([
      { field: 'file', body: new Uint8Array(5000).fill(1) },
      { field: 'file-1', body: new Uint8Array(Buffer.from('second')) },
    ]);
    const seen: string[] = [];
    for await (const part of parseMultipart(cutAt(bytes, [100, 200, 3000]), BOUNDARY)) {
      if (part.field === 'file') {
        for await (const _ of part.body) break;
        continue;
      }
      const chunks: Uint8Array[] = [];
      for await (const c of part.body) chunks.push(c);
      seen.push(Buffer.concat(chunks).toString());
    }
    expect(seen).toEqual(['second']);
  });

  it('fails on truncated input instead of returning a short body', async () => {
    const whole = encode([{ field: 'file', body: new Uint8Array(1000).fill(7) }]);
    for (const cut of [10, 150, 900, whole.length - 5]) {
      await expect(collect(cutAt(whole.subarray(0, cut), []))).rejects.toBeInstanceOf(MultipartError);
    }
  });

  it('refuses oversized part headers', async () => {
    const bytes = Buffer.from(`--${BOUNDARY}\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\nbody\r\n--${BOUNDARY}--`);
    await expect(collect(cutAt(bytes, [1000, 20_000]))).rejects.toThrow(/too long/);
  });

  it('reads the boundary from the content type', () => {
    expect(boundaryOf(`multipart/form-data; boundary=${BOUNDARY}`)).toBe(BOUNDARY);
    expect(boundaryOf('multipart/form-data; charset=utf-8; boundary="quoted b"')).toBe('quoted b');
    expect(boundaryOf('multipart/form-data')).toBeUndefined();
    expect(boundaryOf('text/plain; boundary=x')).toBeUndefined();
    expect(boundaryOf(undefined)).toBeUndefined();
    expect(boundaryOf(`multipart/form-data; boundary=${'x'.repeat(71)}`)).toBeUndefined();
  });
});
