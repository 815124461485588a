/**
 * `npm start`: the whole system on one machine. Ctrl-C (SIGINT) or SIGTERM stops it cleanly; a second
 * signal exits at once (still safe: nothing acknowledged depends on a clean stop).
 */

import { createLogger } from '../logger.js';
import { ConfigError, configFromEnv } from './config.js';
import { startEmbedded } from './embedded.js';
import { EXIT_REFUSED, StartupRefusal } from './startup-refusal.js';

async function main(): Promise<void> {
  // Whatever this process creates (SQLite files, the IPFS repo, temp files) is its owner's alone, in any
  // DATA_DIR; files that already exist are chmod-ed where they are opened (lib/adapters/local/private-files.ts).
  process.umask(0o077);
  let config: ReturnType<typeof configFromEnv>;
  try {
    config = configFromEnv();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`iot-notary: bad configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger({ level: config.logLevel });
  let rt: Awaited<ReturnType<typeof startEmbedded>>;
  try {
    rt = await startEmbedded(config, log);
  } catch (e) {
    if (e instanceof StartupRefusal) {
      log.error('refusing to start', { code: e.code, reason: e.message, runbook: e.runbook });
      process.stderr.write(`iot-notary refused to start (${e.code}): ${e.message}\n`);
      process.exit(EXIT_REFUSED);
    }
    throw e;
  }
  const mqttUrls = [
    ...(rt.mqttPort === undefined ? [] : [`mqtt://${config.host}:${rt.mqttPort}`]),
    ...(rt.mqttsPort === undefined ? [] : [`mqtts://${config.host}:${rt.mqttsPort}`]),
  ];
  log.info('iot-notary is running', {
    mqtt: mqttUrls,
    http: rt.baseUrl,
    dataDir: config.dataDir,
    operatorToken: rt.operatorTokenPath,
    anchorIntervalMs: config.anchorIntervalMs,
    chain: rt.ledger.chainId,
  });
  process.stderr.write(
    `\niot-notary ready\n${mqttUrls.map((u) => `  MQTT  ${u}\n`).join('')}  HTTP  ${rt.baseUrl}\n  token ${rt.operatorTokenPath}\n` +
      `  next: npm run device -- --devices 20 --records 50\n\n`,
  );

  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) {
      log.warn('second signal, exiting now', { signal: sig });
      process.exit(130);
    }
    stopping = true;
    log.info('stopping', { signal: sig });
    rt.stop().then(
      () => {
        log.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        log.error('error while stopping', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`iot-notary failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
