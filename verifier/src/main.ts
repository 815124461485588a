/** The `iot-notary-verify` bin: the command of cli.ts over the process's arguments and streams. */
import { runVerifier } from './cli.js';

process.exitCode = await runVerifier(process.argv.slice(2));
