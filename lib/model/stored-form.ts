/**
 * Decoding what an index adapter read back into a domain value. Each adapter maps its storage shape (SQLite
 * columns, DynamoDB attributes) to the entity's stored form, a flat object named as the DynamoDB items are,
 * and decodes it with the one schema of the entity (record.ts, batch.ts, …), so the rules of reading a row
 * (defaults for fields added later, what is lenient and what is an error) are written once for every adapter.
 */
import { z } from 'zod';
import { describeZod } from '../core/zod-issues.js';

/**
 * `schema`'s output for `stored`. A stored form the schema refuses means the row was written by something
 * else, so it is an error, never a default: `fail` makes it, so each adapter keeps the error type its callers
 * know (TypeError for SQLite rows, ItemShapeError for DynamoDB items).
 */
export function decodeStored<T>(schema: z.ZodType<T>, stored: unknown, fail: (message: string) => Error): T {
  const r = schema.safeParse(stored);
  if (!r.success) throw fail(`stored ${describeStoredKind(schema)} is malformed: ${describeZod(r.error)}`);
  return r.data;
}

const describeStoredKind = (schema: z.ZodType): string => schema.description ?? 'entry';

/** A field stored as JSON text (both stores keep nested lists that way), parsed and then checked by `inner`. */
export function jsonText<S extends z.ZodType>(inner: S) {
  return z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(inner);
}

/** An optional field: SQLite reads a missing one as NULL, DynamoDB leaves the attribute out. */
export const absent = <T>(v: T | null | undefined): v is null | undefined => v === null || v === undefined;
