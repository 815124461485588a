/**
 * Page cursors, shared by the index adapters: the last item's sort position as base64url JSON. Callers treat
 * them as opaque, but a cursor comes back from outside (a query parameter), so decoding is strict. Anything
 * this format could not have produced is refused with `invalid-cursor` (400), never read as "no cursor": a
 * client with a garbled cursor would otherwise get page one again and loop, or believe it had seen it all.
 */
import { NotaryError } from './errors.js';

/** `int`: a non-negative safe integer (times, sequence numbers); `string`: any string (ids). */
export type CursorField = 'int' | 'string';
export type CursorValues<S extends readonly CursorField[]> = {
  -readonly [K in keyof S]: S[K] extends 'int' ? number : string;
};

/** Longest cursor accepted; docs/api.md promises callers no cursor is longer. */
export const MAX_CURSOR_LENGTH = 512;

export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function isBase64UrlCode(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x5f
  );
}

/** Undefined for no cursor; the position for a well-formed one; throws `invalid-cursor` otherwise. */
export function decodeCursor<const S extends readonly CursorField[]>(
  cursor: string | undefined,
  shape: S,
): CursorValues<S> | undefined {
  if (cursor === undefined) return undefined;
  const refuse = (why: string): never => {
    throw new NotaryError(
      'invalid-cursor',
      `cursor is not one this list issued (${why}); start again without it`,
    );
  };
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH)
    refuse(`length must be 1-${MAX_CURSOR_LENGTH}`);
  // Buffer's base64url decoder skips characters outside the alphabet; checked here so none slips through.
  for (let i = 0; i < cursor.length; i++) if (!isBase64UrlCode(cursor.charCodeAt(i))) refuse('not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return refuse('not JSON');
  }
  if (!Array.isArray(value) || value.length !== shape.length) return refuse('wrong shape');
  shape.forEach((kind, i) => {
    const v: unknown = value[i];
    const ok = kind === 'int' ? Number.isSafeInteger(v) && (v as number) >= 0 : typeof v === 'string';
    if (!ok) refuse('wrong shape');
  });
  return value as CursorValues<S>;
}
