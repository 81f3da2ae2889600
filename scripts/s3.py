#!/usr/bin/env python3
"""Minimal S3 client (Python standard library only, AWS Signature V4).

Used by scripts/s3-server.sh to set up and check the local test S3 server,
and handy for poking at it by hand. Credentials and endpoint come from the
usual environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION, AWS_ENDPOINT_URL). Path-style addressing only.

Usage:
  s3.py ls                               list buckets
  s3.py mb BUCKET [--object-lock]        create a bucket (ok if it is ours)
  s3.py put BUCKET KEY [-d DATA|-f FILE] [-H 'Name: value']...
  s3.py get BUCKET KEY [-o FILE]
  s3.py head BUCKET KEY
  s3.py rm BUCKET KEY
  s3.py du BUCKET PREFIX                 bytes and objects below PREFIX/
  s3.py rm-prefix BUCKET PREFIX          delete every object below PREFIX/
  s3.py req METHOD PATH [-q QUERY] [-d DATA] [-H 'Name: value']...
                                         raw request, prints status+headers+body
  s3.py selftest BUCKET                  PUT/GET round trip + conditional PUT

Exit status: 0 on a 2xx answer, 1 otherwise (req: 0 whatever the status).
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import urllib.parse
import uuid


def _env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"s3.py: {name} is not set")
    return value


def _quote(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


class S3:
    def __init__(self):
        self.access = _env("AWS_ACCESS_KEY_ID")
        self.secret = _env("AWS_SECRET_ACCESS_KEY")
        self.region = os.environ.get("AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION", "us-east-1"
        )
        endpoint = _env("AWS_ENDPOINT_URL", "http://127.0.0.1:7480")
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https"):
            sys.exit(f"s3.py: bad AWS_ENDPOINT_URL {endpoint!r}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        default_port = (u.scheme == "http" and self.port == 80) or (
            u.scheme == "https" and self.port == 443
        )
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self.timeout = float(os.environ.get("ARCA_S3_CLIENT_TIMEOUT", "30"))

    def _sign(self, key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    def request(self, method, path, query=None, headers=None, body=b""):
        """Send one signed request. Returns (status, headers dict, body bytes)."""
        query = query or {}
        headers = {k.lower(): str(v).strip() for k, v in (headers or {}).items()}
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date = now.strftime("%Y%m%d")
        payload_hash = hashlib.sha256(body).hexdigest()
        headers["host"] = self.host_header
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        if body:
            headers["content-length"] = str(len(body))

        canonical_uri = _quote(path, safe="/-_.~")
        canonical_query = "&".join(
            f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items())
        )
        signed = sorted(headers)
        canonical_headers = "".join(f"{h}:{headers[h]}\n" for h in signed)
        signed_headers = ";".join(signed)
        canonical_request = "\n".join(
            [
                method,
                canonical_uri,
                canonical_query,
                canonical_headers,
                signed_headers,
                payload_hash,
            ]
        )
        scope = f"{date}/{self.region}/s3/aws4_request"
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                amz_date,
                scope,
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        k = self._sign(("AWS4" + self.secret).encode(), date)
        k = self._sign(k, self.region)
        k = self._sign(k, "s3")
        k = self._sign(k, "aws4_request")
        signature = hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )

        conn_cls = (
            http.client.HTTPSConnection
            if self.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = conn_cls(self.host, self.port, timeout=self.timeout)
        try:
            url = canonical_uri + (("?" + canonical_query) if canonical_query else "")
            conn.request(method, url, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()


def _obj_path(bucket, key=None):
    return f"/{bucket}" + (f"/{key}" if key is not None else "")


def _headers(pairs):
    out = {}
    for p in pairs or []:
        name, sep, value = p.partition(":")
        if not sep:
            sys.exit(f"s3.py: bad header {p!r}, want 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def _body(args):
    if getattr(args, "file", None):
        with open(args.file, "rb") as f:
            return f.read()
    if getattr(args, "data", None) is not None:
        return args.data.encode()
    return b""


def _fail(status, body):
    sys.stderr.write(f"HTTP {status}\n{body.decode(errors='replace')}\n")
    return 1


def cmd_ls(s3, args):
    status, _, body = s3.request("GET", "/")
    if status // 100 != 2:
        return _fail(status, body)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)
    for el in root.iter():
        if el.tag.endswith("}Name") or el.tag == "Name":
            print(el.text)
    return 0


def cmd_mb(s3, args):
    headers = {}
    if args.object_lock:
        headers["x-amz-bucket-object-lock-enabled"] = "true"
    status, _, body = s3.request("PUT", _obj_path(args.bucket), headers=headers)
    if status // 100 == 2 or (status == 409 and b"BucketAlreadyOwnedByYou" in body):
        return 0
    return _fail(status, body)


def cmd_put(s3, args):
    status, h, body = s3.request(
        "PUT", _obj_path(args.bucket, args.key), headers=_headers(args.header),
        body=_body(args),
    )
    print(status, h.get("etag", ""))
    return 0 if status // 100 == 2 else _fail(status, body)


def cmd_get(s3, args):
    status, _, body = s3.request("GET", _obj_path(args.bucket, args.key))
    if status // 100 != 2:
        return _fail(status, body)
    if args.output:
        with open(args.output, "wb") as f:
            f.write(body)
    else:
        sys.stdout.buffer.write(body)
    return 0


def cmd_head(s3, args):
    status, h, _ = s3.request("HEAD", _obj_path(args.bucket, args.key))
    print(status)
    for k, v in sorted(h.items()):
        print(f"{k}: {v}")
    return 0 if status // 100 == 2 else 1


def cmd_rm(s3, args):
    status, _, body = s3.request("DELETE", _obj_path(args.bucket, args.key))
    return 0 if status // 100 == 2 else _fail(status, body)


def _objects(s3, bucket, prefix):
    """(key, size) of every object below `prefix`, through ListObjectsV2."""
    import xml.etree.ElementTree as ET

    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    token = None
    while True:
        query = {"list-type": "2", "prefix": prefix.rstrip("/") + "/"}
        if token:
            query["continuation-token"] = token
        status, _, body = s3.request("GET", _obj_path(bucket), query=query)
        if status // 100 != 2:
            raise OSError(f"listing {bucket}/{prefix}: HTTP {status} {body[:200]!r}")
        root = ET.fromstring(body)
        for item in root.iter(ns + "Contents"):
            yield item.findtext(ns + "Key"), int(item.findtext(ns + "Size"))
        if root.findtext(ns + "IsTruncated") != "true":
            return
        token = root.findtext(ns + "NextContinuationToken")


def cmd_du(s3, args):
    listed = list(_objects(s3, args.bucket, args.prefix))
    print(sum(size for _, size in listed), len(listed))
    return 0


def cmd_rm_prefix(s3, args):
    for key, _ in list(_objects(s3, args.bucket, args.prefix)):
        status, _, body = s3.request("DELETE", _obj_path(args.bucket, key))
        if status // 100 != 2:
            return _fail(status, body)
    return 0


def cmd_req(s3, args):
    query = {}
    for q in args.query or []:
        k, _, v = q.partition("=")
        query[k] = v
    status, h, body = s3.request(
        args.method.upper(), args.path, query=query, headers=_headers(args.header),
        body=_body(args),
    )
    print(status)
    for k, v in sorted(h.items()):
        print(f"{k}: {v}")
    print()
    sys.stdout.write(body.decode(errors="replace"))
    if body and not body.endswith(b"\n"):
        print()
    return 0


def cmd_selftest(s3, args):
    """PUT/GET round trip and conditional-create check; prints a short report."""
    key = f"selftest/{uuid.uuid4().hex}"
    path = _obj_path(args.bucket, key)
    payload = os.urandom(1024) + b"arca selftest"
    ok = True

    status, h, body = s3.request("PUT", path, body=payload)
    if status != 200:
        return _fail(status, body)
    etag = h.get("etag", "")
    status, _, got = s3.request("GET", path)
    if status != 200 or got != payload:
        print(f"selftest: GET returned {status}, {len(got)} bytes (want 200, "
              f"{len(payload)} bytes)", file=sys.stderr)
        return 1
    print(f"selftest: PUT/GET round trip ok (etag {etag})")

    status, _, _ = s3.request("PUT", path, headers={"If-None-Match": "*"},
                              body=b"second")
    print(f"selftest: PUT If-None-Match:* on existing key -> {status}")
    if status != 412:
        ok = False
    new_path = path + ".new"
    status, _, _ = s3.request("PUT", new_path, headers={"If-None-Match": "*"},
                              body=b"first")
    print(f"selftest: PUT If-None-Match:* on new key -> {status}")
    if status != 200:
        ok = False

    for p in (path, new_path):
        s3.request("DELETE", p)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ls")
    sp = sub.add_parser("mb")
    sp.add_argument("bucket")
    sp.add_argument("--object-lock", action="store_true")
    for name in ("put", "get", "head", "rm"):
        sp = sub.add_parser(name)
        sp.add_argument("bucket")
        sp.add_argument("key")
        if name == "put":
            sp.add_argument("-d", "--data")
            sp.add_argument("-f", "--file")
            sp.add_argument("-H", "--header", action="append")
        if name == "get":
            sp.add_argument("-o", "--output")
    for name in ("du", "rm-prefix"):
        sp = sub.add_parser(name)
        sp.add_argument("bucket")
        sp.add_argument("prefix")
    sp = sub.add_parser("req")
    sp.add_argument("method")
    sp.add_argument("path")
    sp.add_argument("-q", "--query", action="append")
    sp.add_argument("-d", "--data")
    sp.add_argument("-f", "--file")
    sp.add_argument("-H", "--header", action="append")
    sp = sub.add_parser("selftest")
    sp.add_argument("bucket")
    args = p.parse_args()
    s3 = S3()
    try:
        return globals()["cmd_" + args.cmd.replace("-", "_")](s3, args)
    except (OSError, http.client.HTTPException) as e:
        print(f"s3.py: {args.cmd}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
