# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Write the certificate-expiry textfile of one etcd cluster on this node (node_exporter textfile collector).

Run by roles/monitoring/tasks/certs.yml as ``python3 -c <this file> <json>``, standard library only. The argument
is a JSON object: ``cluster``, ``member``, ``textfile_dir`` and ``certs`` ({name: path}). For every certificate
file that exists it reads notAfter from the first PEM certificate (a minimal DER walk: Certificate ->
tbsCertificate -> validity) and writes ``etcdkit_<cluster>_certs.prom`` atomically (temporary file + rename), only
when the content changed. Prints JSON: changed, path, certs ({name: {path, not_after}}), missing.
"""
import base64
import calendar
import json
import os
import sys
import tempfile
import time


def _tlv(buf, pos):
    """(tag, content start, content end) of the DER element at pos."""
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def _time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    return calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S"))


def not_after(pem_text):
    """notAfter (Unix seconds) of the first certificate in a PEM text."""
    begin = pem_text.index("-----BEGIN CERTIFICATE-----") + len("-----BEGIN CERTIFICATE-----")
    end = pem_text.index("-----END CERTIFICATE-----", begin)
    der = base64.b64decode("".join(pem_text[begin:end].split()))
    start = _tlv(der, 0)[1]               # Certificate
    pos, tbs_end = _tlv(der, start)[1:]  # tbsCertificate
    if der[pos] == 0xA0:                  # [0] version
        pos = _tlv(der, pos)[2]
    for _field in ("serialNumber", "signature", "issuer"):
        pos = _tlv(der, pos)[2]
    tag, cstart, _cend = _tlv(der, pos)   # validity: SEQUENCE { notBefore, notAfter }
    nb_end = _tlv(der, cstart)[2]
    na_tag, na_start, na_end = _tlv(der, nb_end)
    if tag != 0x30 or na_tag not in (0x17, 0x18) or na_end > tbs_end:
        raise ValueError("not an X.509 certificate")
    return _time(na_tag, der[na_start:na_end])


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(cluster, member, found):
    lines = [
        "# HELP etcdkit_cert_expiry_timestamp_seconds notAfter of an etcd certificate on this node (Unix seconds).",
        "# TYPE etcdkit_cert_expiry_timestamp_seconds gauge",
    ]
    for name in sorted(found):
        lines.append('etcdkit_cert_expiry_timestamp_seconds{cluster="%s",member="%s",cert="%s",path="%s"} %d' % (
            _label(cluster), _label(member), _label(name), _label(found[name]["path"]), found[name]["not_after"]))
    return "\n".join(lines) + "\n"


def write_atomic(path, content):
    """Write content to path (temporary file in the same directory, fsync, rename); False when already equal."""
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == content:
                return False
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".etcdkit-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def main(argv):
    args = json.loads(argv[1])
    found, missing, errors = {}, [], {}
    for name, path in sorted(args["certs"].items()):
        try:
            with open(path, encoding="ascii") as f:
                found[name] = {"path": path, "not_after": not_after(f.read())}
        except FileNotFoundError:
            missing.append(path)
        except (OSError, ValueError, IndexError) as exc:
            errors[path] = str(exc)
    result = {"changed": False, "certs": found, "missing": missing, "errors": errors,
              "path": os.path.join(args["textfile_dir"], "etcdkit_%s_certs.prom" % args["cluster"])}
    if errors:
        print(json.dumps(result))
        return 1
    os.makedirs(args["textfile_dir"], mode=0o755, exist_ok=True)
    result["changed"] = write_atomic(result["path"], render(args["cluster"], args["member"], found))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
