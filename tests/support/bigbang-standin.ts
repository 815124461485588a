/**
 * A BigBang Core STAND-IN: a small JSON-RPC 2.0 server (node:http, 127.0.0.1, port 0) that answers the
 * methods the BigBang adapter uses with the request and response shapes, error codes and messages recorded
 * in FACTS.md ("Chains"), and nothing more. No BigBang node can run here (none is packaged and no public node
 * is reachable), so every BigBang test runs against this and says so. It is not a BigBang node: no
 * consensus, no signatures, no peers, one wallet, one fork.
 *
 * Faithful to FACTS.md: named params; amounts as JSON numbers with six decimals; `gettxfee` by CalcMinTxFee;
 * `gettransaction` of an unknown txid → -32600 "No information available about transaction"; `sendtransaction`
 * of undecodable hex → -8 "TX decode failed"; `sendfrom` with nothing spendable → -401 "GetBalance failed";
 * with the key locked → -401 "Failed to sign transaction"; unknown method → -32601 "<method> not found!" with
 * data 1; `listunspent`, `version`, `getforkheight`, `unlockkey` response shapes; base32 addresses.
 * From the BigBang source rather than an observation (rpcmod.cpp, rpc_error.h, core.cpp): confirmations =
 * forkHeight − txHeight (0 in the newest block and in the pool), an all-zero blockhash while pending, -10
 * "Tx rejected : ..." for a transaction the node refuses, the vchData checks, -4/-406/-409 from unlockkey.
 * Marked GUESS below: texts no source or observation gave us.
 *
 * Its own fee rule, size limit and vchData check are written out here again rather than imported from the
 * adapter, so an adapter bug is not mirrored by the stand-in.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { encodeAddress } from '../../lib/adapters/bigbang/address.js';

const COIN = 1_000_000;
const MIN_FEE = 10_000;
const MAX_TX_SIZE = 100_000;

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
  /** Spendable units at the wallet address at start. Default 1,000 BBC. */
  balanceUnits?: number;
  /** The wallet key's passphrase (for unlockkey). Default 'standin-passphrase'. */
  passphrase?: string;
  /** Start with the key locked. */
  locked?: boolean;
  /** Put every accepted transaction in a block of its own at once (like ganache's instamine). */
  mineOnSubmit?: boolean;
  /** Methods this node lacks (an older build): they answer -32601 like any unknown method. */
  without?: string[];
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
  pubkey: string;
  forkHash: string;
  /** Every request received, in order. */
  calls: RecordedCall[];
  height(): number;
  /** Produce `n` blocks now, each taking the whole pool. */
  mine(n?: number): void;
  /** The node goes down: connections are refused until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  lockKey(): void;
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

/** Amounts go out as JSON numbers with exactly six decimals, as the node prints them. */
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

function calcMinTxFee(n: number): number {
  const m = Math.ceil(n / 200);
  return m <= 5 ? MIN_FEE + 2 * m * MIN_FEE : MIN_FEE + 10 * MIN_FEE + 4 * (m - 5) * MIN_FEE;
}

const sha256hex = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** core.cpp ValidateTransaction's vchData rule for a token transaction to a pubkey address. */
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

function txSize(dataLen: number, inputs: number): number {
  const cs = (n: number) => (n < 253 ? 1 : n <= 0xffff ? 3 : 5);
  return 93 + cs(inputs) + 33 * inputs + cs(dataLen) + dataLen + 1 + 64;
}

function coinsParam(v: unknown): number | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return undefined;
  return Math.round(v * COIN);
}

export async function startBigBangStandIn(opts: BigBangStandInOptions = {}): Promise<BigBangStandIn> {
  const pubkeyBytes = randomBytes(32);
  const pubkey = pubkeyBytes.toString('hex');
  const address = encodeAddress('pubkey', pubkeyBytes);
  const burn = encodeAddress('pubkey', randomBytes(32));
  const passphrase = opts.passphrase ?? 'standin-passphrase';
  let locked = opts.locked ?? false;
  let fault: StandInFault | undefined;
  const calls: RecordedCall[] = [];
  const now = () => Math.floor(Date.now() / 1000);

  const genesis: Block = { hash: sha256hex(`genesis:${pubkey}`), height: 0, time: now(), txids: [] };
  const blocks: Block[] = [genesis];
  const txs = new Map<string, StandInTx>();
  const pool: string[] = [];
  const utxos = new Map<string, Utxo>();
  let branch = 0;
  const fundTx = sha256hex(`fund:${pubkey}`);
  utxos.set(`${fundTx}:0`, {
    txid: fundTx,
    out: 0,
    address,
    units: opts.balanceUnits ?? 1000 * COIN,
    time: genesis.time,
  });

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

  const methods: Record<string, (p: Record<string, unknown>) => unknown> = {
    version: () => 'Bigbang server version is v2.0.5 (stand-in, tests/support/bigbang-standin.ts)',

    getforkheight: () => tip().height,

    listunspent: (p) => {
      const addr = p.address;
      if (typeof addr !== 'string') throw new RpcError(-6, 'Invalid address');
      const list = spendable(addr);
      const sum = list.reduce((s, u) => s + u.units, 0);
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

    unlockkey: (p) => {
      const key = p.pubkey;
      if (key !== pubkey && key !== address) throw new RpcError(-4, 'Unknown key');
      if (typeof p.passphrase !== 'string' || p.passphrase === '') {
        throw new RpcError(-6, 'Passphrase must be nonempty');
      }
      if (!locked) throw new RpcError(-409, 'Key is already unlocked');
      if (p.passphrase !== passphrase) throw new RpcError(-406, 'The passphrase entered was incorrect.');
      locked = false;
      return `Unlock key successfully: ${key}`;
    },

    sendfrom: (p) => {
      const { from, to, data } = p;
      if (typeof from !== 'string' || !/^[12][0-9a-hjkmnp-tv-z]{56}$/.test(from)) {
        throw new RpcError(-6, 'Invalid from address');
      }
      if (typeof to !== 'string' || !/^[12][0-9a-hjkmnp-tv-z]{56}$/.test(to)) {
        throw new RpcError(-6, 'Invalid to address');
      }
      const amount = coinsParam(p.amount);
      if (amount === undefined || amount <= 0) throw new RpcError(-6, 'Invalid amount');
      if (data !== undefined && (typeof data !== 'string' || !HEX.test(data))) {
        throw new RpcError(-6, 'Invalid data'); // GUESS
      }
      const bytes = Buffer.from(typeof data === 'string' ? data : '', 'hex');
      const minFee = calcMinTxFee(bytes.length);
      const fee = p.txfee === undefined ? minFee : coinsParam(p.txfee);
      if (fee === undefined) throw new RpcError(-6, 'Invalid txfee'); // GUESS

      const own = spendable(from);
      if (own.length === 0) throw new RpcError(-401, 'GetBalance failed');
      const picked: Utxo[] = [];
      let total = 0;
      for (const u of own) {
        if (total >= amount + fee) break;
        picked.push(u);
        total += u.units;
      }
      if (total < amount + fee) throw new RpcError(-401, 'Failed to create transaction'); // GUESS
      if (locked) throw new RpcError(-401, 'Failed to sign transaction');

      const problem =
        vchDataProblem(bytes) ??
        (fee < minFee ? 'tx fee is less than the minimum' : undefined) ?? // GUESS
        (txSize(bytes.length, picked.length) > MAX_TX_SIZE ? 'tx size is over the limit' : undefined); // GUESS
      if (problem) throw new RpcError(-10, `Tx rejected : ${problem}`);

      const time = now();
      const txid = sha256hex(
        `${from}|${to}|${amount}|${fee}|${bytes.toString('hex')}|${time}|${randomBytes(8).toString('hex')}`,
      );
      for (const u of picked) utxos.delete(`${u.txid}:${u.out}`);
      utxos.set(`${txid}:0`, { txid, out: 0, address: to, units: amount, time });
      if (total - amount - fee > 0) {
        utxos.set(`${txid}:1`, { txid, out: 1, address: from, units: total - amount - fee, time });
      }
      txs.set(txid, {
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
      });
      pool.push(txid);
      if (opts.mineOnSubmit) mine(1);
      return txid;
    },

    gettransaction: (p) => {
      const tx = typeof p.txid === 'string' ? txs.get(p.txid) : undefined;
      if (!tx) throw new RpcError(-32600, 'No information available about transaction');
      const block = tx.height === undefined ? undefined : blocks[tx.height];
      return {
        transaction: {
          txid: tx.txid,
          version: 1,
          type: 'token',
          time: tx.time,
          lockuntil: 0,
          anchor: genesis.hash,
          blockhash: block ? block.hash : '0'.repeat(64),
          vin: tx.vin,
          sendfrom: tx.sendfrom,
          sendto: tx.sendto,
          amount: new Coins(tx.units),
          txfee: new Coins(tx.feeUnits),
          data: tx.data,
          sig: tx.sig,
          fork: genesis.hash,
          confirmations: tx.height === undefined ? 0 : tip().height - tx.height,
        },
      };
    },

    sendtransaction: (p) => {
      // Raw transactions are not modelled: whatever arrives is, to this stand-in, undecodable.
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
        if (!fn) throw new RpcError(-32601, `${method} not found!`, 1);
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
    height: () => tip().height,
    mine,
    stop: shut,
    start: async () => {
      if (!server) await listen();
    },
    lockKey: () => {
      locked = true;
    },
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
