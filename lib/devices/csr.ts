/**
 * The public key inside a PKCS#10 certificate signing request (RFC 2986), so provisioning can tell whether a
 * certificate already attached to a thing was made from this device's key (a retry) or from another one.
 * Only the structure is read: AWS IoT's CreateCertificateFromCsr checks the CSR's signature itself.
 *
 *   CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo SPKI, [0] attributes }
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { CodedError } from '../core/errors.js';

/** A certificate signing request that does not parse; the API answers it as bad-request (device-certificate.ts). */
export class CsrError extends CodedError<'csr-malformed'> {
  override readonly name = 'CsrError';
  constructor(message: string) {
    super('csr-malformed', message);
  }
}

/** PEM CSRs are small; AWS IoT's CreateCertificateFromCsr takes at most 4,096 characters. */
export const MAX_CSR_PEM_CHARS = 4096;

interface Tlv {
  tag: number;
  /** Offset of the value, and its length. */
  start: number;
  length: number;
  /** Offset just past the value. */
  end: number;
}

function readTlv(der: Uint8Array, at: number): Tlv {
  const tag = der[at];
  const first = der[at + 1];
  if (tag === undefined || first === undefined) throw new CsrError('the CSR is truncated');
  let length = first;
  let start = at + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n < 1 || n > 3) throw new CsrError('the CSR has an unsupported DER length');
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = der[start + i];
      if (b === undefined) throw new CsrError('the CSR is truncated');
      length = length * 256 + b;
    }
    start += n;
  }
  const end = start + length;
  if (end > der.length) throw new CsrError('the CSR is truncated');
  return { tag, start, length, end };
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;

/** The DER of a PEM "CERTIFICATE REQUEST" block. */
export function csrDer(pem: string): Uint8Array {
  if (pem.length > MAX_CSR_PEM_CHARS) throw new CsrError(`the CSR is over ${MAX_CSR_PEM_CHARS} characters`);
  const m =
    /^-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE REQUEST-----\s*$/.exec(
      pem.trim(),
    );
  if (!m?.[1]) throw new CsrError('not a PEM certificate signing request (BEGIN CERTIFICATE REQUEST)');
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

/** The CSR's public key as canonical DER SubjectPublicKeyInfo. */
export function csrPublicKey(pem: string): Uint8Array {
  const der = csrDer(pem);
  const outer = readTlv(der, 0);
  if (outer.tag !== SEQUENCE || outer.end !== der.length)
    throw new CsrError('the CSR is not one DER SEQUENCE');
  const info = readTlv(der, outer.start);
  if (info.tag !== SEQUENCE) throw new CsrError('the CSR has no CertificationRequestInfo');
  const version = readTlv(der, info.start);
  if (version.tag !== INTEGER) throw new CsrError('the CSR has no version');
  const subject = readTlv(der, version.end);
  if (subject.tag !== SEQUENCE) throw new CsrError('the CSR has no subject');
  const spkiAt = subject.end;
  const spki = readTlv(der, spkiAt);
  if (spki.tag !== SEQUENCE) throw new CsrError('the CSR has no public key');
  try {
    const key = createPublicKey({
      key: Buffer.from(der.subarray(spkiAt, spki.end)),
      format: 'der',
      type: 'spki',
    });
    return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
  } catch (e) {
    throw new CsrError(`the CSR's public key cannot be read: ${(e as Error).message}`);
  }
}

/** The public key of a PEM certificate, as canonical DER SubjectPublicKeyInfo. */
export function certificatePublicKey(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }));
}
