/**
 * The browser verifier page (web/, docs/web-verifier.md) as the API serves it at GET /verify: the one file
 * `npm run build:web` writes, read once at startup. Its Content-Security-Policy travels inside the page (a
 * meta element, so it also holds when the file is opened from disk); the API sends the same policy as a
 * header, plus `frame-ancestors`, which only a header can carry.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VERIFIER_PAGE_PATH = join(import.meta.dirname, '..', '..', 'web', 'dist', 'verify.html');

export interface VerifierPage {
  html: string;
  csp: string;
}

const META_CSP = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/;

/** The page and its header policy; undefined when the file is absent (not built) or carries no policy. */
export function loadVerifierPage(
  path = VERIFIER_PAGE_PATH,
): { ok: true; page: VerifierPage } | { ok: false; reason: string } {
  let html: string;
  try {
    html = readFileSync(path, 'utf8');
  } catch (err) {
    return {
      ok: false,
      reason: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}): run npm run build:web`,
    };
  }
  const csp = META_CSP.exec(html)?.[1];
  if (!csp)
    return {
      ok: false,
      reason: `${path} carries no Content-Security-Policy: rebuild it with npm run build:web`,
    };
  return { ok: true, page: { html, csp: `${csp}; frame-ancestors 'none'` } };
}
