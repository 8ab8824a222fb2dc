"""Drives a running Threatgate demo with unmodified clients: MSAL for Python, azure-identity,
PyJWT (JWKS) and requests doing what the guide's PowerShell sample does.

Usage: clients.py DEMO_JSON. Exits non-zero with a message on the first failure.
Only the host name differs from Microsoft's service: each client is pointed at the demo's
authority with its documented option for a custom authority, and trusts the demo's CA.
"""

import json
import os
import ssl
import sys

manifest = json.load(open(sys.argv[1]))
ca = manifest["ca_certificate"]
# Python clients read these (the machine sets them to the system bundle otherwise).
os.environ["REQUESTS_CA_BUNDLE"] = ca
os.environ["SSL_CERT_FILE"] = ca

import jwt  # noqa: E402
import msal  # noqa: E402
import requests  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402

authority = manifest["authority"]
resource = manifest["resource"]
scope = resource + "/.default"
app = manifest["app"]
consented = [c for c in manifest["customers"] if c["consented"]]
refused = [c for c in manifest["customers"] if not c["consented"]]


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)
    print("ok: " + message)


def verify_with_pyjwt(token, tenant_id):
    context = ssl.create_default_context(cafile=ca)
    keys = jwt.PyJWKClient(authority + "/common/discovery/keys", ssl_context=context)
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=resource,
        issuer="https://sts.windows.net/%s/" % tenant_id,
        leeway=300,
    )


for customer in consented:
    tenant = customer["tenant_id"]
    client = msal.ConfidentialClientApplication(
        app["app_id"],
        client_credential=app["client_secret"],
        authority="%s/%s" % (authority, tenant),
        instance_discovery=False,
        verify=ca,
    )
    result = client.acquire_token_for_client(scopes=[scope])
    check("access_token" in result, "MSAL gets a token for %s: %s" % (customer["display_name"], result.get("error_description", "")))
    claims = verify_with_pyjwt(result["access_token"], tenant)
    check(claims["tid"] == tenant, "PyJWT verifies the MSAL token against JWKS; tid is %s" % customer["display_name"])
    check("Incident.Read.All" in claims.get("roles", []), "the token carries Incident.Read.All")
    cached = client.acquire_token_for_client(scopes=[scope])
    check(cached.get("token_source") == "cache", "MSAL serves the second request from its cache")

    # Instance discovery kept on and pointed here (MSAL's documented option for a private
    # cloud): MSAL asks `/common/discovery/instance` about its authority with the port dropped.
    discovering = msal.ConfidentialClientApplication(
        app["app_id"],
        client_credential=app["client_secret"],
        authority="%s/%s" % (authority, tenant),
        instance_discovery=authority + "/common/discovery/instance",
        verify=ca,
    )
    result = discovering.acquire_token_for_client(scopes=[scope])
    check("access_token" in result, "MSAL with instance discovery on gets a token for %s: %s" % (customer["display_name"], result.get("error_description", "")))

    credential = ClientSecretCredential(
        tenant,
        app["app_id"],
        app["client_secret"],
        authority=authority,
        disable_instance_discovery=True,
    )
    token = credential.get_token(scope)
    check(token.expires_on > 0, "azure-identity ClientSecretCredential gets a token for %s" % customer["display_name"])
    check(verify_with_pyjwt(token.token, tenant)["tid"] == tenant, "PyJWT verifies the azure-identity token")

    # What the guide's PowerShell sample sends (Invoke-RestMethod form-encodes the hashtable).
    response = requests.post(
        "%s/%s/oauth2/token" % (authority, tenant),
        data={"resource": resource, "client_id": app["app_id"], "client_secret": app["client_secret"], "grant_type": "client_credentials"},
    )
    body = response.json()
    check(response.status_code == 200 and isinstance(body["expires_in"], str), "the v1 endpoint answers as PowerShell and ADAL expect")

for customer in refused:
    client = msal.ConfidentialClientApplication(
        app["app_id"],
        client_credential=app["client_secret"],
        authority="%s/%s" % (authority, customer["tenant_id"]),
        instance_discovery=False,
        verify=ca,
    )
    result = client.acquire_token_for_client(scopes=[scope])
    check(result.get("error") == "unauthorized_client" and 700016 in result.get("error_codes", []),
          "MSAL reports AADSTS700016 for %s, which has not consented" % customer["display_name"])

print("all client checks passed")
