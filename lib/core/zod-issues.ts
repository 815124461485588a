/**
 * One wording for a failed zod parse, wherever it is reported: API answers, device refusals, Lambda edges,
 * configuration errors, the verifier's usage errors. Each issue reads `path: message` (`(root)` when the whole
 * value is wrong), joined with `; `, so operators see the same shape whatever refused their input.
 */
import type { z } from 'zod';

export function describeZod(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
