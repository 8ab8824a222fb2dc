"""Drives a running Threatgate demo with msticpy, Microsoft's threat-hunting library: its
Microsoft 365 Defender query provider (`QueryProvider("M365D")`, the MDATP driver) and its
Graph hunting provider (`QueryProvider("M365DGraph")`), unmodified.

Usage: msticpy_hunting.py DEMO_JSON. Exits non-zero with a message on the first failure.
Only settings point msticpy here, the way it is configured for another Azure cloud: the
`Azure` section's `resource_manager_url` (msticpy reads the login host from that cloud's
metadata document, `GET /metadata/endpoints`, which Threatgate serves), and the provider's
`apiRoot`. Nothing in msticpy is patched. msticpy's driver posts its token request with no
`Content-Type`, which Microsoft's service reads as a form, and so must Threatgate.
"""

import json
import os
import sys
import tempfile

manifest = json.load(open(sys.argv[1]))
ca = manifest["ca_certificate"]
# httpx (msticpy's HTTP client) reads this with its default trust_env.
os.environ["SSL_CERT_FILE"] = ca
os.environ["REQUESTS_CA_BUNDLE"] = ca

base = manifest["authority"]
app = manifest["app"]
customer = next(c for c in manifest["customers"] if c["consented"])
refused = next(c for c in manifest["customers"] if not c["consented"])

settings = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
settings.write(
    """
Azure:
  cloud: global
  resource_manager_url: {base}/
DataProviders:
  MicrosoftDefender:
    Args:
      TenantId: {tenant}
      ClientId: {client}
      ClientSecret: {secret}
      apiRoot: {base}/
""".format(base=base, tenant=customer["tenant_id"], client=app["app_id"], secret=app["client_secret"])
)
settings.close()
os.environ["MSTICPYCONFIG"] = settings.name

import httpx  # noqa: E402
import pandas as pd  # noqa: E402
from msticpy.common.exceptions import MsticpyConnectionError  # noqa: E402
from msticpy.data import QueryProvider  # noqa: E402


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)
    print("ok: " + message)


for environment, api in [("M365D", "/api/advancedhunting/run"), ("M365DGraph", "/v1.0/security/runHuntingQuery")]:
    provider = QueryProvider(environment)
    provider.connect()
    check(provider.connected, "msticpy %s connects (token from %s/…/oauth2/v2.0/token, no Content-Type)" % (environment, base))

    frame = provider.exec_query(
        "DeviceProcessEvents | where Timestamp > ago(30d) | project Timestamp, DeviceName, FileName | take 5"
    )
    check(isinstance(frame, pd.DataFrame) and len(frame) == 5, "%s: a query answers a DataFrame of 5 rows through %s" % (environment, api))
    check(list(frame.columns) == ["Timestamp", "DeviceName", "FileName"], "%s: its columns are the projected ones" % environment)
    check(pd.api.types.is_datetime64_any_dtype(frame["Timestamp"]), "%s: Timestamp is read as a datetime from the schema" % environment)

    empty = provider.exec_query("DeviceProcessEvents | where FileName == 'no-such-file.exe' | take 1")
    check(isinstance(empty, pd.DataFrame) and len(empty) == 0, "%s: a query with no rows answers an empty DataFrame" % environment)

    try:
        provider.exec_query("DeviceProcessEvents | where NoSuchColumn == 1")
        check(False, "%s: a bad query raises" % environment)
    except httpx.HTTPStatusError as error:
        check(error.response.status_code == 400, "%s: a bad query is a 400 (%s)" % (environment, error.response.json()["error"]["message"][:80]))

# The customer that has not consented: msticpy reports the service's AADSTS error.
provider = QueryProvider("M365D")
try:
    provider.connect(tenant_id=refused["tenant_id"])
    check(False, "connecting for a tenant without consent fails")
except MsticpyConnectionError as error:
    check("AADSTS700016" in str(error), "msticpy reports AADSTS700016 for %s" % refused["display_name"])

os.unlink(settings.name)
print("all msticpy checks passed")
