/**
 * The whole IndexStore (and DeviceKeyRegistry) from one adapter of each sub-port, for the composition roots
 * and the use cases that take the index whole. Every method hands the call to its sub-port unchanged; the
 * adapters themselves are the per-sub-port files (lib/adapters/local/sqlite-*.ts, lib/adapters/aws/dynamo-*.ts).
 */
import type {
  AuditLog,
  BatchStore,
  DeadLetterStore,
  DeviceKeyRegistry,
  DeviceRegistry,
  IndexStore,
  RecordIndex,
} from '../ports.js';

export interface IndexStoreParts {
  readonly records: RecordIndex;
  readonly batches: BatchStore;
  readonly devices: DeviceRegistry & DeviceKeyRegistry;
  readonly deadLetters: DeadLetterStore;
  readonly audit: AuditLog;
}

type Args<P, K extends keyof P> = P[K] extends (...a: infer A) => unknown ? A : never;

export class CompositeIndexStore implements IndexStore, DeviceKeyRegistry, IndexStoreParts {
  readonly records: RecordIndex;
  readonly batches: BatchStore;
  readonly devices: DeviceRegistry & DeviceKeyRegistry;
  readonly deadLetters: DeadLetterStore;
  readonly audit: AuditLog;

  /** `close` releases what the parts share (a database file, nothing for a shared client). */
  constructor(
    parts: IndexStoreParts,
    private readonly closeParts: () => Promise<void>,
  ) {
    this.records = parts.records;
    this.batches = parts.batches;
    this.devices = parts.devices;
    this.deadLetters = parts.deadLetters;
    this.audit = parts.audit;
  }

  // records
  putRecord(...a: Args<RecordIndex, 'putRecord'>) {
    return this.records.putRecord(...a);
  }
  getRecord(...a: Args<RecordIndex, 'getRecord'>) {
    return this.records.getRecord(...a);
  }
  listByTime(...a: Args<RecordIndex, 'listByTime'>) {
    return this.records.listByTime(...a);
  }
  recordInForceAt(...a: Args<RecordIndex, 'recordInForceAt'>) {
    return this.records.recordInForceAt(...a);
  }
  listBySeq(...a: Args<RecordIndex, 'listBySeq'>) {
    return this.records.listBySeq(...a);
  }
  maxSeq(...a: Args<RecordIndex, 'maxSeq'>) {
    return this.records.maxSeq(...a);
  }
  listPending(...a: Args<RecordIndex, 'listPending'>) {
    return this.records.listPending(...a);
  }
  countPending() {
    return this.records.countPending();
  }
  assignToBatch(...a: Args<RecordIndex, 'assignToBatch'>) {
    return this.records.assignToBatch(...a);
  }
  setIpfsCid(...a: Args<RecordIndex, 'setIpfsCid'>) {
    return this.records.setIpfsCid(...a);
  }

  // batches
  putBatch(...a: Args<BatchStore, 'putBatch'>) {
    return this.batches.putBatch(...a);
  }
  getBatch(...a: Args<BatchStore, 'getBatch'>) {
    return this.batches.getBatch(...a);
  }
  getBatchVersioned(...a: Args<BatchStore, 'getBatchVersioned'>) {
    return this.batches.getBatchVersioned(...a);
  }
  compareAndSetAnchors(...a: Args<BatchStore, 'compareAndSetAnchors'>) {
    return this.batches.compareAndSetAnchors(...a);
  }
  listUnanchored() {
    return this.batches.listUnanchored();
  }
  listBatches(...a: Args<BatchStore, 'listBatches'>) {
    return this.batches.listBatches(...a);
  }
  listAnchorsDue(...a: Args<BatchStore, 'listAnchorsDue'>) {
    return this.batches.listAnchorsDue(...a);
  }

  // devices
  createDevice(...a: Args<DeviceRegistry, 'createDevice'>) {
    return this.devices.createDevice(...a);
  }
  getDevice(...a: Args<DeviceRegistry, 'getDevice'>) {
    return this.devices.getDevice(...a);
  }
  setCredentialHash(...a: Args<DeviceRegistry, 'setCredentialHash'>) {
    return this.devices.setCredentialHash(...a);
  }
  listDevices(...a: Args<DeviceRegistry, 'listDevices'>) {
    return this.devices.listDevices(...a);
  }
  updateDeviceKeys(...a: Args<DeviceKeyRegistry, 'updateDeviceKeys'>) {
    return this.devices.updateDeviceKeys(...a);
  }

  // dead letters
  putDeadLetter(...a: Args<DeadLetterStore, 'putDeadLetter'>) {
    return this.deadLetters.putDeadLetter(...a);
  }
  listDeadLetters(...a: Args<DeadLetterStore, 'listDeadLetters'>) {
    return this.deadLetters.listDeadLetters(...a);
  }
  pruneDeadLetters(...a: Args<DeadLetterStore, 'pruneDeadLetters'>) {
    return this.deadLetters.pruneDeadLetters(...a);
  }

  // audit
  appendAudit(...a: Args<AuditLog, 'appendAudit'>) {
    return this.audit.appendAudit(...a);
  }
  listAudit(...a: Args<AuditLog, 'listAudit'>) {
    return this.audit.listAudit(...a);
  }

  close(): Promise<void> {
    return this.closeParts();
  }
}
