"""Certificate credentials with unmodified clients: MSAL for Python (PEM + SHA-1 thumbprint,
the same with the certificate sent in x5c, and a PFX, which MSAL signs with PS256), and
azure-identity's CertificateCredential (with and without the chain), plus the repository's
cryptography-only script `scripts/cert-token.py`.

Usage: certificates.py DEMO_JSON KEY_PEM CERT_PEM. The certificate must already be uploaded
to the demo's application (`threatgate app certificate add`).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

manifest = json.load(open(sys.argv[1]))
key_path, cert_path = sys.argv[2], sys.argv[3]
ca = manifest["ca_certificate"]
os.environ["REQUESTS_CA_BUNDLE"] = ca
os.environ["SSL_CERT_FILE"] = ca

import jwt  # noqa: E402
import msal  # noqa: E402
from azure.identity import CertificateCredential  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402

authority = manifest["authority"]
scope = manifest["resource"] + "/.default"
app_id = manifest["app"]["app_id"]
tenant = [c for c in manifest["customers"] if c["consented"]][0]["tenant_id"]

key_pem = open(key_path).read()
cert_pem = open(cert_path).read()
certificate = x509.load_pem_x509_certificate(cert_pem.encode())
thumbprint = certificate.fingerprint(hashes.SHA1()).hex().upper()


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)
    print("ok: " + message)


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def msal_token(credential):
    client = msal.ConfidentialClientApplication(
        app_id, client_credential=credential, authority="%s/%s" % (authority, tenant), instance_discovery=False, verify=ca
    )
    return client.acquire_token_for_client(scopes=[scope])


# The server picks the upload up within its refresh interval.
deadline = time.time() + 10
while True:
    result = msal_token({"private_key": key_pem, "thumbprint": thumbprint})
    if "access_token" in result or time.time() > deadline:
        break
    time.sleep(0.2)
check("access_token" in result, "MSAL (PEM key + thumbprint, RS256 x5t) gets a token: %s" % result.get("error_description"))
check(claims(result["access_token"])["appidacr"] == "2", "the token says it was obtained with a certificate (appidacr 2)")

result = msal_token({"private_key": key_pem, "thumbprint": thumbprint, "public_certificate": cert_pem})
check("access_token" in result, "MSAL with the certificate in x5c gets a token: %s" % result.get("error_description"))

with tempfile.TemporaryDirectory() as directory:
    pfx_path = os.path.join(directory, "connector.pfx")
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    pfx = pkcs12.serialize_key_and_certificates(
        b"connector", key, certificate, None, serialization.BestAvailableEncryption(b"pfx-password")
    )
    open(pfx_path, "wb").write(pfx)
    result = msal_token({"private_key_pfx_path": pfx_path, "passphrase": "pfx-password"})
    check("access_token" in result, "MSAL with a PFX (PS256 x5t#S256) gets a token: %s" % result.get("error_description"))

    combined = os.path.join(directory, "connector-with-key.pem")
    open(combined, "w").write(key_pem + cert_pem)
    for chain in (False, True):
        credential = CertificateCredential(
            tenant, app_id, certificate_path=combined, authority=authority, disable_instance_discovery=True,
            send_certificate_chain=chain,
        )
        token = credential.get_token(scope)
        check(claims(token.token)["appidacr"] == "2", "azure-identity CertificateCredential (send_certificate_chain=%s) gets a token" % chain)

script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "cert-token.py")
output = subprocess.run(
    [sys.executable, script, "--authority", authority, "--tenant", tenant, "--client-id", app_id,
     "--key", key_path, "--certificate", cert_path, "--ca", ca],
    capture_output=True, text=True,
)
check(output.returncode == 0, "scripts/cert-token.py gets a token: %s" % output.stderr)
check(json.loads(output.stdout)["claims"]["appidacr"] == "2", "scripts/cert-token.py's token has appidacr 2")

print("all certificate checks passed")
