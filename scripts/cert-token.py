#!/usr/bin/env python3
"""Gets an access token with a certificate instead of a secret: a client assertion signed with
the certificate's private key, built the way MSAL for Python builds one (PS256, `x5t#S256`,
`iat`/`exp` as floats, `aud` = the token endpoint from the OpenID configuration).

Needs only the `cryptography` package. It prints the token's claims that show how the client
authenticated (`appidacr` "2" is a certificate), never the token itself.

    python3 scripts/cert-token.py --authority https://127.0.0.1:8443 --tenant TENANT \\
        --client-id APP_ID --key key.pem --certificate cert.pem --ca DATA_DIR/tls/ca.pem

Make the key and certificate with openssl, and upload the certificate (never the key):

    openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 365 -subj /CN=connector
    threatgate app certificate add --app APP_ID --certificate cert.pem
"""

import argparse
import base64
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    """JWT segments: base64url without padding (MSAL signs through PyJWT, which strips it)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_assertion(client_id: str, audience: str, key, certificate) -> str:
    der = certificate.public_bytes(serialization.Encoding.DER)
    sha256 = hashes.Hash(hashes.SHA256())
    sha256.update(der)
    # MSAL's _encode_thumbprint: urlsafe_b64encode, padding kept.
    header = {"alg": "PS256", "typ": "JWT", "x5t#S256": base64.urlsafe_b64encode(sha256.finalize()).decode()}
    now = time.time()
    payload = {"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "iat": now, "exp": now + 600}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    signature = key.sign(
        signing_input.encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return signing_input + "." + b64url(signature)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--authority", required=True, help="e.g. https://127.0.0.1:8443")
    parser.add_argument("--tenant", required=True, help="the customer tenant: GUID or domain")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--key", required=True, help="the certificate's private key, PEM")
    parser.add_argument("--certificate", required=True, help="the certificate, PEM")
    parser.add_argument("--ca", help="the CA to trust for HTTPS (the demo's tls/ca.pem)")
    parser.add_argument("--scope", default="https://api.security.microsoft.com/.default")
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.ca)
    key = serialization.load_pem_private_key(open(args.key, "rb").read(), password=None)
    certificate = x509.load_pem_x509_certificate(open(args.certificate, "rb").read())
    authority = args.authority.rstrip("/") + "/" + args.tenant
    with urllib.request.urlopen(authority + "/v2.0/.well-known/openid-configuration", context=context) as response:
        token_endpoint = json.load(response)["token_endpoint"]

    body = urllib.parse.urlencode({
        "client_id": args.client_id,
        "scope": args.scope,
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion(args.client_id, token_endpoint, key, certificate),
        "client_info": "1",
    }).encode()
    request = urllib.request.Request(token_endpoint, data=body, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context) as response:
            result = json.load(response)
    except urllib.error.HTTPError as error:
        print(json.dumps(json.load(error), indent=2), file=sys.stderr)
        return 1
    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    print(json.dumps({
        "token_endpoint": token_endpoint,
        "token_type": result["token_type"],
        "expires_in": result["expires_in"],
        "claims": {name: claims.get(name) for name in ("appid", "appidacr", "tid", "roles", "aud", "iss")},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
