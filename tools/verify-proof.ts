/**
 * `npm run verify-proof`: the installable verifier (verifier/, `iot-notary-verify`) run from the repository,
 * the same code, not a copy. Usage and exit codes are in verifier/src/cli.ts and docs/proof-bundle.md §5.
 */
import { pathToFileURL } from 'node:url';
import { runVerifier } from '../verifier/src/cli.js';

export { EXIT, type Io, runVerifier, runVerifyProof, USAGE } from '../verifier/src/cli.js';

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runVerifier(process.argv.slice(2));
}
