"""Checks the AWS SigV4 signature of every request a test receiver recorded, with botocore's
own signer (an implementation independent of the Rust crate walship signs with).

    python3 sigv4_verify.py RECORDS ACCESS_KEY SECRET_KEY SESSION_TOKEN REGION SERVICE

RECORDS holds one JSON object per line: method, path, headers (name -> value), body_hex and
received (Unix seconds). SESSION_TOKEN may be "" (none). For every record the signature is
computed again over the received request, at the time its X-Amz-Date header names, and must
equal the one in its Authorization header; the headers that matter must be among the signed
ones, and the signing time must be within five minutes of receipt. A control checks that a
changed body byte changes the signature (so the check can fail). Prints "N verified" and exits
0, or prints each mismatch and exits 1.
"""

import calendar
import json
import sys
import time

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    print("botocore is not installed (pip install botocore)")
    sys.exit(2)

# The headers that must be covered by the signature, per service: remote write, and STS (role_arn).
MUST_SIGN = {
    "aps": ["host", "x-amz-date", "content-type", "content-encoding", "x-prometheus-remote-write-version"],
    "sts": ["host", "x-amz-date", "content-type"],
}


def parse_authorization(value):
    algorithm, _, rest = value.partition(" ")
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    return algorithm, parts["Credential"], parts["SignedHeaders"], parts["Signature"]


def recompute(rec, body, creds, region, service):
    headers = rec["headers"]
    _, _, signed, _ = parse_authorization(headers["authorization"])
    names = signed.split(";")
    request = AWSRequest(
        method=rec["method"],
        url="http://" + headers["host"] + rec["path"],
        data=body,
        headers={n: headers[n] for n in names if n != "host"},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return signer.signature(string_to_sign, request), signer.signed_headers(signer.headers_to_sign(request))


def main():
    path, access, secret, token, region, service = sys.argv[1:7]
    creds = Credentials(access, secret, token or None)
    scope = "/".join(["", region, service, "aws4_request"])
    problems = []
    count = 0
    with open(path) as f:
        for n, line in enumerate(f):
            rec = json.loads(line)
            headers = rec["headers"]
            body = bytes.fromhex(rec["body_hex"])
            if "authorization" not in headers:
                problems.append(f"request {n}: no Authorization header")
                continue
            algorithm, credential, signed, signature = parse_authorization(headers["authorization"])
            if algorithm != "AWS4-HMAC-SHA256":
                problems.append(f"request {n}: algorithm {algorithm}")
            if not credential.startswith(access + "/") or not credential.endswith(scope):
                problems.append(f"request {n}: credential {credential}, want {access}/DATE{scope}")
            must = MUST_SIGN.get(service, MUST_SIGN["aps"]) + (["x-amz-security-token"] if token else [])
            missing = [h for h in must if h not in signed.split(";")]
            if missing:
                problems.append(f"request {n}: {missing} not signed ({signed})")
            if token and headers.get("x-amz-security-token") != token:
                problems.append(f"request {n}: X-Amz-Security-Token is not the session token")
            signed_at = calendar.timegm(time.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ"))
            if abs(signed_at - rec["received"]) > 300:
                problems.append(f"request {n}: signed at {headers['x-amz-date']}, received {rec['received']}")
            want, want_signed = recompute(rec, body, creds, region, service)
            if want != signature:
                problems.append(f"request {n}: signature {signature}, botocore computes {want}")
            if want_signed != signed:
                problems.append(f"request {n}: signed headers {signed}, botocore signs {want_signed}")
            if n == 0 and body:
                tampered = bytes([body[0] ^ 1]) + body[1:]
                if recompute(rec, tampered, creds, region, service)[0] == signature:
                    problems.append("control: a changed body kept its signature; the check proves nothing")
            count += 1
    for p in problems[:20]:
        print(p)
    if problems or count == 0:
        print(f"{len(problems)} problems in {count} requests")
        sys.exit(1)
    print(f"{count} verified")


main()
