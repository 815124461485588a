/**
 * lib/runtime/environment.ts: the one reader of process.env. Configuration is decided once: a variable changed
 * after the first read is not seen. Each area's schema parses a plain record, with the shared wording for
 * failures, and the Lambda areas treat an empty variable as unset.
 */

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEnvironment, processEnvironment } from '../../lib/runtime/environment.js';

describe('the environment module', () => {
  it('reads process.env once: later changes are not seen, and the snapshot cannot be changed', () => {
    const name = `IOTN_ENV_TEST_${process.pid}`;
    process.env[name] = 'first';
    const env = processEnvironment();
    process.env[name] = 'second';
    try {
      expect(processEnvironment()[name]).toBe('first');
      expect(processEnvironment()).toBe(env);
      expect(Object.isFrozen(env)).toBe(true);
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
