/**
 * The anchor function's edge: run one cycle and log what it did. The embedded scheduler calls it every
 * ANCHOR_INTERVAL_MS; in AWS an SST Cron does.
 */
import { type AnchorDeps, type AnchorReport, anchorPending } from '../../lib/anchor/anchor-pending.js';
import type { Logger } from '../../lib/logger.js';

export function createAnchorHandler(deps: Omit<AnchorDeps, 'onChainError'> & { log: Logger }) {
  return async (): Promise<AnchorReport> => {
    const report = await anchorPending({
      ...deps,
      onChainError: ({ batchId, chainId, error }) =>
        deps.log.error('anchor submission failed; batch stays queued for the next cycle', {
          batchId,
          chainId,
          err: error,
        }),
    });
    if (report.batch || report.resumed.length > 0) {
      deps.log.info('anchor cycle', {
        batchId: report.batch?.batchId,
        records: report.batch?.size ?? 0,
        root: report.batch?.root,
        resumed: report.resumed,
        anchors: report.anchors.map((a) => `${a.chainId}:${a.txId.slice(0, 16)}`),
        failures: report.failures.length,
      });
    }
    return report;
  };
}
