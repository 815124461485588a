/**
 * A BigBang Core STAND-IN: a small JSON-RPC 2.0 server (node:http, 127.0.0.1, port 0) that answers the
 * methods the BigBang adapter uses with the request and response shapes, error codes and messages recorded
 * in FACTS.md ("Chains"), and nothing more. No BigBang node can run here (none is packaged and no public node
 * is reachable), so every BigBang test runs against this and says so. It is not a BigBang node: no
 * consensus, no signatures, no peers, one wallet, one fork.
 *
 * A stand-in is only as good as the real answers it copies. Every answer below carries its source:
 * - "FACTS" — observed from a real v2.0.5 node and recorded in /work/shared/FACTS.md ("Chains": "Real
 *   responses" and "More real responses"). tests/chains/bigbang-standin.test.ts pins each one, byte for byte.
 * - "rpc.json" — BigBang's own RPC definition (bigbangcore/BigBang script/template/rpc.json): the shape and
 *   the error texts it documents, never seen from a node here.
 * - "source" — BigBang's C++ (rpcmod.cpp, core.cpp, struct.h), read, not observed.
 * - "GUESS" — a text nothing recorded; the adapter must not depend on it.
 *
 * Its own fee rule, size limit, vchData check and address-to-pubkey rule are written out here again rather
 * than imported from the adapter, so an adapter bug is not mirrored by the stand-in.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { encodeAddress } from '../../lib/adapters/bigbang/address.js';

const COIN = 1_000_000;
const MIN_FEE = 10_000;
const MAX_TX_SIZE = 100_000;
/** FACTS: `unlockkey` without `timeout` relocks the key after 60 s. */
const DEFAULT_UNLOCK_SECONDS = 60;
/** FACTS: `listunspent {address}` returns at most 10 unspents unless `max` is given. */
const DEFAULT_LISTUNSPENT_MAX = 10;
/** rpc.json: listtransaction "count … If not set, return 10 tx". */
const DEFAULT_LISTTRANSACTION_COUNT = 10;

export type StandInFault =
  /** 200 with a body that is not JSON. */
  | 'garbage'
  /** 502 with an HTML body, as a proxy in front of a dead node. */
  | 'html-502'
  /** A JSON-RPC envelope whose result has the wrong shape. */
  | 'bad-result'
  /** A JSON-RPC response to another request id. */
  | 'wrong-id'
  /** Accepts the request and never answers. */
  | 'hang';

export interface BigBangStandInOptions {
  /** Produce a block every this many ms; 0 (default) means only mine() makes blocks. */
  blockIntervalMs?: number;
  /** Spendable units at the wallet address at start, as one unspent. Default 1,000 BBC. */
  balanceUnits?: number;
  /** The wallet's unspents at start, in units, one entry each; overrides balanceUnits. */
  unspentsUnits?: number[];
  /** The wallet key's passphrase (for unlockkey). Default 'standin-passphrase'. */
  passphrase?: string;
  /** Start with the key locked. */
  locked?: boolean;
  /** Put every accepted transaction in a block of its own at once (like ganache's instamine). */
  mineOnSubmit?: boolean;
  /** Methods this node lacks (an older build): they answer -32601 like any unknown method. */
  without?: string[];
  /** RPC credentials the node requires (rpcuser/rpcpassword); none by default. */
  rpcAuth?: { user: string; password: string };
  /** The node's clock in ms (default Date.now); a fixed one keeps answers that show time exact in tests. */
  clockMs?: () => number;
}

export interface RecordedCall {
  method: string;
  params: unknown;
}

export interface BigBangStandIn {
  url: string;
  port: number;
  /** The wallet's funded pubkey address. */
  address: string;
  /** The key as the node prints it (listkey, unlockkey): the address's 32 bytes in reverse order. */
  pubkey: string;
  forkHash: string;
  /** Every request received, in order. */
  calls: RecordedCall[];
  /** What the node would write to its log (e.g. "SignTransaction: ValidateTransaction fail"). */
  log: string[];
  height(): number;
  /** Produce `n` blocks now, each taking the whole pool. */
  mine(n?: number): void;
  /** The node's clock moves on `seconds` (unlock timeouts run out); blocks are not made by it. */
  advanceTime(seconds: number): void;
  /** A new unspent of `units` at the wallet address (a payment received and mined). */
  fund(units: number): void;
  /** The node goes down: connections are refused until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  lockKey(): void;
  /** Whether the wallet key is locked now (a relock timeout that ran out counts). */
  isLocked(): boolean;
  /** Moves every unspent output of the wallet away: nothing is spendable any more. */
  drainFunds(): void;
  /** A reorganisation that loses `txid`: the blocks from its height on are replaced (new hashes) and the
   * transaction is gone, or back in the pool with `reinclude`. */
  reorg(txid: string, opts?: { reinclude?: boolean }): void;
  setFault(fault: StandInFault | undefined): void;
  close(): Promise<void>;
}

interface Utxo {
  txid: string;
  out: number;
  address: string;
  units: number;
  time: number;
}

interface StandInTx {
  txid: string;
  time: number;
  vin: { txid: string; vout: number }[];
  sendfrom: string;
  sendto: string;
  units: number;
  feeUnits: number;
  data: string;
  sig: string;
  /** The outputs it spent, given back if a reorganisation loses it. */
  spent: Utxo[];
  height?: number;
}

/** A wallet transaction as listtransaction reports it (rpc.json `wallettxdata`). */
interface WalletTx {
  txid: string;
  time: number;
  send: boolean;
  from?: string;
  to: string;
  units: number;
  feeUnits: number;
  /** Known only for our own sends; funding has no block in this model (it predates genesis+1). */
  tx?: StandInTx;
}

interface Block {
  hash: string;
  height: number;
  time: number;
  txids: string[];
}

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** Amounts go out as JSON numbers with exactly six decimals, as the node prints them (FACTS). */
class Coins {
  constructor(readonly units: number) {}
}

function formatCoins(units: number): string {
  return `${Math.floor(units / COIN)}.${String(units % COIN).padStart(6, '0')}`;
}

function serialise(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v instanceof Coins ? `\u0000${formatCoins(v.units)}\u0000` : v,
  ).replace(/"\\u0000([0-9.]+)\\u0000"/g, '$1');
}

/** struct.h CalcMinTxFee; FACTS: gettxfee of 53 bytes is 0.030000, of 1024 bytes 0.150000. */
function calcMinTxFee(n: number): number {
  const m = Math.ceil(n / 200);
  return m <= 5 ? MIN_FEE + 2 * m * MIN_FEE : MIN_FEE + 10 * MIN_FEE + 4 * (m - 5) * MIN_FEE;
}

const sha256hex = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const TXID = /^[0-9a-fA-F]{64}$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ADDRESS = /^[12][0-9a-hjkmnp-tv-z]{56}$/;

/** core.cpp ValidateTransaction's vchData rule for a token transaction to a pubkey address (source). */
function vchDataProblem(data: Buffer): string | undefined {
  if (data.length === 0) return undefined;
  if (data.length < 21) return 'tx vchData is less than 21 bytes.';
  const descLen = data[20] as number;
  if (21 + descLen > data.length) return 'tx vchData is overflow.';
  if (!B64.test(data.subarray(21, 21 + descLen).toString('latin1'))) {
    return 'tx vchData description base64 is not available.';
  }
  return undefined;
}

/** Serialised size of a token transaction (source: transaction.h), 64 bytes of signature. */
function txSize(dataLen: number, inputs: number): number {
  const cs = (n: number) => (n < 253 ? 1 : n <= 0xffff ? 3 : 5);
  return 93 + cs(inputs) + 33 * inputs + cs(dataLen) + dataLen + 1 + 64;
}

function coinsParam(v: unknown): number | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return undefined;
  return Math.round(v * COIN);
}

/** A uint parameter, or undefined when absent; anything else is refused. */
function uintParam(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RpcError(-6, `Invalid ${name}`); // GUESS
  return v;
}

export async function startBigBangStandIn(opts: BigBangStandInOptions = {}): Promise<BigBangStandIn> {
  const keyBytes = randomBytes(32);
  const address = encodeAddress('pubkey', keyBytes);
  // rpc.json: the key printed by signmessage/maketemplate (2e05c9ee…e882) is the byte reversal of the body
  // of its address 1gbma6s2… (82e8a364…052e); the same holds for its getpubkeyaddress and importpubkey examples.
  const pubkey = Buffer.from(keyBytes).reverse().toString('hex');
  const burn = encodeAddress('pubkey', randomBytes(32));
  const passphrase = opts.passphrase ?? 'standin-passphrase';
  let locked = opts.locked ?? false;
  /** Node time (s) at which an unlocked key locks itself again; undefined: it stays unlocked. */
  let relockAt: number | undefined;
  let fault: StandInFault | undefined;
  const calls: RecordedCall[] = [];
  const log: string[] = [];
  let skew = 0;
  const clockMs = opts.clockMs ?? Date.now;
  const now = () => Math.floor(clockMs() / 1000) + skew;

  const isLocked = () => {
    if (!locked && relockAt !== undefined && now() >= relockAt) {
      locked = true;
      relockAt = undefined;
    }
    return locked;
  };

  const genesis: Block = { hash: sha256hex(`genesis:${pubkey}`), height: 0, time: now(), txids: [] };
  const blocks: Block[] = [genesis];
  const txs = new Map<string, StandInTx>();
  const pool: string[] = [];
  const utxos = new Map<string, Utxo>();
  /** The wallet's own transactions, oldest first (listtransaction). */
  const wallet: WalletTx[] = [];
  let branch = 0;
  let funding = 0;

  const fund = (units: number) => {
    const txid = sha256hex(`fund:${pubkey}:${funding++}`);
    const time = now();
    utxos.set(`${txid}:0`, { txid, out: 0, address, units, time });
    wallet.push({ txid, time, send: false, to: address, units, feeUnits: 0 });
  };
  for (const u of opts.unspentsUnits ?? [opts.balanceUnits ?? 1000 * COIN]) fund(u);

  const tip = () => blocks[blocks.length - 1] as Block;

  const mine = (n = 1) => {
    for (let i = 0; i < n; i++) {
      const prev = tip();
      const height = prev.height + 1;
      const block: Block = {
        hash: sha256hex(`${prev.hash}:${height}:${branch}`),
        height,
        time: now(),
        txids: pool.splice(0),
      };
      for (const id of block.txids) {
        const tx = txs.get(id);
        if (tx) tx.height = height;
      }
      blocks.push(block);
    }
  };

  const spendable = (addr: string) => [...utxos.values()].filter((u) => u.address === addr);

  /** gettransaction's and listtransaction's view of a txid parameter. */
  const txidParam = (v: unknown): string => {
    // FACTS: gettransaction of 64 zeros gives -6 "Invalid txid". Anything not 64 hex: the same (GUESS).
    if (typeof v !== 'string' || !TXID.test(v) || /^0+$/.test(v)) throw new RpcError(-6, 'Invalid txid');
    return v.toLowerCase();
  };

  const methods: Record<string, (p: Record<string, unknown>) => unknown> = {
    // FACTS: "Bigbang server version is v2.0.5, …".
    version: () => 'Bigbang server version is v2.0.5 (stand-in, tests/support/bigbang-standin.ts)',

    // FACTS: an integer.
    getforkheight: () => tip().height,

    listunspent: (p) => {
      const addr = p.address;
      if (typeof addr !== 'string' || !ADDRESS.test(addr)) throw new RpcError(-6, 'Invalid address'); // rpc.json
      // FACTS: at most 10 unspents unless `max` is given; rpc.json: "maximum unspents (0 means unlimited)".
      const max = uintParam(p.max, 'max') ?? DEFAULT_LISTUNSPENT_MAX;
      const all = spendable(addr);
      const list = max === 0 ? all : all.slice(0, max);
      const sum = list.reduce((s, u) => s + u.units, 0);
      // FACTS: {"addresses":[{"address","unspents":[{"txid","out","amount","time","lockuntil"}],"sum"}],"total"}.
      return {
        addresses: [
          {
            address: addr,
            unspents: list.map((u) => ({
              txid: u.txid,
              out: u.out,
              amount: new Coins(u.units),
              time: u.time,
              lockuntil: 0,
            })),
            sum: new Coins(sum),
          },
        ],
        total: new Coins(sum),
      };
    },

    gettxfee: (p) => {
      if (typeof p.hexdata !== 'string' || !HEX.test(p.hexdata)) throw new RpcError(-6, 'Invalid hexdata'); // GUESS
      return new Coins(calcMinTxFee(p.hexdata.length / 2));
    },

    // rpc.json: [{key, version, public?, locked, timeout?}]. Not observed from a node.
    listkey: () => {
      const entry: Record<string, unknown> = { key: pubkey, version: 1, public: false, locked: isLocked() };
      if (!locked && relockAt !== undefined) entry.timeout = relockAt - now();
      return [entry];
    },

    unlockkey: (p) => {
      const key = p.pubkey;
      // rpc.json: "pubkey or pubkey address"; -4 "Unknown key".
      if (key !== pubkey && key !== address) throw new RpcError(-4, 'Unknown key');
      if (typeof p.passphrase !== 'string' || p.passphrase === '') {
        throw new RpcError(-6, 'Passphrase must be nonempty'); // rpc.json
      }
      const timeout = p.timeout === undefined ? undefined : uintParam(p.timeout, 'timeout');
      // FACTS: unlocking an unlocked key gives -409 (text from rpc.json).
      if (!isLocked()) throw new RpcError(-409, 'Key is already unlocked');
      // FACTS: a wrong passphrase gives -406 "The passphrase entered was incorrect.".
      if (p.passphrase !== passphrase) throw new RpcError(-406, 'The passphrase entered was incorrect.');
      locked = false;
      // FACTS: without `timeout` the key relocks after 60 s; `timeout: 0` keeps it unlocked.
      const seconds = timeout ?? DEFAULT_UNLOCK_SECONDS;
      relockAt = seconds === 0 ? undefined : now() + seconds;
      // FACTS: "Unlock key successfully: <pubkey>" (with whatever was passed as pubkey, as rpc.json shows).
      return `Unlock key successfully: ${key}`;
    },

    sendfrom: (p) => {
      const { from, to, data } = p;
      // rpc.json: -6 "Invalid from address" / "Invalid to address".
      if (typeof from !== 'string' || !ADDRESS.test(from)) throw new RpcError(-6, 'Invalid from address');
      if (typeof to !== 'string' || !ADDRESS.test(to)) throw new RpcError(-6, 'Invalid to address');
      const amount = coinsParam(p.amount);
      if (amount === undefined || amount <= 0) throw new RpcError(-6, 'Invalid amount'); // GUESS
      // FACTS: `data` that is not valid hex is silently taken as empty (that transaction paid 0.01).
      const hex = typeof data === 'string' && HEX.test(data) ? data : '';
      const bytes = Buffer.from(hex, 'hex');
      const minFee = calcMinTxFee(bytes.length);
      const fee = p.txfee === undefined ? minFee : coinsParam(p.txfee);
      if (fee === undefined) throw new RpcError(-6, 'Invalid txfee'); // GUESS

      const own = spendable(from);
      // FACTS: nothing spendable → -401 "GetBalance failed".
      if (own.length === 0) throw new RpcError(-401, 'GetBalance failed');
      // The wallet picks the smallest unspents first. A model, not the node's code: it reproduces what FACTS
      // records, "2 inputs for every self-send" (each self-send leaves the 1 BBC sent and the change; the
      // next one needs 1 BBC + fee, so takes both).
      const ordered = [...own].sort((a, b) => a.units - b.units);
      const picked: Utxo[] = [];
      let total = 0;
      for (const u of ordered) {
        if (total >= amount + fee) break;
        picked.push(u);
        total += u.units;
      }
      if (total < amount + fee) {
        // FACTS: some funds, but less than amount + fee (Balance and TxFee in units: 0.5 BBC, 0.03 BBC).
        const balance = own.reduce((s, u) => s + u.units, 0);
        throw new RpcError(
          -401,
          `Failed to create transaction: CWallet::ArrangeInputs failed Balance: ${balance} TxFee: ${fee}`,
        );
      }
      // FACTS: a locked key → -401 "Failed to sign transaction".
      if (isLocked()) throw new RpcError(-401, 'Failed to sign transaction');

      // FACTS: any validation failure after signing (over MAX_TX_SIZE, vchData under 21 bytes) comes back as
      // the same -401 "Failed to sign transaction" as a locked key, not -10; the node log then says
      // "SignTransaction: ValidateTransaction fail". A fee under the minimum fails the same check (source).
      const problem =
        vchDataProblem(bytes) ??
        (fee < minFee ? 'tx fee is less than the minimum' : undefined) ??
        (txSize(bytes.length, picked.length) > MAX_TX_SIZE ? 'tx size is over the limit' : undefined);
      if (problem) {
        log.push(`SignTransaction: ValidateTransaction fail (${problem})`);
        throw new RpcError(-401, 'Failed to sign transaction');
      }

      const time = now();
      const txid = sha256hex(
        `${from}|${to}|${amount}|${fee}|${hex}|${time}|${randomBytes(8).toString('hex')}`,
      );
      for (const u of picked) utxos.delete(`${u.txid}:${u.out}`);
      utxos.set(`${txid}:0`, { txid, out: 0, address: to, units: amount, time });
      if (total - amount - fee > 0) {
        utxos.set(`${txid}:1`, { txid, out: 1, address: from, units: total - amount - fee, time });
      }
      const tx: StandInTx = {
        txid,
        time,
        vin: picked.map((u) => ({ txid: u.txid, vout: u.out })),
        sendfrom: from,
        sendto: to,
        units: amount,
        feeUnits: fee,
        data: bytes.toString('hex'),
        sig: randomBytes(64).toString('hex'),
        spent: picked.map((u) => ({ ...u })),
      };
      txs.set(txid, tx);
      if (from === address || to === address) {
        wallet.push({ txid, time, send: from === address, from, to, units: amount, feeUnits: fee, tx });
      }
      pool.push(txid);
      if (opts.mineOnSubmit) mine(1);
      return txid;
    },

    gettransaction: (p) => {
      const tx = txs.get(txidParam(p.txid));
      // FACTS: an unknown txid → -32600 "No information available about transaction".
      if (!tx) throw new RpcError(-32600, 'No information available about transaction');
      const block = tx.height === undefined ? undefined : blocks[tx.height];
      // FACTS: this key order; amounts with six decimals; `type` "token"; `data` echoed verbatim.
      return {
        transaction: {
          txid: tx.txid,
          version: 1,
          type: 'token',
          time: tx.time,
          lockuntil: 0,
          anchor: genesis.hash,
          // FACTS: a pending transaction's blockhash is "", not 64 zeros.
          blockhash: block ? block.hash : '',
          vin: tx.vin,
          sendfrom: tx.sendfrom,
          sendto: tx.sendto,
          amount: new Coins(tx.units),
          txfee: new Coins(tx.feeUnits),
          data: tx.data,
          sig: tx.sig,
          fork: genesis.hash,
          // FACTS: confirmations = fork height − tx height (0 in the newest block); source: 0 in the pool.
          confirmations: tx.height === undefined ? 0 : tip().height - tx.height,
        },
      };
    },

    // rpc.json: {count?, offset?, fork?, address?} → [wallettxdata]: {txid, fork, blockheight?, type, time,
    // send, from?, to, amount, fee, lockuntil}. "If (offset) < 0, return last (count) transactions"; its
    // examples list the oldest first. Not observed from a node.
    listtransaction: (p) => {
      const count = p.count === undefined ? DEFAULT_LISTTRANSACTION_COUNT : p.count;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count <= 0) {
        throw new RpcError(-6, 'Negative, zero or out of range count'); // rpc.json
      }
      const offset = p.offset === undefined ? 0 : p.offset;
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset))
        throw new RpcError(-6, 'Invalid offset'); // GUESS
      if (p.fork !== undefined && p.fork !== genesis.hash) throw new RpcError(-6, 'Unknown fork'); // rpc.json
      const addr = p.address;
      if (addr !== undefined && (typeof addr !== 'string' || !ADDRESS.test(addr))) {
        throw new RpcError(-6, 'Invalid address'); // GUESS
      }
      const own = wallet.filter((w) => addr === undefined || w.from === addr || w.to === addr);
      const chosen = offset < 0 ? own.slice(-count) : own.slice(offset, offset + count);
      return chosen.map((w) => {
        const out: Record<string, unknown> = { txid: w.txid, fork: genesis.hash };
        if (w.tx?.height !== undefined) out.blockheight = w.tx.height;
        out.type = 'token';
        out.time = w.time;
        out.send = w.send;
        if (w.from !== undefined) out.from = w.from;
        out.to = w.to;
        out.amount = new Coins(w.units);
        out.fee = new Coins(w.feeUnits);
        out.lockuntil = 0;
        return out;
      });
    },

    sendtransaction: (p) => {
      // Raw transactions are not modelled: whatever arrives is, to this stand-in, undecodable.
      // FACTS: sendtransaction {txdata:"00"} → -8 "TX decode failed".
      void p;
      throw new RpcError(-8, 'TX decode failed');
    },

    createtransaction: () => {
      throw new RpcError(-32603, 'createtransaction is not implemented by the BigBang stand-in');
    },
    signtransaction: () => {
      throw new RpcError(-32603, 'signtransaction is not implemented by the BigBang stand-in');
    },
  };

  const expectedAuth = opts.rpcAuth
    ? `Basic ${Buffer.from(`${opts.rpcAuth.user}:${opts.rpcAuth.password}`).toString('base64')}`
    : undefined;

  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (fault === 'hang') return;
      if (fault === 'garbage') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('<html>not json at all');
        return;
      }
      if (fault === 'html-502') {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
        return;
      }
      if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
        // FACTS: wrong or missing RPC credentials → HTTP 401 with an HTML body (this body is a GUESS).
        res
          .writeHead(401, { 'content-type': 'text/html' })
          .end(
            '<html><head><title>401 Unauthorized</title></head><body><h1>401 Unauthorized.</h1></body></html>',
          );
        return;
      }
      let id: unknown = null;
      let body: string;
      try {
        const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        id = msg.id ?? null;
        const method = typeof msg.method === 'string' ? msg.method : '';
        const params = (msg.params ?? {}) as Record<string, unknown>;
        calls.push({ method, params });
        if (typeof params !== 'object' || Array.isArray(params)) throw new RpcError(-32602, 'Invalid params');
        const fn =
          Object.hasOwn(methods, method) && !opts.without?.includes(method) ? methods[method] : undefined;
        // FACTS: -32601 "<method> not found!" whose `data` is the request id.
        if (!fn) throw new RpcError(-32601, `${method} not found!`, id);
        const result = fault === 'bad-result' ? { unexpected: true } : fn(params);
        body = serialise({ id: fault === 'wrong-id' ? 999_999 : id, jsonrpc: '2.0', result });
      } catch (e) {
        const err =
          e instanceof RpcError
            ? { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) }
            : e instanceof SyntaxError
              ? { code: -32700, message: 'Parse error' }
              : { code: -32603, message: String(e) };
        body = serialise({ id, jsonrpc: '2.0', error: err });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  };

  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const s = createServer(handle);
    s.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    const a = s.address();
    if (a && typeof a === 'object') port = a.port;
    server = s;
  };
  const shut = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  const timer =
    (opts.blockIntervalMs ?? 0) > 0 ? setInterval(() => mine(1), opts.blockIntervalMs).unref() : undefined;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    address,
    pubkey,
    forkHash: genesis.hash,
    calls,
    log,
    height: () => tip().height,
    mine,
    advanceTime: (seconds) => {
      skew += seconds;
    },
    fund,
    stop: shut,
    start: async () => {
      if (!server) await listen();
    },
    lockKey: () => {
      locked = true;
      relockAt = undefined;
    },
    isLocked,
    drainFunds: () => {
      for (const u of spendable(address)) u.address = burn;
    },
    reorg: (txid, o = {}) => {
      const tx = txs.get(txid);
      if (!tx) throw new Error(`stand-in has no transaction ${txid}`);
      branch++;
      if (tx.height !== undefined) {
        // The competing branch: same heights, new hashes, the same transactions except this one.
        for (let h = tx.height; h < blocks.length; h++) {
          const b = blocks[h] as Block;
          const prev = blocks[h - 1] as Block;
          b.hash = sha256hex(`${prev.hash}:${h}:${branch}`);
          b.txids = b.txids.filter((id) => id !== txid);
        }
        delete tx.height;
      } else {
        const i = pool.indexOf(txid);
        if (i >= 0) pool.splice(i, 1);
      }
      if (o.reinclude) {
        if (!pool.includes(txid)) pool.push(txid);
        return;
      }
      const i = pool.indexOf(txid);
      if (i >= 0) pool.splice(i, 1);
      txs.delete(txid);
      const w = wallet.findIndex((x) => x.txid === txid);
      if (w >= 0) wallet.splice(w, 1);
      for (const key of [...utxos.keys()]) if (key.startsWith(`${txid}:`)) utxos.delete(key);
      // Its inputs are unspent again. A stand-in simplification: later spends of its change are not undone.
      for (const u of tx.spent) utxos.set(`${u.txid}:${u.out}`, { ...u });
    },
    setFault: (f) => {
      fault = f;
    },
    close: async () => {
      if (timer) clearInterval(timer);
      await shut();
    },
  };
}
