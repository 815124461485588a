#!/usr/bin/env python3
"""Independent verifier of iot-notary proof bundles (formats v1 and v2) and completeness documents, written
only from docs/proof-bundle.md, docs/completeness.md, docs/device-keys.md and docs/envelope.md, to show those
documents are enough to verify without our code.

Needs Python 3.8+ and the `cryptography` package (pip install cryptography) for Ed25519, ECDSA P-256 and the
ledger's Ed25519 signatures. tests/tools/verify-bundle-py.test.ts runs it over valid and altered bundles and
documents and requires the same verdicts as lib/core (checkProofBundle, checkCompleteness).

usage: verify_bundle.py FILE... [--object ENVELOPE.bin] [--trust-ledger-key BASE64]...
                        [--trust-device-key KEYID | DEVICE=KEYID]... [--require-origin] [--json]
exit status (proof-bundle.md §5): 0 verified (a document: and complete), 1 tampered / missing / pending /
incomplete, 2 usage or unusable input, 3 unpinned, 4 not proven; with several files, the worst by that order.
With --json, one JSON object per file and line.

Offline only: no live chain lookups, so proof-bundle.md §3.4 step 2 applies to anchors without evidence.
"""
import argparse
import base64
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

FORMAT_V1 = "iot-notary.proof.v1"
FORMAT_V2 = "iot-notary.proof.v2"
FORMAT_DOC = "iot-notary.completeness.v1"
MAX_INT = 2**53 - 1
HEX32 = re.compile(r"[0-9a-f]{64}")
HEX = re.compile(r"(?:[0-9a-f]{2})*")
B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
CID = re.compile(r"[A-Za-z0-9]{1,128}")
ZERO32 = bytes(32)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Unusable(Exception):
    """The input is not a bundle or document of a known format (exit 2)."""


# ------------------------------------------------------------------------------------ encodings (envelope.md)


def b64decode(s):
    """Standard, padded, canonical base64 only; None for anything else."""
    if not isinstance(s, str) or not B64.fullmatch(s):
        return None
    b = base64.b64decode(s)
    return b if base64.b64encode(b).decode("ascii") == s else None


def hexdecode(s):
    if not isinstance(s, str) or not HEX.fullmatch(s):
        return None
    return bytes.fromhex(s)


def sha256(b):
    return hashlib.sha256(b).digest()


def is_record_object_key(key, device_id, record_hash_hex):
    """records/<deviceId>/<recordHash>, or the object of the record pack it came in:
    records/<deviceId>/packs/<64 lowercase hex> (docs/envelope.md §9.3)."""
    prefix = f"records/{device_id}/"
    if not key.startswith(prefix):
        return False
    rest = key[len(prefix):]
    return rest == record_hash_hex or re.fullmatch(r"packs/[0-9a-f]{64}", rest) is not None


def leaf_hash(b):
    return sha256(b"\x00" + b)


def u64(b, off):
    return int.from_bytes(b[off:off + 8], "big")


# ------------------------------------------------------------------------------------ schemas (§2, §8.1, completeness §2)


def _int(v, where, lo=0):
    # A JSON integer (1.0 is one, as in JavaScript); bool is an int subclass in Python and no number in JSON.
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not lo <= v <= MAX_INT:
        raise Unusable(f"{where}: must be an integer {lo}..2^53-1")
    return int(v)


def _str(v, where, pattern=None):
    if not isinstance(v, str) or (pattern is not None and not pattern.fullmatch(v)):
        raise Unusable(f"{where}: must be a string{' of the required form' if pattern else ''}")
    return v


def _obj(v, where, required, optional=()):
    if not isinstance(v, dict):
        raise Unusable(f"{where}: must be an object")
    unknown = set(v) - set(required) - set(optional)
    if unknown:
        raise Unusable(f"{where}: unknown field(s) {sorted(unknown)}")
    missing = [k for k in required if k not in v]
    if missing:
        raise Unusable(f"{where}: missing field(s) {missing}")
    return v


def _list(v, where, most=None):
    if not isinstance(v, list) or (most is not None and len(v) > most):
        raise Unusable(f"{where}: must be an array{f' of at most {most}' if most else ''}")
    return v


def _path(v, where):
    for i, p in enumerate(_list(v, where, 64)):
        _str(p, f"{where}.{i}", HEX32)


def _anchor(a, w):
    _obj(a, w, ["chainId", "txId", "payload"],
         ["height", "time", "confirmations", "evidence", "blockHash", "method", "requiredConfirmations"])
    _str(a["chainId"], f"{w}.chainId")
    _str(a["txId"], f"{w}.txId")
    _str(a["payload"], f"{w}.payload", HEX)
    for k in ("height", "time", "confirmations", "requiredConfirmations"):
        if k in a:
            _int(a[k], f"{w}.{k}")
    if "blockHash" in a and (not isinstance(a["blockHash"], str) or len(a["blockHash"]) > 130):
        raise Unusable(f"{w}.blockHash: a string of at most 130 characters")
    if "method" in a and a["method"] not in ("root", "inline"):
        raise Unusable(f"{w}.method: must be 'root' or 'inline'")
    if "evidence" in a:
        ev = _obj(a["evidence"], f"{w}.evidence", ["kind", "entry", "publicKey"])
        if ev["kind"] != "embedded-ledger":
            raise Unusable(f"{w}.evidence.kind: must be 'embedded-ledger'")
        _str(ev["publicKey"], f"{w}.evidence.publicKey")
        e = _obj(ev["entry"], f"{w}.evidence.entry", ["height", "time", "prev", "data", "hash", "sig"])
        _int(e["height"], f"{w}.evidence.entry.height")
        _int(e["time"], f"{w}.evidence.entry.time")
        _str(e["prev"], f"{w}.evidence.entry.prev", HEX32)
        _str(e["data"], f"{w}.evidence.entry.data", HEX)
        _str(e["hash"], f"{w}.evidence.entry.hash", HEX32)
        _str(e["sig"], f"{w}.evidence.entry.sig")


def _inclusion(inc, w, with_batch_id):
    _obj(inc, w, (["batchId"] if with_batch_id else []) + ["leafIndex", "treeSize", "path", "root"])
    if with_batch_id:
        _str(inc["batchId"], f"{w}.batchId")
    _int(inc["leafIndex"], f"{w}.leafIndex")
    _int(inc["treeSize"], f"{w}.treeSize")
    _path(inc["path"], f"{w}.path")
    _str(inc["root"], f"{w}.root", HEX32)


RECORD_FIELDS = ["recordId", "deviceId", "seq", "timestamp", "header", "recordHash", "ciphertextSha256", "prevHash",
                 "envelopeSize", "objectKey"]


def validate_bundle(doc):
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT_V1, FORMAT_V2):
        raise Unusable(f"format: must be {FORMAT_V1!r} or {FORMAT_V2!r}")
    v2 = doc["format"] == FORMAT_V2
    if v2:
        _obj(doc, "(root)", ["format", "record", "anchors"], ["inclusion", "origin"])
    else:
        _obj(doc, "(root)", ["format", "issuedAt", "record", "anchors"], ["inclusion"])
        _int(doc["issuedAt"], "issuedAt")
    rec = _obj(doc["record"], "record", RECORD_FIELDS, [] if v2 else ["ipfs"])
    for k in ("recordId", "deviceId", "header", "objectKey"):
        _str(rec[k], f"record.{k}")
    for k in ("recordHash", "ciphertextSha256", "prevHash"):
        _str(rec[k], f"record.{k}", HEX32)
    for k in ("seq", "timestamp", "envelopeSize"):
        _int(rec[k], f"record.{k}")
    if "ipfs" in rec:
        hot = _obj(rec["ipfs"], "record.ipfs", ["cid", "profile"])
        _str(hot["cid"], "record.ipfs.cid", CID)
        if hot["profile"] != "unixfs-v0-2015":
            raise Unusable("record.ipfs.profile: must be 'unixfs-v0-2015'")
    if "inclusion" in doc:
        _inclusion(doc["inclusion"], "inclusion", not v2)
    for i, a in enumerate(_list(doc["anchors"], "anchors")):
        _anchor(a, f"anchors.{i}")
    if "origin" in doc:
        origin = _obj(doc["origin"], "origin", ["keyEvents"])
        for i, item in enumerate(_list(origin["keyEvents"], "origin.keyEvents", 256)):
            w = f"origin.keyEvents.{i}"
            _obj(item, w, ["leaf", "anchors"], ["inclusion"])
            _str(item["leaf"], f"{w}.leaf")
            if "inclusion" in item:
                _inclusion(item["inclusion"], f"{w}.inclusion", False)
            for j, a in enumerate(_list(item["anchors"], f"{w}.anchors")):
                _anchor(a, f"{w}.anchors.{j}")
    return doc


def _item(item, w):
    _obj(item, w, ["leaf"], ["batchId", "leafIndex", "path"])
    _str(item["leaf"], f"{w}.leaf")
    if "batchId" in item:
        _str(item["batchId"], f"{w}.batchId", BATCH_ID)
    if "leafIndex" in item:
        _int(item["leafIndex"], f"{w}.leafIndex")
    if "path" in item:
        _path(item["path"], f"{w}.path")


def validate_document(doc):
    _obj(doc, "(root)", ["format", "deviceId", "range", "records", "keyEvents", "batches"], ["head"])
    if doc["format"] != FORMAT_DOC:
        raise Unusable(f"format: must be {FORMAT_DOC!r}")
    _str(doc["deviceId"], "deviceId", DEVICE_ID)
    rng = _obj(doc["range"], "range", ["fromSeq", "toSeq"])
    _int(rng["fromSeq"], "range.fromSeq")
    _int(rng["toSeq"], "range.toSeq", lo=-1)
    if "head" in doc:
        _item(doc["head"], "head")
    for i, it in enumerate(_list(doc["records"], "records", 10000)):
        _item(it, f"records.{i}")
    for i, it in enumerate(_list(doc["keyEvents"], "keyEvents", 256)):
        _item(it, f"keyEvents.{i}")
    if not isinstance(doc["batches"], dict):
        raise Unusable("batches: must be an object")
    for k, b in doc["batches"].items():
        if not BATCH_ID.fullmatch(k):
            raise Unusable(f"batches: {k!r} is not a batch id")
        _obj(b, f"batches.{k}", ["root", "treeSize", "anchors"])
        _str(b["root"], f"batches.{k}.root", HEX32)
        _int(b["treeSize"], f"batches.{k}.treeSize")
        for j, a in enumerate(_list(b["anchors"], f"batches.{k}.anchors")):
            _anchor(a, f"batches.{k}.anchors.{j}")
    if rng["toSeq"] - rng["fromSeq"] >= 10000:
        raise Unusable("range: a document covers at most 10000 sequence numbers")
    return doc


# ------------------------------------------------------------------------------------ envelope headers (envelope.md §5, §8)


def parse_header(b):
    """Checks 1-9 of envelope.md §5. Returns (fields, header_length) or (None, code)."""
    if len(b) < 7:
        return None, "envelope-truncated"
    if b[0:4] != b"IOTN":
        return None, "bad-magic"
    version = b[4]
    if version not in (1, 2):
        return None, "unsupported-version"
    if b[5] != 0:
        return None, "unsupported-flags"
    n = b[6]
    hlen = (103 if version == 1 else 200) + n
    if len(b) < hlen:
        return None, "envelope-truncated"
    dev = b[7:7 + n].decode("latin-1")
    if not DEVICE_ID.fullmatch(dev):
        return None, "bad-device-id"
    seq, ts = u64(b, 7 + n), u64(b, 15 + n)
    if seq > MAX_INT or ts > MAX_INT:
        return None, "field-out-of-range"
    off = 55 + n
    h = {"version": version, "deviceId": dev, "seq": seq, "timestamp": ts, "prevHash": b[23 + n:55 + n]}
    if version == 2:
        if b[off] not in (1, 2):
            return None, "unsupported-algorithm"
        h["sigAlg"], h["keyId"] = b[off], b[off + 1:off + 33]
        off += 33
    off += 12  # nonce
    h["ctLen"] = int.from_bytes(b[off:off + 4], "big")
    h["ctHash"] = b[off + 4:off + 36]
    if version == 2:
        h["sig"] = b[off + 36:off + 100]
    if h["ctLen"] < 16:
        return None, "field-out-of-range"
    return h, hlen


def parse_envelope(b):
    """Checks 1-10: a whole envelope. Returns (fields, header bytes, ciphertext) or (None, code, None)."""
    h, hlen = parse_header(b)
    if h is None:
        return None, hlen, None
    if len(b) != hlen + h["ctLen"]:
        return None, "length-mismatch", None
    return h, b[:hlen], b[hlen:]


# ------------------------------------------------------------------------------------ device keys (device-keys.md §1-§2)

ED_P = 2**255 - 19
ED_D = (-121665 * pow(121666, ED_P - 2, ED_P)) % ED_P


def _ed_decode(b):
    """RFC 8032 §5.1.3, strict: None unless a canonical encoding of a curve point."""
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    if y >= ED_P:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    if x2 == 0:
        return None if sign else (0, y)
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P != 0:
        x = x * pow(2, (ED_P - 1) // 4, ED_P) % ED_P
    if (x * x - x2) % ED_P != 0:
        return None
    if x & 1 != sign:
        x = ED_P - x
    return (x, y)


def _ed_add(p, q):
    (x1, y1), (x2, y2) = p, q
    t = ED_D * x1 * x2 * y1 * y2 % ED_P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, ED_P - 2, ED_P) % ED_P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, ED_P - 2, ED_P) % ED_P
    return (x3, y3)


def valid_public_key(alg, pk):
    """device-keys.md §1: valid and in normalised form."""
    if alg == 1:
        if len(pk) != 32:
            return False
        pt = _ed_decode(pk)
        if pt is None:
            return False
        for _ in range(3):  # [8]P: the identity means a point of small order
            pt = _ed_add(pt, pt)
        return pt != (0, 1)
    if len(pk) != 33 or pk[0] not in (2, 3):
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk)
        return True
    except ValueError:
        return False


def key_id(alg, pk):
    return sha256(bytes([alg]) + pk)


def device_verify(alg, pk, d, sig):
    """device-keys.md §2 DeviceVerify."""
    if len(d) != 32 or len(sig) != 64 or not valid_public_key(alg, pk):
        return False
    try:
        if alg == 1:
            Ed25519PublicKey.from_public_bytes(pk).verify(sig, d)
            return True
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        if not (1 <= r < P256_N and 1 <= s <= P256_N // 2):
            return False
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk)
        key.verify(encode_dss_signature(r, s), d, ec.ECDSA(hashes.SHA256()))  # signs SHA-256(d)
        return True
    except (InvalidSignature, ValueError):
        return False


def parse_key_event(b):
    """device-keys.md §3.1. Returns a dict or None."""
    if len(b) < 7 or b[0:4] != b"IOTK" or b[4] != 1 or b[5] not in (1, 2, 3):
        return None
    typ, n = b[5], b[6]
    if len(b) < 16 + n:
        return None
    dev = b[7:7 + n].decode("latin-1")
    if not DEVICE_ID.fullmatch(dev):
        return None
    time, alg = u64(b, 7 + n), b[15 + n]
    if time > MAX_INT or alg not in (1, 2):
        return None
    k = 32 if alg == 1 else 33
    size = 16 + n + k + {1: 0, 2: 160, 3: 1}[typ]
    if len(b) != size:
        return None
    pk = b[16 + n:16 + n + k]
    if not valid_public_key(alg, pk):
        return None
    e = {"type": {1: "register", 2: "rotate", 3: "revoke"}[typ], "deviceId": dev, "alg": alg, "publicKey": pk,
         "keyId": key_id(alg, pk)}
    tail = 16 + n + k
    if typ == 3:
        if b[tail] > 3:
            return None
    if typ == 2:
        e["oldKeyId"] = b[tail:tail + 32]
        e["oldSig"] = b[tail + 32:tail + 96]
        e["newSig"] = b[tail + 96:tail + 160]
        e["digest"] = sha256(b[:tail + 32])
    return e


def parse_head(b):
    """device-keys.md §4. Returns a dict or None."""
    if len(b) < 6 or b[0:4] != b"IOTH" or b[4] != 1:
        return None
    n = b[5]
    if len(b) < 6 + n:
        return None
    dev = b[6:6 + n].decode("latin-1")
    if not DEVICE_ID.fullmatch(dev) or len(b) != 151 + n:
        return None
    count, last, time, alg = u64(b, 6 + n), b[14 + n:46 + n], u64(b, 46 + n), b[54 + n]
    if count > MAX_INT or time > MAX_INT or (count == 0 and last != ZERO32) or alg not in (1, 2):
        return None
    return {"deviceId": dev, "count": count, "lastHash": last, "sigAlg": alg, "keyId": b[55 + n:87 + n],
            "sig": b[87 + n:151 + n], "digest": sha256(b[:87 + n])}


# ------------------------------------------------------------------------------------ merkle (proof-bundle.md §3.3)


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


def inclusion_error(leaf_bytes, inc, root_hex=None, size=None):
    return verify_inclusion(inc["leafIndex"], inc["treeSize"] if size is None else size, leaf_hash(leaf_bytes),
                            [bytes.fromhex(p) for p in inc["path"]], bytes.fromhex(root_hex or inc["root"]))


# ------------------------------------------------------------------------------------ chain data (proof-bundle.md §4)


def decode_anchor_payload(b):
    if b is None or len(b) != 45 or b[0:4] != b"IOTA" or b[4] != 1:
        return None
    size = u64(b, 37)
    return None if size > MAX_INT else (b[5:37], size)


def decode_inline(b):
    """§4.5: the envelopes of an inline packet, or None."""
    if b is None or len(b) < 6 or b[0:4] != b"IOTI" or b[4] != 1 or b[5] == 0:
        return None
    envs, off = [], 6
    for _ in range(b[5]):
        if off + 4 > len(b):
            return None
        n = int.from_bytes(b[off:off + 4], "big")
        off += 4
        if n > len(b) - off:
            return None
        env = b[off:off + n]
        if parse_envelope(env)[0] is None:
            return None
        envs.append(env)
        off += n
    return envs if off == len(b) else None


def check_ledger_entry(e, public_key):
    """§4.2. None if the entry verifies, else a code."""
    prev, data = hexdecode(e["prev"]), hexdecode(e["data"])
    if prev is None or len(prev) != 32 or data is None:
        return "malformed-entry"
    h = sha256(b"IOTN-LEDGER-1" + e["height"].to_bytes(8, "big") + e["time"].to_bytes(8, "big") + prev
               + len(data).to_bytes(4, "big") + data)
    if hexdecode(e["hash"]) != h:
        return "entry-hash-mismatch"
    sig = b64decode(e["sig"])
    if sig is None or len(sig) != 64 or public_key is None or len(public_key) != 32:
        return "malformed-entry"
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, h)
    except (InvalidSignature, ValueError):
        return "bad-signature"
    return None


def chain_id_of(public_key):
    return "embedded:" + sha256(public_key).hex()[:16]


def check_anchor(a, root, tree_size, record_header, v2, trusted, add, label=""):
    """§3.4 steps 2-8, offline (no live lookups). Returns the anchor's check."""
    of = f" ({label})" if label else ""
    check = {"chainId": a["chainId"], "txId": a["txId"], "method": a.get("method", "root"), "status": "ok"}
    if "evidence" not in a:
        check["status"] = "unconfirmed"
        add("pending", "anchor-unchecked-offline", f"{a['chainId']} tx {a['txId']}{of} carries no evidence")
        return check
    ev = a["evidence"]
    payload = hexdecode(a["payload"])
    confirmations = a.get("confirmations")
    height = ev["entry"]["height"] if v2 else a.get("height")
    if confirmations is not None:
        check["confirmations"] = confirmations
    if height is not None:
        check["height"] = height
    if a.get("blockHash") is not None:
        check["blockHash"] = a["blockHash"]
    check["time"] = ev["entry"]["time"]
    # What the payload is decides (its magic, §4.5), not the bundle's claim: a packet that does not decode is
    # neither an inline packet nor an anchor payload.
    envs = decode_inline(payload)
    if envs is not None or a.get("method") == "inline":
        check["method"] = "inline"
        found = envs is not None and a.get("method") != "root" and record_header is not None and any(
            parse_envelope(e)[0] is not None and parse_envelope(e)[1] == record_header
            and sha256(parse_envelope(e)[2]) == parse_envelope(e)[0]["ctHash"] for e in envs)
        if not found:
            check["status"] = "mismatch"
            add("tampered", "inline-record-not-found", f"{a['txId']}{of} does not carry this record's envelope")
    else:
        decoded = decode_anchor_payload(payload)
        if decoded is None or root is None or decoded[0].hex() != root or decoded[1] != tree_size:
            check["status"] = "mismatch"
            add("tampered", "anchor-root-mismatch", f"{a['txId']}{of} does not carry this batch's root and size")
    trust = "unpinned"
    if check["status"] == "ok":
        key = b64decode(ev["publicKey"])
        err = check_ledger_entry(ev["entry"], key) if key is not None else "malformed-entry"
        if err is not None or ev["entry"]["hash"] != a["txId"] or ev["entry"]["data"] != payload.hex():
            check["status"] = "mismatch"
            add("tampered", "ledger-entry-invalid", f"ledger entry for {a['txId']}{of} does not verify")
        elif a["chainId"] != chain_id_of(key):
            check["status"] = "mismatch"
            add("tampered", "chain-id-mismatch", f"{a['chainId']}{of} is not its ledger key's chain id")
        elif trusted is not None and ev["publicKey"] not in trusted:
            check["status"] = "mismatch"
            add("tampered", "untrusted-ledger-key", f"{a['chainId']}{of}: ledger key not trusted")
        elif v2 and (any(k in a for k in ("confirmations", "requiredConfirmations", "blockHash"))
                     or a.get("height", ev["entry"]["height"]) != ev["entry"]["height"]
                     or a.get("time", ev["entry"]["time"]) != ev["entry"]["time"]):
            check["status"] = "mismatch"
            add("tampered", "anchor-fields-mismatch", f"{a['txId']}{of}: fields the entry does not back")
        elif trusted is not None:
            trust = "pinned"
    if not v2:  # step 6; a v2 entry is final by construction
        required = a.get("requiredConfirmations", 1)
        check["requiredConfirmations"] = required
        if check["status"] == "ok" and (confirmations or 0) < required:
            check["status"] = "unconfirmed"
            add("pending", "awaiting-confirmations", f"{confirmations or 0} of {required} confirmations")
    if check["status"] == "ok":
        check["trust"] = trust
        if trust == "unpinned":
            add("unpinned", "ledger-key-unpinned", f"{a['chainId']}{of}: checked only against the proof's own key")
    return check


def positions_of(anchor_checks, root, leaf_index):
    return [(c["chainId"], c["height"], root, leaf_index) for c in anchor_checks
            if c["status"] == "ok" and c["method"] == "root" and c.get("height") is not None]


# ------------------------------------------------------------------------------------ origin (device-keys.md §5-§6)


def precedes(a, b):
    return any(pa[0] == pb[0] and (pa[3] < pb[3] if pa[2] == pb[2] else pa[1] < pb[1]) for pa in a for pb in b)


INVALID_CODES = {"algorithm-mismatch", "signature-invalid", "rotation-signature-invalid", "key-revoked"}


def judge_origin(device_id, sig, digest, positions, events, pins):
    """device-keys.md §6.1. `sig` is (alg, keyId, sig) or None; events are (event, positions)."""
    if sig is None:
        return {"verdict": "not-proven", "reasons": [{"code": "unsigned-record", "message": "unsigned"}]}
    reasons = []

    def add(code, message):
        reasons.append({"code": code, "message": message})

    alg, kid, s = sig
    pinned = {p["keyId"] for p in pins if p.get("deviceId") in (None, device_id)}
    mine = [(e, pos) for e, pos in events if e["deviceId"] == device_id]

    def introducing(k):
        return next(((e, pos) for e, pos in mine if e["type"] != "revoke" and e["keyId"].hex() == k), None)

    def retiring(k):
        return [(e, pos) for e, pos in mine if (e["type"] == "revoke" and e["keyId"].hex() == k)
                or (e["type"] == "rotate" and e["oldKeyId"].hex() == k)]

    def not_retired(k, use, except_event=None):
        for e, pos in retiring(k):
            if e is except_event:
                continue
            if not pos:
                add("key-evidence-pending", f"an event retiring key {k} is not anchored yet")
            elif not precedes(use, pos):
                add("key-revoked", f"key {k} was retired before it signed")

    key = kid.hex()
    link = introducing(key)
    if link is None:
        add("key-evidence-absent", f"no key event introduces {key}")
        return {"verdict": "not-proven", "reasons": reasons, "keyId": key}
    if link[0]["alg"] != alg:
        add("algorithm-mismatch", "the leaf names another algorithm")
    elif not device_verify(alg, link[0]["publicKey"], digest, s):
        add("signature-invalid", f"the signature does not verify with key {key}")
    not_retired(key, positions)
    later, reached, seen = positions, None, set()
    while True:
        e, pos = link
        k = e["keyId"].hex()
        if k in pinned:
            reached = k
            break
        if k in seen:
            add("key-chain-incomplete", "the key chain loops")
            break
        seen.add(k)
        if not pos:
            add("key-evidence-pending", f"the {e['type']} event of key {k} is not anchored yet")
            break
        if not precedes(pos, later):
            add("key-not-registered-before", f"the {e['type']} event of key {k} is not before its use")
        if e["type"] != "rotate":
            break
        old = e["oldKeyId"].hex()
        o = introducing(old)
        if o is None:
            add("key-chain-incomplete", f"no key event introduces {old}")
            break
        if not (device_verify(e["alg"], e["publicKey"], e["digest"], e["newSig"])
                and device_verify(o[0]["alg"], o[0]["publicKey"], e["digest"], e["oldSig"])):
            add("rotation-signature-invalid", f"the rotation to {k} is not signed by both keys")
        not_retired(old, pos, e)
        later, link = pos, o
    if any(r["code"] in INVALID_CODES for r in reasons):
        return {"verdict": "invalid", "reasons": reasons, "keyId": key}
    if reasons:
        return {"verdict": "not-proven", "reasons": reasons, "keyId": key}
    if reached is not None:
        return {"verdict": "proven", "reasons": [], "keyId": key, "pinnedKeyId": reached}
    if pinned:
        add("key-chain-unpinned", "the chain reaches no pinned key")
        return {"verdict": "not-proven", "reasons": reasons, "keyId": key}
    add("device-key-unpinned", "the chain starts at a registration: the operator's word")
    return {"verdict": "unpinned", "reasons": reasons, "keyId": key}


# ------------------------------------------------------------------------------------ bundles (proof-bundle.md §3, §8)

SEVERITIES = ("tampered", "missing", "pending", "unpinned")


def status_of(reasons):
    return next((s for s in SEVERITIES if any(r[0] == s for r in reasons)), "verified")


def verify_bundle(bundle, envelope=None, trusted=None, pins=()):
    v2 = bundle["format"] == FORMAT_V2
    reasons = []

    def add(severity, code, message):
        reasons.append((severity, code, message))

    checks = {"header": "ok", "object": "not-checked", "inclusion": "pending", "anchors": []}
    rec = bundle["record"]

    # 3.1 header (v2: either version, and envelopeSize / objectKey are checked too)
    header = b64decode(rec["header"])
    fields, hlen = parse_header(header) if header is not None else (None, None)
    record_hash = None
    if header is None or fields is None or hlen != len(header) or (not v2 and fields["version"] != 1):
        checks["header"] = "invalid"
        fields = None
        add("tampered", "header-malformed", "record.header is not exactly one envelope header")
    else:
        record_hash = leaf_hash(header)
        if record_hash.hex() != rec["recordHash"]:
            checks["header"] = "invalid"
            add("tampered", "record-hash-mismatch", "SHA-256(0x00 | header) != record.recordHash")
        if (rec["recordId"] != f"{fields['deviceId']}.{fields['seq']}" or fields["deviceId"] != rec["deviceId"]
                or fields["seq"] != rec["seq"] or fields["timestamp"] != rec["timestamp"]
                or fields["ctHash"].hex() != rec["ciphertextSha256"] or fields["prevHash"].hex() != rec["prevHash"]
                or (v2 and (rec["envelopeSize"] != len(header) + fields["ctLen"]
                            or not is_record_object_key(rec["objectKey"], fields["deviceId"], record_hash.hex())))):
            checks["header"] = "invalid"
            add("tampered", "record-fields-mismatch", "record fields differ from the header's")

    # 3.2 stored object
    if envelope is not None:
        env, env_header, ciphertext = parse_envelope(envelope)
        if env is None:
            checks["object"] = "mismatch"
            add("tampered", "object-malformed", f"stored object is not an envelope: {env_header}")
        elif header is None or env_header != header:
            checks["object"] = "mismatch"
            add("tampered", "object-header-mismatch", "stored object has a different header")
        elif sha256(ciphertext) != env["ctHash"]:
            checks["object"] = "mismatch"
            add("tampered", "ciphertext-hash-mismatch", "stored ciphertext does not hash to ctHash")
        else:
            checks["object"] = "ok"

    # 3.3 inclusion
    inc = bundle.get("inclusion")
    if inc is None:
        add("pending", "not-yet-anchored", "the record is not yet in an anchored batch")
    elif record_hash is not None:
        err = inclusion_error(header, inc)
        checks["inclusion"] = "ok" if err is None else "invalid"
        if err is not None:
            add("tampered", "inclusion-proof-invalid", f"inclusion proof fails ({err})")
    else:
        checks["inclusion"] = "invalid"

    # 3.4 anchors
    if inc is not None and not bundle["anchors"]:
        add("pending", "anchor-not-submitted", "the batch root is not on any chain yet")
    for a in bundle["anchors"]:
        checks["anchors"].append(check_anchor(a, inc["root"] if inc else None, inc["treeSize"] if inc else None,
                                              header, v2, trusted, add))

    # 8.4-8.5 origin
    positions = positions_of(checks["anchors"], inc["root"], inc["leafIndex"]) \
        if inc is not None and checks["inclusion"] == "ok" else []
    if fields is None:
        origin = {"verdict": "not-proven", "reasons": [{"code": "header-malformed", "message": "no header"}]}
    elif not v2 or fields["version"] == 1:
        if v2 and "origin" in bundle:
            add("tampered", "origin-unexpected", "an unsigned record has no key events to carry")
        origin = judge_origin(fields["deviceId"], None, None, [], [], pins)
    elif "origin" not in bundle:
        origin = {"verdict": "not-proven", "keyId": fields["keyId"].hex(),
                  "reasons": [{"code": "key-evidence-absent", "message": "the bundle carries no key events"}]}
    else:
        events = []
        checks["keyEvents"] = []
        for i, item in enumerate(bundle["origin"]["keyEvents"]):
            label = f"key event {i}"
            c = {"leaf": "ok", "inclusion": "pending", "anchors": []}
            checks["keyEvents"].append(c)
            leaf = b64decode(item["leaf"])
            e = parse_key_event(leaf) if leaf is not None else None
            if e is None or e["deviceId"] != fields["deviceId"]:
                c["leaf"] = "invalid"
                add("tampered", "key-event-malformed", f"{label} is not a key event of the record's device")
            else:
                c["type"], c["keyId"] = e["type"], e["keyId"].hex()
            ii = item.get("inclusion")
            if ii is None:
                add("pending", "key-event-not-anchored", f"{label} is not in a batch yet")
            elif c["leaf"] == "ok":
                err = inclusion_error(leaf, ii)
                c["inclusion"] = "ok" if err is None else "invalid"
                if err is not None:
                    add("tampered", "key-event-inclusion-invalid", f"{label}: inclusion proof fails ({err})")
            else:
                c["inclusion"] = "invalid"
            if ii is not None and not item["anchors"]:
                add("pending", "anchor-not-submitted", f"{label}: its batch root is not on any chain yet")
            for a in item["anchors"]:
                c["anchors"].append(check_anchor(a, ii["root"] if ii else None, ii["treeSize"] if ii else None,
                                                 None, True, trusted, add, label))
            if c["leaf"] == "ok":
                pos = positions_of(c["anchors"], ii["root"], ii["leafIndex"]) \
                    if ii is not None and c["inclusion"] == "ok" else []
                events.append((e, pos))
        origin = judge_origin(fields["deviceId"], (fields["sigAlg"], fields["keyId"], fields["sig"]),
                              sha256(header[:-64]), positions, events, pins)
        if origin["verdict"] == "invalid":
            for r in origin["reasons"]:
                add("tampered", r["code"], f"origin: {r['message']}")

    # 3.7 what is proven
    if checks["header"] == "invalid" or checks["inclusion"] == "invalid" or checks["object"] == "mismatch":
        integrity = "invalid"
    elif checks["inclusion"] == "pending" or checks["object"] == "missing":
        integrity = "not-proven"
    else:
        integrity = "proven"
    counting = [c for c in checks["anchors"] if c["status"] == "ok" and checks["header"] == "ok"
                and (c["method"] == "inline" or checks["inclusion"] == "ok")]
    trusted_ones = [c for c in counting if c.get("trust") != "unpinned"]

    def best(cs):
        m = None
        for c in cs:
            if m is None or (c.get("time") is not None and (m.get("time") is None or c["time"] < m["time"])):
                m = c
        return m

    pick = best(trusted_ones) or best(counting)
    existence = {"verdict": "not-proven"}
    if pick is not None:
        existence = {"verdict": "proven" if trusted_ones else "unpinned", "chainId": pick["chainId"]}
        if pick.get("time") is not None:
            existence["notAfter"] = pick["time"]
    return {
        "status": status_of(reasons),
        "reasons": [{"code": c, "message": m} for _, c, m in reasons],
        "checks": checks,
        "proven": {"integrity": integrity, "existence": existence, "origin": origin,
                   "completeness": {"verdict": "not-covered"}},
    }


# ------------------------------------------------------------------------------------ completeness (completeness.md §3)


def verify_document(doc, trusted=None, pins=()):
    reasons = []

    def add(severity, code, message):
        reasons.append((severity, code, message))

    device, from_seq, to_seq = doc["deviceId"], doc["range"]["fromSeq"], doc["range"]["toSeq"]
    # 1. batches
    batch_checks, referenced = {}, set()
    for bid, b in doc["batches"].items():
        if not b["anchors"]:
            add("pending", "anchor-not-submitted", f"batch {bid}: not on any chain yet")
        batch_checks[bid] = [check_anchor(a, b["root"], b["treeSize"], None, True, trusted, add, f"batch {bid}")
                             for a in b["anchors"]]

    # 2. leaves
    def place(item, kind, label):
        leaf = b64decode(item["leaf"])
        parsed = None
        if leaf is not None:
            if kind == "key-event":
                parsed = parse_key_event(leaf)
            elif kind == "head":
                parsed = parse_head(leaf)
            else:
                h, hlen = parse_header(leaf)
                parsed = h if h is not None and hlen == len(leaf) else None
        if parsed is None or parsed["deviceId"] != device:
            add("tampered", "leaf-malformed", f"{label} is not a {kind} leaf of device {device}")
            return None
        parts = [k for k in ("batchId", "leafIndex", "path") if k in item]
        if not parts:
            add("pending", "not-yet-anchored", f"{label} is not in a batch yet")
            return parsed, leaf, [], "queued"
        if "batchId" in item:
            referenced.add(item["batchId"])
        b = doc["batches"].get(item["batchId"]) if "batchId" in item else None
        if len(parts) != 3 or b is None:
            add("tampered", "batch-missing", f"{label} names no batch of the document")
            return parsed, leaf, [], "invalid"
        err = inclusion_error(leaf, item, b["root"], b["treeSize"])
        if err is not None:
            add("tampered", "inclusion-proof-invalid", f"{label}: inclusion proof fails ({err})")
            return parsed, leaf, [], "invalid"
        return parsed, leaf, positions_of(batch_checks[item["batchId"]], b["root"], item["leafIndex"]), "anchored"

    events = []
    for i, it in enumerate(doc["keyEvents"]):
        p = place(it, "key-event", f"key event {i}")
        if p is not None:
            events.append((p[0], p[2]))
    records = []
    for i, it in enumerate(doc["records"]):
        p = place(it, "record", f"record {i}")
        if p is not None:
            records.append(p)
    head_placed = place(doc["head"], "head", "the head") if "head" in doc else None
    for bid in doc["batches"]:
        if bid not in referenced:
            add("tampered", "batch-unreferenced", f"batch {bid} holds no leaf of the document")

    # 3. range
    seqs = [r[0]["seq"] for r in records]
    if any(seqs[i] <= seqs[i - 1] for i in range(1, len(seqs))):
        add("tampered", "records-out-of-order", "records are not strictly in sequence order")
    if any(s < from_seq or s > to_seq for s in seqs):
        add("tampered", "record-out-of-range", "a record lies outside the range")
    head = head_placed[0] if head_placed is not None else None
    expected = head["count"] - 1 if head is not None else (seqs[-1] if seqs else from_seq - 1)
    if to_seq != expected or to_seq < from_seq - 1:
        add("tampered", "range-mismatch", f"range.toSeq should be {expected}")

    # 4. origins
    origins = {"proven": 0, "unpinned": 0, "not-proven": 0, "invalid": 0, "unsigned": 0}
    invalid_origins = []
    for h, leaf, pos, _ in records:
        if h["version"] == 1:
            origins["unsigned"] += 1
            continue
        o = judge_origin(device, (h["sigAlg"], h["keyId"], h["sig"]), sha256(leaf[:-64]), pos, events, pins)
        origins[o["verdict"]] += 1
        if o["verdict"] == "invalid":
            invalid_origins.append(h["seq"])
            add("tampered", "record-origin-invalid", f"record {h['seq']}")

    # 5. gaps
    by_seq = {r[0]["seq"]: r for r in records}
    missing, breaks, gap = [], [], None
    for s in range(from_seq, to_seq + 1):
        r = by_seq.get(s)
        if r is None:
            gap = s if gap is None else gap
            continue
        if gap is not None:
            missing.append({"fromSeq": gap, "toSeq": s - 1})
            gap = None
        prev = ZERO32 if s == 0 else (leaf_hash(by_seq[s - 1][1]) if s - 1 in by_seq else None)
        if prev is not None and prev != r[0]["prevHash"]:
            breaks.append({"seq": s, "prevHash": r[0]["prevHash"].hex(), "expectedPrevHash": prev.hex()})
    if gap is not None:
        missing.append({"fromSeq": gap, "toSeq": to_seq})
    for m in missing:
        add("missing", "record-missing", f"no record {m['fromSeq']}..{m['toSeq']}")
    for b in breaks:
        add("missing", "chain-break", f"record {b['seq']} does not link")

    # 6. head
    head_check = {"status": "absent"}
    if "head" in doc and head is None:
        head_check["status"] = "invalid"
    if head is not None:
        head_check["count"] = head["count"]
        o = judge_origin(device, (head["sigAlg"], head["keyId"], head["sig"]), head["digest"], head_placed[2],
                         events, pins)
        head_check["origin"] = o
        last = by_seq.get(head["count"] - 1)
        if o["verdict"] == "invalid":
            head_check["status"] = "invalid"
            add("tampered", "head-invalid", "the head's origin is invalid")
        elif head_placed[3] != "anchored":
            head_check["status"] = "pending" if head_placed[3] == "queued" else "invalid"
        elif head["count"] > 0 and last is not None and leaf_hash(last[1]) != head["lastHash"]:
            head_check["status"] = "mismatch"
            add("missing", "head-mismatch", "the head's lastHash is not the last record's hash")
        elif o["verdict"] == "not-proven":
            head_check["status"] = "unproven"
        else:
            head_check["status"] = "ok"
            if o["verdict"] == "unpinned":
                add("unpinned", "head-key-unpinned", "the head's key chain reaches no pinned device key")

    if missing or breaks or head_check["status"] == "mismatch":
        outcome = "incomplete"
    else:
        outcome = "complete" if head_check["status"] == "ok" else "unproven"
    evidence = [r for r in reasons if r[1] not in ("record-missing", "chain-break", "head-mismatch")]
    return {"status": status_of(evidence), "outcome": outcome, "deviceId": device,
            "range": {"fromSeq": from_seq, "toSeq": to_seq}, "missing": missing, "chainBreaks": breaks,
            "head": head_check, "origins": origins, "invalidOrigins": invalid_origins,
            "reasons": [{"code": c, "message": m} for _, c, m in reasons],
            "batches": {k: {"anchors": v} for k, v in batch_checks.items()}}


# ------------------------------------------------------------------------------------ command line (proof-bundle.md §5)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise Unusable(f"{path} is not JSON: {e}") from e
    if isinstance(doc, dict) and doc.get("format") == FORMAT_DOC:
        return "completeness", validate_document(doc)
    return "bundle", validate_bundle(doc)


def exit_for(kind, result, require_origin):
    if kind == "bundle":
        if result["status"] in ("tampered", "missing", "pending"):
            return 1
        if require_origin and result["proven"]["origin"]["verdict"] != "proven":
            return 4
        return 3 if result["status"] == "unpinned" else 0
    if result["status"] in ("tampered", "missing", "pending") or result["outcome"] == "incomplete":
        return 1
    if result["outcome"] == "unproven":
        return 4
    return 3 if result["status"] == "unpinned" else 0


def device_pin(text):
    dev, _, kid = text.rpartition("=")
    if not HEX32.fullmatch(kid) or (dev and not DEVICE_ID.fullmatch(dev)) or ("=" in text and not dev):
        raise Unusable(f"--trust-device-key {text!r} is not a key id or <deviceId>=<keyId>")
    return {"deviceId": dev, "keyId": kid} if dev else {"keyId": kid}


def main(argv):
    ap = argparse.ArgumentParser(description="Verify iot-notary proof bundles and completeness documents offline.")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--object")
    ap.add_argument("--trust-ledger-key", action="append")
    ap.add_argument("--trust-device-key", action="append", default=[])
    ap.add_argument("--require-origin", action="store_true")
    ap.add_argument("--json", action="store_true")
    try:
        args = ap.parse_args(argv)
    except SystemExit:
        return 2
    try:
        for k in args.trust_ledger_key or []:
            key = b64decode(k)
            if key is None or len(key) != 32:
                raise Unusable(f"--trust-ledger-key {k!r} is not 32 bytes of padded base64")
        pins = [device_pin(p) for p in args.trust_device_key]
        envelope = None
        if args.object is not None:
            if len(args.files) != 1:
                raise Unusable("--object goes with exactly one bundle")
            with open(args.object, "rb") as f:
                envelope = f.read()
    except (OSError, Unusable) as e:
        print(f"verify_bundle: {e}", file=sys.stderr)
        return 2
    codes = []
    for path in args.files:
        try:
            kind, doc = load(path)
        except (OSError, Unusable) as e:
            codes.append(2)
            if args.json:
                print(json.dumps({"file": path, "kind": "unusable", "exit": 2, "error": str(e)}))
            else:
                print(f"{path}: unusable: {e}")
            continue
        if kind == "bundle":
            result = verify_bundle(doc, envelope, args.trust_ledger_key, pins)
        else:
            result = verify_document(doc, args.trust_ledger_key, pins)
        code = exit_for(kind, result, args.require_origin)
        codes.append(code)
        if args.json:
            print(json.dumps({"file": path, "kind": kind, "exit": code, **result}))
        elif kind == "bundle":
            p = result["proven"]
            print(f"{path}: {doc['record']['recordId']} status {result['status']}, integrity {p['integrity']}, "
                  f"existence {p['existence']['verdict']}, origin {p['origin']['verdict']}")
            for r in result["reasons"]:
                print(f"  {r['code']}: {r['message']}")
        else:
            print(f"{path}: {result['deviceId']} {result['range']['fromSeq']}..{result['range']['toSeq']} "
                  f"status {result['status']}, outcome {result['outcome']}, head {result['head']['status']}")
            for r in result["reasons"]:
                print(f"  {r['code']}: {r['message']}")
    for worst in (2, 1, 4, 3):
        if worst in codes:
            return worst
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
