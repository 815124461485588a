#!/usr/bin/env python3
"""Independent verifier for iot-notary.proof.v1 bundles, written only from docs/proof-bundle.md and
docs/envelope.md, to show those documents are enough to verify without our code.

NOT RUN IN CI: it needs Python 3.8+ and the `cryptography` package (pip install cryptography) for Ed25519,
which CI machines may lack. The reference implementation is lib/core/proof-bundle.ts (checkProofBundle) and
`npm run verify-proof`.

usage: verify_bundle.py BUNDLE.json [--object ENVELOPE.bin] [--trust-ledger-key BASE64]... [--json]
exit status: 0 verified, 1 tampered / missing / pending, 2 usage or unusable input

Offline only: no live chain lookups, so proof-bundle.md §3.4 step 2 applies to anchors without evidence.
"""
import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "iot-notary.proof.v1"
MAX_INT = 2**53 - 1
HEX32 = re.compile(r"^[0-9a-f]{64}$")
HEX = re.compile(r"^(?:[0-9a-f]{2})*$")
B64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class NotABundle(Exception):
    pass


# ------------------------------------------------------------------------------------------ encodings


def b64decode(s):
    """Standard, padded base64 only (envelope.md conventions); None if s is anything else."""
    if not isinstance(s, str) or not B64.match(s):
        return None
    return base64.b64decode(s)


def hexdecode(s):
    if not isinstance(s, str) or not HEX.match(s):
        return None
    return bytes.fromhex(s)


def sha256(b):
    return hashlib.sha256(b).digest()


# ------------------------------------------------------------------------------------------ schema (§2)


def _int(v, where):
    # JSON integers; bool is an int subclass in Python and is not a number in JSON.
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= MAX_INT:
        raise NotABundle(f"{where}: must be an integer 0..2^53-1")
    return int(v)


def _str(v, where, pattern=None):
    if not isinstance(v, str) or (pattern is not None and not pattern.match(v)):
        raise NotABundle(f"{where}: must be a string{' of the required form' if pattern else ''}")
    return v


def _obj(v, where, required, optional=()):
    if not isinstance(v, dict):
        raise NotABundle(f"{where}: must be an object")
    unknown = set(v) - set(required) - set(optional)
    if unknown:
        raise NotABundle(f"{where}: unknown field(s) {sorted(unknown)}")
    missing = [k for k in required if k not in v]
    if missing:
        raise NotABundle(f"{where}: missing field(s) {missing}")
    return v


def validate(doc):
    _obj(doc, "(root)", ["format", "issuedAt", "record", "anchors"], ["inclusion"])
    if doc["format"] != FORMAT:
        raise NotABundle(f"format: must be {FORMAT!r}")
    _int(doc["issuedAt"], "issuedAt")
    rec = _obj(doc["record"], "record", ["recordId", "deviceId", "seq", "timestamp", "header", "recordHash",
                                          "ciphertextSha256", "prevHash", "envelopeSize", "objectKey"], ["ipfs"])
    for k in ("recordId", "deviceId", "header", "objectKey"):
        _str(rec[k], f"record.{k}")
    for k in ("recordHash", "ciphertextSha256", "prevHash"):
        _str(rec[k], f"record.{k}", HEX32)
    for k in ("seq", "timestamp", "envelopeSize"):
        _int(rec[k], f"record.{k}")
    if "ipfs" in rec:
        # The hot copy (§2.1.1). Offline there is nothing to fetch, so it is validated, not checked (§3.6).
        hot = _obj(rec["ipfs"], "record.ipfs", ["cid", "profile"])
        _str(hot["cid"], "record.ipfs.cid", re.compile(r"^[A-Za-z0-9]{1,128}$"))
        if hot["profile"] != "unixfs-v0-2015":
            raise NotABundle("record.ipfs.profile: must be 'unixfs-v0-2015'")
    if "inclusion" in doc:
        inc = _obj(doc["inclusion"], "inclusion", ["batchId", "leafIndex", "treeSize", "path", "root"])
        _str(inc["batchId"], "inclusion.batchId")
        _int(inc["leafIndex"], "inclusion.leafIndex")
        _int(inc["treeSize"], "inclusion.treeSize")
        if not isinstance(inc["path"], list) or len(inc["path"]) > 64:
            raise NotABundle("inclusion.path: must be an array of at most 64 hashes")
        for i, p in enumerate(inc["path"]):
            _str(p, f"inclusion.path.{i}", HEX32)
        _str(inc["root"], "inclusion.root", HEX32)
    if not isinstance(doc["anchors"], list):
        raise NotABundle("anchors: must be an array")
    for i, a in enumerate(doc["anchors"]):
        w = f"anchors.{i}"
        _obj(a, w, ["chainId", "txId", "payload"],
             ["height", "time", "confirmations", "evidence", "blockHash", "method", "requiredConfirmations"])
        _str(a["chainId"], f"{w}.chainId")
        _str(a["txId"], f"{w}.txId")
        _str(a["payload"], f"{w}.payload", HEX)
        for k in ("height", "time", "confirmations", "requiredConfirmations"):
            if k in a:
                _int(a[k], f"{w}.{k}")
        if "blockHash" in a:
            _str(a["blockHash"], f"{w}.blockHash")
            if len(a["blockHash"]) > 130:
                raise NotABundle(f"{w}.blockHash: at most 130 characters")
        # Offline, anchors on public chains (the only ones with method 'inline') carry no evidence and stay
        # unchecked (§3.4 step 2), so this verifier only needs to know the field.
        if "method" in a and a["method"] not in ("root", "inline"):
            raise NotABundle(f"{w}.method: must be 'root' or 'inline'")
        if "evidence" in a:
            ev = _obj(a["evidence"], f"{w}.evidence", ["kind", "entry", "publicKey"])
            if ev["kind"] != "embedded-ledger":
                raise NotABundle(f"{w}.evidence.kind: must be 'embedded-ledger'")
            _str(ev["publicKey"], f"{w}.evidence.publicKey")
            e = _obj(ev["entry"], f"{w}.evidence.entry", ["height", "time", "prev", "data", "hash", "sig"])
            _int(e["height"], f"{w}.evidence.entry.height")
            _int(e["time"], f"{w}.evidence.entry.time")
            _str(e["prev"], f"{w}.evidence.entry.prev", HEX32)
            _str(e["data"], f"{w}.evidence.entry.data", HEX)
            _str(e["hash"], f"{w}.evidence.entry.hash", HEX32)
            _str(e["sig"], f"{w}.evidence.entry.sig")
    return doc


# ------------------------------------------------------------------------------------------ envelope


def parse_header(b):
    """envelope.md §5 checks 1-8. Returns (fields, header_length) or (None, error code)."""
    if len(b) < 7:
        return None, "envelope-truncated"
    if b[0:4] != b"IOTN":
        return None, "bad-magic"
    if b[4] != 1:
        return None, "unsupported-version"
    if b[5] != 0:
        return None, "unsupported-flags"
    n = b[6]
    hlen = 103 + n
    if len(b) < hlen:
        return None, "envelope-truncated"
    dev = b[7:7 + n].decode("latin-1")
    if not DEVICE_ID.match(dev):
        return None, "bad-device-id"
    seq = int.from_bytes(b[7 + n:15 + n], "big")
    ts = int.from_bytes(b[15 + n:23 + n], "big")
    if seq > MAX_INT or ts > MAX_INT:
        return None, "field-out-of-range"
    ct_len = int.from_bytes(b[67 + n:71 + n], "big")
    if ct_len < 16:
        return None, "field-out-of-range"
    return {
        "deviceId": dev, "seq": seq, "timestamp": ts,
        "prevHash": b[23 + n:55 + n], "nonce": b[55 + n:67 + n],
        "ctLen": ct_len, "ctHash": b[71 + n:103 + n],
    }, hlen


def parse_envelope(b):
    """Checks 1-9: a whole envelope. Returns (fields, header bytes, ciphertext) or (None, code, None)."""
    h, hlen = parse_header(b)
    if h is None:
        return None, hlen, None
    if len(b) != hlen + h["ctLen"]:
        return None, "length-mismatch", None
    return h, b[:hlen], b[hlen:]


# ------------------------------------------------------------------------------------------ merkle (§3.3)


def node(a, b):
    return sha256(b"\x01" + a + b)


def verify_inclusion(index, size, leaf, proof, root):
    if size < 1:
        return "size-out-of-range"
    if index >= size:
        return "index-out-of-range"
    if len(leaf) != 32 or len(root) != 32 or any(len(p) != 32 for p in proof):
        return "bad-hash-length"
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return "proof-too-long"
        if fn & 1 == 1 or fn == sn:
            r = node(p, r)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return "proof-too-short"
    if r != root:
        return "root-mismatch"
    return None


# ------------------------------------------------------------------------------------------ chain (§4)


def decode_anchor_payload(b):
    if b is None or len(b) != 45 or b[0:4] != b"IOTA" or b[4] != 1:
        return None
    size = int.from_bytes(b[37:45], "big")
    if size > MAX_INT:
        return None
    return b[5:37], size


def check_ledger_entry(e, public_key):
    """§4.2. None if the entry verifies, else a code."""
    prev, data = hexdecode(e["prev"]), hexdecode(e["data"])
    if prev is None or len(prev) != 32 or data is None:
        return "malformed-entry"
    msg = (b"IOTN-LEDGER-1" + e["height"].to_bytes(8, "big") + e["time"].to_bytes(8, "big") + prev
           + len(data).to_bytes(4, "big") + data)
    h = sha256(msg)
    if hexdecode(e["hash"]) != h:
        return "entry-hash-mismatch"
    sig = b64decode(e["sig"])
    if sig is None or len(sig) != 64 or public_key is None or len(public_key) != 32:
        return "malformed-entry"
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, h)
    except InvalidSignature:
        return "bad-signature"
    return None


# ------------------------------------------------------------------------------------------ procedure (§3)


def verify(bundle, envelope=None, trusted_keys=None, required_confirmations=1):
    reasons = []  # (severity, code, message)
    checks = {"header": "ok", "object": "not-checked", "inclusion": "pending", "anchors": []}
    rec = bundle["record"]

    # 3.1 header
    header = b64decode(rec["header"])
    fields, hlen = parse_header(header) if header is not None else (None, None)
    record_hash = None
    if header is None or fields is None or hlen != len(header):
        checks["header"] = "invalid"
        reasons.append(("tampered", "header-malformed", "record.header is not exactly one v1 header"))
    else:
        record_hash = sha256(b"\x00" + header)
        if record_hash.hex() != rec["recordHash"]:
            checks["header"] = "invalid"
            reasons.append(("tampered", "record-hash-mismatch", "SHA-256(0x00 | header) != record.recordHash"))
        if (rec["recordId"] != f"{fields['deviceId']}.{fields['seq']}"
                or fields["deviceId"] != rec["deviceId"] or fields["seq"] != rec["seq"]
                or fields["timestamp"] != rec["timestamp"]
                or fields["ctHash"].hex() != rec["ciphertextSha256"]
                or fields["prevHash"].hex() != rec["prevHash"]):
            checks["header"] = "invalid"
            reasons.append(("tampered", "record-fields-mismatch", "record fields differ from the header's"))

    # 3.2 stored object
    if envelope is not None:
        env, env_header, ciphertext = parse_envelope(envelope)
        if env is None:
            checks["object"] = "mismatch"
            reasons.append(("tampered", "object-malformed", f"stored object is not an envelope: {env_header}"))
        elif header is None or env_header != header:
            checks["object"] = "mismatch"
            reasons.append(("tampered", "object-header-mismatch", "stored object has a different header"))
        elif sha256(ciphertext) != env["ctHash"]:
            checks["object"] = "mismatch"
            reasons.append(("tampered", "ciphertext-hash-mismatch", "stored ciphertext does not hash to ctHash"))
        else:
            checks["object"] = "ok"

    # 3.3 inclusion
    inc = bundle.get("inclusion")
    if inc is None:
        reasons.append(("pending", "not-yet-anchored", "the record is not yet in an anchored batch"))
    elif record_hash is not None:
        err = verify_inclusion(inc["leafIndex"], inc["treeSize"], record_hash,
                               [bytes.fromhex(p) for p in inc["path"]], bytes.fromhex(inc["root"]))
        if err is None:
            checks["inclusion"] = "ok"
        else:
            checks["inclusion"] = "invalid"
            reasons.append(("tampered", "inclusion-proof-invalid", f"inclusion proof fails ({err})"))
    else:
        checks["inclusion"] = "invalid"

    # 3.4 anchors (offline: no live lookups, so step 1 never applies)
    if inc is not None and len(bundle["anchors"]) == 0:
        reasons.append(("pending", "anchor-not-submitted", "the batch root is not on any chain yet"))
    for a in bundle["anchors"]:
        check = {"chainId": a["chainId"], "txId": a["txId"], "status": "ok"}
        # step 2: offline there is no lookup, so an anchor without evidence is only the bundle's claim
        if "evidence" not in a:
            check["status"] = "unconfirmed"
            reasons.append(("pending", "anchor-unchecked-offline", f"{a['txId']} carries no evidence"))
            checks["anchors"].append(check)
            continue
        payload = hexdecode(a["payload"])
        confirmations = a.get("confirmations")
        if confirmations is not None:
            check["confirmations"] = confirmations
        if a.get("height") is not None:
            check["height"] = a["height"]
        decoded = decode_anchor_payload(payload)
        if (decoded is None or inc is None or decoded[0].hex() != inc["root"]
                or decoded[1] != inc["treeSize"]):
            check["status"] = "mismatch"
            reasons.append(("tampered", "anchor-root-mismatch", f"{a['txId']} does not carry this root and size"))
        elif "evidence" in a:
            ev = a["evidence"]
            err = check_ledger_entry(ev["entry"], b64decode(ev["publicKey"]))
            if err is not None or ev["entry"]["hash"] != a["txId"] or ev["entry"]["data"] != payload.hex():
                check["status"] = "mismatch"
                reasons.append(("tampered", "ledger-entry-invalid",
                                f"ledger entry for {a['txId']} does not verify ({err or 'id or data differ'})"))
            elif trusted_keys is not None and ev["publicKey"] not in trusted_keys:
                check["status"] = "mismatch"
                reasons.append(("tampered", "untrusted-ledger-key", f"{a['chainId']} key is not trusted"))
        if check["status"] == "ok" and (confirmations or 0) < required_confirmations:
            check["status"] = "unconfirmed"
            reasons.append(("pending", "awaiting-confirmations",
                            f"{confirmations or 0} of {required_confirmations} confirmations"))
        checks["anchors"].append(check)

    # 3.5 status
    severities = {s for s, _, _ in reasons}
    status = next((s for s in ("tampered", "missing", "pending") if s in severities), "verified")
    return status, [{"code": c, "message": m} for _, c, m in reasons], checks


# ------------------------------------------------------------------------------------------ command line


def main(argv):
    ap = argparse.ArgumentParser(description="Verify an iot-notary.proof.v1 bundle offline.")
    ap.add_argument("bundle")
    ap.add_argument("--object")
    ap.add_argument("--trust-ledger-key", action="append")
    ap.add_argument("--json", action="store_true")
    try:
        args = ap.parse_args(argv)
    except SystemExit:
        return 2
    try:
        with open(args.bundle, "rb") as f:
            doc = validate(json.loads(f.read().decode("utf-8")))
        envelope = None
        if args.object is not None:
            with open(args.object, "rb") as f:
                envelope = f.read()
        for k in args.trust_ledger_key or []:
            key = b64decode(k)
            if key is None or len(key) != 32:
                raise NotABundle(f"--trust-ledger-key {k!r} is not 32 bytes of padded base64")
    except (OSError, UnicodeDecodeError, ValueError, NotABundle, binascii.Error) as e:
        print(f"verify_bundle: {e}", file=sys.stderr)
        return 2
    status, reasons, checks = verify(doc, envelope, args.trust_ledger_key)
    if args.json:
        print(json.dumps({"recordId": doc["record"]["recordId"], "status": status,
                          "reasons": reasons, "checks": checks}, indent=2))
    else:
        print(f"status     {status}")
        for k in ("header", "object", "inclusion"):
            print(f"  {k:<10} {checks[k]}")
        for a in checks["anchors"]:
            print(f"  anchor     {a['chainId']} tx {a['txId']}: {a['status']}")
        for r in reasons:
            print(f"  {r['code']}: {r['message']}")
        if args.trust_ledger_key is None and any("evidence" in a for a in doc["anchors"]):
            print("  warning: no --trust-ledger-key; the ledger signature was checked against the bundle's own key")
    return 0 if status == "verified" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
