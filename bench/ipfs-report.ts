/**
 * The BENCHMARKS.md section for `measureIpfsPin` (bench/ipfs-pin.ts): MB/s and pins/s pinned through
 * KuboPinner to the embedded Kubo RPC endpoint, per payload size.
 */
import type { IpfsPinReport } from './ipfs-pin.js';

const dec = (n: number, digits = 1): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const sizeLabel = (bytes: number): string =>
  bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0
    ? `${bytes / 1024 ** 2} MiB`
    : bytes >= 1024 && bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${bytes} B`;

export function ipfsSection(r: IpfsPinReport | undefined): string {
  if (!r) return '';
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const head = ['Payload', 'Pins per run', 'MB/s pinned', 'pins/s', 'MB/s per run'];
  const rows = r.results.map((x) =>
    line([
      sizeLabel(x.sizeBytes),
      String(x.pinsPerRun),
      dec(x.mbPerSec.median),
      dec(x.pinsPerSec.median, 0),
      x.mbPerSec.runs.map((n) => dec(n)).join(' / '),
    ]),
  );
  return `## 6. IPFS hot copies: MB/s pinned

What a hot copy costs (docs/ipfs.md): \`KuboPinner.pin\` end to end against the embedded Kubo RPC endpoint, i.e.
kubo-rpc-client's multipart upload over loopback HTTP, Kubo-compatible chunking and hashing (CIDv0, 256 KiB
chunks), the block writes and the recursive pin. ${r.concurrency} pins in flight; fresh random bytes for every
pin, so nothing is deduplicated. MB is 10^6 bytes of payload (ciphertext). Medians.

${[line(head), line(head.map(() => '---')), ...rows].join('\n')}

Small pins are bounded by the three files each writes (block, pin reference count, pin record); large ones by
hashing and block writes.
`;
}
