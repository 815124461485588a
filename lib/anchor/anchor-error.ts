/**
 * The anchoring domain's errors (docs/architecture.md, "Error model"). They reach the operator through the
 * anchor cycle's report and log, and `npm run fsck`; the codes say which kind of trouble without parsing text.
 */
import { CodedError } from '../core/errors.js';

export type AnchorErrorCode =
  /** A batch, or something a batch names (its leaves list, a member record's envelope), is not in the store. */
  | 'batch-missing'
  /** A batch or its leaves list does not have the shape it must (malformed root, leaf hash or member id). */
  | 'batch-malformed'
  /** Concurrent writers kept changing the batch: the bounded compare-and-set retries ran out. */
  | 'anchor-contended'
  /** A second run of a single-flight job was started in the same process while one runs. */
  | 'run-in-progress'
  /** The lease was taken over (or never held): the holder must stop writing (LeaseLostError). */
  | 'lease-lost';

export class AnchorError extends CodedError<AnchorErrorCode> {
  override readonly name: string = 'AnchorError';
}
