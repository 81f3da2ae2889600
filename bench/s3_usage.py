#!/usr/bin/env python3
"""Bytes and objects below a prefix of an S3 bucket, or delete them.

    s3_usage.py size BUCKET PREFIX      -> "<bytes> <objects>"
    s3_usage.py delete BUCKET PREFIX    -> deletes every object below PREFIX

Standard library only (AWS Signature Version 4), so the benchmark needs no
S3 client of its own. Reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_REGION, as the tools measured do.
"""

import datetime
import hashlib
import hmac
import os
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def request(method, bucket, key="", query=None):
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    region = os.environ.get("AWS_REGION", "us-east-1")
    access, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    host = urllib.parse.urlparse(endpoint).netloc
    path = "/" + urllib.parse.quote(f"{bucket}/{key}" if key else bucket, safe="/-_.~")
    query = sorted((query or {}).items())
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in query
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, canonical_query]
        + [f"{k}:{headers[k]}" for k in sorted(headers)]
        + ["", signed, EMPTY_SHA256]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = sign(sign(sign(sign(("AWS4" + secret).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    url = endpoint + path + ("?" + canonical_query if canonical_query else "")
    req = urllib.request.Request(url, method=method, headers={k: v for k, v in headers.items() if k != "host"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def objects(bucket, prefix):
    token = None
    while True:
        query = {"list-type": "2", "prefix": prefix}
        if token:
            query["continuation-token"] = token
        root = ET.fromstring(request("GET", bucket, query=query))
        for item in root.iter(NS + "Contents"):
            yield item.find(NS + "Key").text, int(item.find(NS + "Size").text)
        if root.findtext(NS + "IsTruncated") != "true":
            return
        token = root.findtext(NS + "NextContinuationToken")


def main(argv):
    if len(argv) != 4 or argv[1] not in ("size", "delete"):
        sys.exit(__doc__)
    action, bucket, prefix = argv[1:]
    prefix = prefix.rstrip("/") + "/"
    if action == "size":
        listed = list(objects(bucket, prefix))
        print(sum(size for _, size in listed), len(listed))
    else:
        for key, _ in list(objects(bucket, prefix)):
            request("DELETE", bucket, key)


if __name__ == "__main__":
    main(sys.argv)
