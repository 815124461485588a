/**
 * lib/runtime/environment.ts: the one reader of process.env. One build reads one snapshot; a build after a
 * failed one (a Lambda container retrying) sees the environment as it is then. Each area's schema parses a plain record, with the shared wording for
 * failures, and the Lambda areas treat an empty variable as unset.
 */

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEnvironment, processEnvironment } from '../../lib/runtime/environment.js';

describe('the environment module', () => {
  it('gives each build a frozen snapshot: a later change is not seen by it, but by the next build', () => {
    const name = `IOTN_ENV_TEST_${process.pid}`;
    process.env[name] = 'first';
    const env = processEnvironment();
    process.env[name] = 'second';
    try {
      expect(env[name]).toBe('first');
      expect(Object.isFrozen(env)).toBe(true);
      expect(processEnvironment()[name]).toBe('second');
    } finally {
      delete process.env[name];
    }
  });

  it('parses an area with its schema, and words a failure as VARIABLE: problem', () => {
    const Area = z.object({ A_PORT: z.coerce.number().int().min(0).max(65535).default(80) });
    expect(parseEnvironment(Area, {})).toEqual({ ok: true, data: { A_PORT: 80 } });
    expect(parseEnvironment(Area, { A_PORT: '70000' })).toEqual({
      ok: false,
      message: 'A_PORT: Too big: expected number to be <=65535',
    });
    // Embedded areas keep an empty variable (and refuse it as a number); Lambda areas treat it as unset.
    expect(parseEnvironment(Area, { A_PORT: '' }, { emptyIsUnset: true })).toEqual({
      ok: true,
      data: { A_PORT: 80 },
    });
  });
});
