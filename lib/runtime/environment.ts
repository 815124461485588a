/**
 * The one module that reads `process.env`. Each configuration build takes one frozen snapshot of it and parses
 * that per area with that area's zod schema: the embedded runtime (config.ts), the Lambda
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

/**
 * The process's environment now, as a frozen copy: one configuration build reads every area from the same
 * snapshot, so no setting can change halfway through it. Not cached across builds: a Lambda container whose
 * build failed (a setting missing) builds again on its next invocation, and must then see the environment as
 * it is (tests/aws/lambda-handlers.test.ts).
 */
export function processEnvironment(): Environment {
  return Object.freeze({ ...process.env });
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
