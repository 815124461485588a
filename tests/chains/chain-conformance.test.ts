/**
 * The shared Chain conformance suite (tests/adapters/chain.conformance.ts) over the two real-chain adapters:
 * the EVM adapter on a real local EVM node (ganache, one per test) and the BigBang adapter on the BigBang
 * STAND-IN (no BigBang node can run here), which mines a block per accepted transaction like ganache does.
 */
import { generatePrivateKey } from 'viem/accounts';
import { BigBangChain } from '../../lib/adapters/bigbang/bigbang-chain.js';
import { EvmChain } from '../../lib/adapters/evm/evm-chain.js';
import { describeChainConformance } from '../adapters/chain.conformance.js';
import { startBigBangStandIn } from '../support/bigbang-standin.js';
import { startGanache } from '../support/ganache-node.js';

describeChainConformance('EvmChain (ganache)', async () => {
  const privateKey = generatePrivateKey();
  const node = await startGanache({ accounts: [{ secretKey: privateKey, balance: 10n ** 19n }] });
  return {
    chain: new EvmChain({ rpcUrl: node.url, chainId: node.chainId, privateKey }),
    cleanup: () => node.close(),
    minesPerTx: true,
  };
});

describeChainConformance('BigBangChain (BigBang stand-in)', async () => {
  const standIn = await startBigBangStandIn({ mineOnSubmit: true });
  return {
    chain: new BigBangChain({ rpcUrl: standIn.url, from: standIn.address, network: 'standin' }),
    cleanup: () => standIn.close(),
    minesPerTx: true,
  };
});
