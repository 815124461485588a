/**
 * The embedded ledger's format (lib/core/ledger-entry.ts: hash-chained entries, each signed with Ed25519)
 * kept in DynamoDB instead of a local file, which a Lambda cannot keep. Proofs anchored here verify exactly
 * like proofs from the embedded ledger: same entries, same chainId derivation, same evidence.
 *
 * Append-only and gap-free: entry h+1 is written with a conditional put on its height after reading entry h,
 * so two writers cannot both take a height, and no height can be skipped. Entries are never updated.
 *
 * Entries are signed through the LedgerSigner port: on AWS a KMS key of spec ECC_NIST_EDWARDS25519
 * (kms-ledger-signer.ts), created by the deploy, whose private half never leaves KMS. A ledger opened
 * `readOnly` holds just the public key, for the verify API.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { fromHex, toBase64, toHex } from '../../core/bytes.js';
import { CodedError } from '../../core/errors.js';
import {
  type LedgerEntry,
  ledgerChainId,
  ledgerEntryHash,
  verifyLedgerEntry,
} from '../../core/ledger-entry.js';
import type { Chain, ChainDescription, ChainTx, LedgerSigner } from '../../ports.js';
import type { LedgerErrorCode } from '../ledger-error.js';
import { LedgerCorruptError } from '../local/embedded-ledger.js';
import { type Item, isConditionalCheckFailed, N, num, queryUpTo, S, str } from './dynamo-codec.js';

const ZERO = '0'.repeat(64);
const APPEND_ATTEMPTS = 25;

export class LedgerKeyError extends CodedError<LedgerErrorCode> {
  override readonly name = 'LedgerKeyError';
  constructor(message: string, code: LedgerErrorCode = 'ledger-key-invalid') {
    super(code, message);
  }
}

export interface DynamoLedgerOptions {
  db: DynamoDBClient;
  table: string;
  clock?: () => number;
}

export class DynamoLedger implements Chain {
  readonly chainId: string;
  private readonly db: DynamoDBClient;
  private readonly table: string;
  private readonly clock: () => number;
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    opts: DynamoLedgerOptions,
    private readonly publicKey: Uint8Array,
    private readonly signer: LedgerSigner | undefined,
  ) {
    this.db = opts.db;
    this.table = opts.table;
    this.clock = opts.clock ?? Date.now;
    this.chainId = ledgerChainId(publicKey);
  }

  /**
   * A ledger that can append, signing through `signer`. `expectedPublicKey`, when given, must be the signer's,
   * so a ledger key from another stage is caught at start and not after it has signed entries.
   */
  static open(
    opts: DynamoLedgerOptions & { signer: LedgerSigner; expectedPublicKey?: Uint8Array },
  ): DynamoLedger {
    const publicKey = opts.signer.publicKey;
    if (publicKey.length !== 32) throw new LedgerKeyError('an Ed25519 public key is 32 bytes');
    if (opts.expectedPublicKey && toHex(opts.expectedPublicKey) !== toHex(publicKey)) {
      throw new LedgerKeyError('the ledger signing key does not belong to the configured public key');
    }
    return new DynamoLedger(opts, publicKey, opts.signer);
  }

  /** A ledger that can only be read and described, e.g. by the verify API: it never sees the signing key. */
  static readOnly(opts: DynamoLedgerOptions & { publicKey: Uint8Array }): DynamoLedger {
    if (opts.publicKey.length !== 32) throw new LedgerKeyError('an Ed25519 public key is 32 bytes');
    return new DynamoLedger(opts, opts.publicKey, undefined);
  }

  submit(data: Uint8Array, opts: { dedupKey: string }): Promise<{ txId: string }> {
    // Serialised within this process; the conditional put on height settles races between processes.
    const run = this.tail.then(() => this.append(data, opts.dedupKey));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async append(data: Uint8Array, dedupKey: string): Promise<{ txId: string }> {
    const signer = this.signer;
    if (!signer) throw new LedgerKeyError('this ledger was opened read-only; it cannot sign entries');
    // A programming error (the anchorer always passes a batch's key), not an operator's: left a RangeError.
    if (dedupKey.length === 0) throw new RangeError('dedupKey must not be empty');
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      const seen = await this.findOne('byDedup', 'dedupKey', dedupKey);
      if (seen) return { txId: str(seen, 'hash') };
      const head = await this.head();
      const unsigned = {
        height: head ? num(head, 'height') + 1 : 0,
        time: this.clock(),
        prev: head ? str(head, 'hash') : ZERO,
        data: toHex(data),
      };
      const hash = ledgerEntryHash(unsigned);
      const entry: LedgerEntry = { ...unsigned, hash: toHex(hash), sig: toBase64(await signer.sign(hash)) };
      try {
        await this.db.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              ledgerId: S(this.chainId),
              height: N(entry.height),
              time: N(entry.time),
              prev: S(entry.prev),
              data: S(entry.data),
              hash: S(entry.hash),
              sig: S(entry.sig),
              // Not signed, as in the embedded ledger: it only lets a retry find its first entry.
              dedupKey: S(dedupKey),
            },
            ConditionExpression: 'attribute_not_exists(#h)',
            ExpressionAttributeNames: { '#h': 'height' },
          }),
        );
        return { txId: entry.hash };
      } catch (e) {
        if (!isConditionalCheckFailed(e)) throw e;
        // Another writer took this height; look again (it may even have been our own retry).
        await new Promise((r) => setTimeout(r, Math.random() * 20 * (attempt + 1)));
      }
    }
    throw new LedgerKeyError(
      `ledger ${this.chainId}: no free height after ${APPEND_ATTEMPTS} attempts`,
      'append-contended',
    );
  }

  private async head(): Promise<Item | undefined> {
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        KeyConditionExpression: 'ledgerId = :l',
        ExpressionAttributeValues: { ':l': S(this.chainId) },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      1,
    );
    return items[0];
  }

  private async findOne(index: 'byHash' | 'byDedup', attr: string, value: string): Promise<Item | undefined> {
    const { items } = await queryUpTo(
      this.db,
      {
        TableName: this.table,
        IndexName: index,
        // `hash` is a DynamoDB reserved word.
        KeyConditionExpression: 'ledgerId = :l AND #a = :v',
        ExpressionAttributeNames: { '#a': attr },
        ExpressionAttributeValues: { ':l': S(this.chainId), ':v': S(value) },
        // Only local indexes offer this; it is why byHash and byDedup are LSIs.
        ConsistentRead: true,
      },
      1,
    );
    return items[0];
  }

  async lookup(txId: string): Promise<ChainTx | undefined> {
    if (!/^[0-9a-f]{64}$/.test(txId)) return undefined;
    const item = await this.findOne('byHash', 'hash', txId);
    if (!item) return undefined;
    const entry: LedgerEntry = {
      height: num(item, 'height'),
      time: num(item, 'time'),
      prev: str(item, 'prev'),
      data: str(item, 'data'),
      hash: str(item, 'hash'),
      sig: str(item, 'sig'),
    };
    const check = verifyLedgerEntry(entry, this.publicKey);
    if (!check.ok)
      throw new LedgerCorruptError(`ledger ${this.chainId} height ${entry.height}: ${check.message}`);
    const head = await this.head();
    const headHeight = head ? num(head, 'height') : entry.height;
    return {
      txId: entry.hash,
      data: fromHex(entry.data) ?? new Uint8Array(0),
      height: entry.height,
      time: entry.time,
      confirmations: headHeight - entry.height + 1,
      evidence: { kind: 'embedded-ledger', entry, publicKey: toBase64(this.publicKey) },
    };
  }

  async describe(): Promise<Extract<ChainDescription, { kind: 'embedded-ledger' }>> {
    return { chainId: this.chainId, kind: 'embedded-ledger', publicKey: toBase64(this.publicKey) };
  }
}
