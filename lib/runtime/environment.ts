/**
 * The one module that reads `process.env`. It takes one frozen snapshot, the first time a configuration is
 * asked for, and parses it per area with that area's zod schema: the embedded runtime (config.ts), the Lambda
 * runtime (aws.ts), chains (chain-config.ts) and IPFS (ipfs-config.ts) each declare their variables and
 * defaults beside the code that uses them and read them through `parseEnvironment`, so a variable is named in
 * one schema, a failure reads the same everywhere (`VARIABLE: problem; …`, lib/core/zod-issues.ts), and a test
 * passes its own record instead of touching `process.env`. The README's configuration table lists every
 * variable.
 */
import type { z } from 'zod';
import { describeZod } from '../core/zod-issues.js';

/** Variables by name; what the area readers take, so tests can pass a plain record. */
export type Environment = Readonly<Record<string, string | undefined>>;

let snapshot: Environment | undefined;

/**
 * The process's environment, read once. Later changes to `process.env` are not seen: configuration is decided
 * at startup (or at a Lambda container's cold start), never halfway through.
 */
export function processEnvironment(): Environment {
  snapshot ??= Object.freeze({ ...process.env });
  return snapshot;
}

export type EnvironmentParse<T> = { ok: true; data: T } | { ok: false; message: string };

/**
 * One area's variables, parsed. `emptyIsUnset` drops variables set to '' first: the Lambda runtime's choice,
 * since deploy tools write unset settings as empty strings; the embedded runtime keeps them, and its schemas
 * then refuse an empty number as they always have.
 */
export function parseEnvironment<S extends z.ZodType>(
  schema: S,
  env: Environment,
  opts: { emptyIsUnset?: boolean } = {},
): EnvironmentParse<z.infer<S>> {
  const input = opts.emptyIsUnset ? Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')) : env;
  const r = schema.safeParse(input);
  return r.success ? { ok: true, data: r.data } : { ok: false, message: describeZod(r.error) };
}
