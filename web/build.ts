/**
 * Builds the browser verifier (docs/web-verifier.md): web/src/verify.ts and web/src/verify.css bundled by
 * esbuild and inlined into web/verify.html, giving one self-contained file, web/dist/verify.html, that works
 * opened from file:// with no network and is what the API serves at GET /verify.
 *
 *   npm run build:web
 *
 * lib/core runs in the page unchanged, except that every lib/core module with a `.browser.ts` sibling is
 * replaced by that sibling (crypto-primitives.ts and byte-codec.ts: node:crypto and Buffer on the server,
 * pure JS in the browser). The build fails if anything from node: would still reach the page.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

export const WEB_DIR = import.meta.dirname;
export const REPO_DIR = join(WEB_DIR, '..');
const CORE_DIR = join(REPO_DIR, 'lib', 'core');
export const PAGE_PATH = join(WEB_DIR, 'dist', 'verify.html');

/**
 * `./x.js` imported from lib/core resolves to `./x.browser.ts` when that file exists. A plugin rather than
 * esbuild's `alias`, which maps package names only, not relative paths.
 */
export const browserVariants: Plugin = {
  name: 'lib-core-browser-variants',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (resolve(args.resolveDir) !== CORE_DIR) return undefined;
      const variant = join(args.resolveDir, args.path.replace(/\.js$/, '.browser.ts'));
      return existsSync(variant) ? { path: variant } : undefined;
    });
  },
};

/** Refuses node built-ins in a browser bundle, naming the importer, instead of leaving a runtime failure. */
const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `${args.importer} imports ${args.path}, which does not exist in a browser` }],
    }));
  },
};

/** Bundles browser code (an entry file) to one IIFE or ESM string with the lib/core browser variants. */
export async function bundleForBrowser(
  entry: { file: string } | { contents: string },
  format: 'iife' | 'esm',
  minify: boolean,
): Promise<string> {
  const result = await build({
    ...('file' in entry
      ? { entryPoints: [entry.file] }
      : { stdin: { contents: entry.contents, resolveDir: REPO_DIR, loader: 'ts' } }),
    bundle: true,
    write: false,
    format,
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [noNodeBuiltins, browserVariants],
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output');
  return out.text;
}

const sha256Base64 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64');

export interface BuiltPage {
  html: string;
  /** The Content-Security-Policy the page carries in a meta element; the API also sends it as a header. */
  csp: string;
}

/**
 * The policy of the page: nothing but its own inline script and style (by hash), images only as data: URLs
 * (none today), no network at all, no framing, no forms posting anywhere.
 */
export function pagePolicy(scriptHash: string, styleHash: string, forHeader: boolean): string {
  return [
    "default-src 'none'",
    `script-src 'sha256-${scriptHash}'`,
    `style-src 'sha256-${styleHash}'`,
    'img-src data:',
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    // Ignored in a meta element (and reported as such by browsers), so only in the header.
    ...(forHeader ? ["frame-ancestors 'none'"] : []),
  ].join('; ');
}

/** Builds the page in memory: the template with its script and style inlined. */
export async function buildVerifierPage(): Promise<BuiltPage> {
  const script = await bundleForBrowser({ file: join(WEB_DIR, 'src', 'verify.ts') }, 'iife', true);
  const css = await build({
    entryPoints: [join(WEB_DIR, 'src', 'verify.css')],
    bundle: true,
    write: false,
    minify: true,
    logLevel: 'silent',
  });
  const style = css.outputFiles[0]?.text ?? '';
  // esbuild escapes "</script" inside strings; anything else closing the element would cut the page short.
  if (/<\/script/i.test(script) || /<\/style/i.test(style))
    throw new Error('the bundle contains a closing </script> or </style> tag; it cannot be inlined');
  const template = readFileSync(join(WEB_DIR, 'verify.html'), 'utf8');
  const scriptHash = sha256Base64(script);
  const styleHash = sha256Base64(style);
  const slots: Record<string, string> = {
    '<!--csp-->': `<meta http-equiv="Content-Security-Policy" content="${pagePolicy(scriptHash, styleHash, false)}">`,
    '<!--style-->': `<style>${style}</style>`,
    '<!--script-->': `<script>${script}</script>`,
  };
  let html = template;
  for (const [slot, value] of Object.entries(slots)) {
    if (html.split(slot).length !== 2) throw new Error(`web/verify.html must hold ${slot} exactly once`);
    // A function, so that `$&` and friends in the bundle are not read as replacement patterns.
    html = html.replace(slot, () => value);
  }
  return { html, csp: pagePolicy(scriptHash, styleHash, true) };
}

/** Builds the page and writes web/dist/verify.html; returns where. */
export async function writeVerifierPage(path = PAGE_PATH): Promise<BuiltPage & { path: string }> {
  const page = await buildVerifierPage();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, page.html);
  return { ...page, path };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const page = await writeVerifierPage();
  console.log(`wrote ${page.path} (${Buffer.byteLength(page.html)} bytes)`);
}
