"""Drives a running Threatgate demo with Microsoft Graph's own Python SDK (msgraph-sdk), as a
partner's connector would: azure-identity's ClientSecretCredential for each customer tenant,
then incidents listed page by page with their alerts, one updated, and a hunting query run.

Usage: graph.py DEMO_JSON. Exits non-zero with a message on the first failure.
Only the hosts differ from Microsoft's service, set the way the SDK documents for another
cloud: the credential's `authority`, and a request adapter whose HTTP client has the demo's
base URL and trusts its CA (graph-security-api.md §11.2). The scope is given explicitly.
"""

import asyncio
import json
import os
import ssl
import sys

manifest = json.load(open(sys.argv[1]))
ca = manifest["ca_certificate"]
os.environ["SSL_CERT_FILE"] = ca

import httpx  # noqa: E402
from azure.identity.aio import ClientSecretCredential  # noqa: E402
from kiota_abstractions.api_error import APIError  # noqa: E402
from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
from msgraph.generated.models.security.alert_classification import AlertClassification  # noqa: E402
from msgraph.generated.models.security.alert_determination import AlertDetermination  # noqa: E402
from msgraph.generated.models.security.incident import Incident  # noqa: E402
from msgraph.generated.security.incidents.incidents_request_builder import IncidentsRequestBuilder  # noqa: E402
from msgraph.generated.security.microsoft_graph_security_run_hunting_query.run_hunting_query_post_request_body import (  # noqa: E402
    RunHuntingQueryPostRequestBody,
)
from msgraph_core import GraphClientFactory  # noqa: E402

authority = manifest["authority"]
app = manifest["app"]
consented = [c for c in manifest["customers"] if c["consented"]]
SCOPES = ["https://graph.microsoft.com/.default"]


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)
    print("ok: " + message)


def client_for(tenant):
    credential = ClientSecretCredential(
        tenant, app["app_id"], app["client_secret"], authority=authority, disable_instance_discovery=True
    )
    http = httpx.AsyncClient(base_url=authority + "/v1.0", verify=ssl.create_default_context(cafile=ca))
    http = GraphClientFactory.create_with_default_middleware(client=http)
    adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(credential, scopes=SCOPES), client=http)
    # httpx keeps its base URL with a trailing slash; the request adapter's is the one the
    # SDK's URL templates start from (`{+baseurl}/security/…`).
    adapter.base_url = authority + "/v1.0"
    return GraphServiceClient(request_adapter=adapter), credential


async def main():
    customer = consented[0]
    client, credential = client_for(customer["tenant_id"])

    # Every incident, 10 a page, each with its alerts, following @odata.nextLink.
    query = IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(top=10, expand=["alerts"])
    page = await client.security.incidents.get(request_configuration=RequestConfiguration(query_parameters=query))
    incidents, pages = [], 0
    while page is not None:
        pages += 1
        incidents.extend(page.value or [])
        if not page.odata_next_link:
            break
        page = await client.security.incidents.with_url(page.odata_next_link).get()
    check(len(incidents) > 10 and pages > 1, "listed %d incidents in %d pages" % (len(incidents), pages))
    check(len({i.id for i in incidents}) == len(incidents), "no incident twice across pages")
    first = incidents[0]
    check(first.tenant_id == customer["tenant_id"], "incidents carry the customer's tenantId")
    check(first.severity is not None and first.status is not None, "severity and status parse as the SDK's enums")
    alerts = [a for i in incidents for a in (i.alerts or [])]
    check(alerts and all(a.incident_id for a in alerts), "expanded alerts name their incident")
    evidence = [e for a in alerts for e in (a.evidence or [])]
    kinds = {type(e).__name__ for e in evidence}
    check(evidence and "AlertEvidence" not in kinds, "evidence parses as typed subclasses: %s" % sorted(kinds))

    # The same alerts through alerts_v2 (the incident role reads them too).
    listed = await client.security.alerts_v2.get()
    check(listed.value and {a.id for a in listed.value} <= {a.id for a in alerts}, "alerts_v2 lists the incidents' alerts")
    one = await client.security.alerts_v2.by_alert_id(listed.value[0].id).get()
    check(one.id == listed.value[0].id and one.service_source is not None, "alerts_v2 gets one alert")

    # A filter in Graph's names.
    active = IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(filter="status eq 'active'", top=50)
    filtered = await client.security.incidents.get(request_configuration=RequestConfiguration(query_parameters=active))
    check(all(i.status.value == "active" for i in filtered.value), "$filter=status eq 'active' keeps active ones")

    # One incident updated, as the Learn example does.
    target = incidents[-1].id
    update = Incident(
        classification=AlertClassification.TruePositive,
        determination=AlertDetermination.MultiStagedAttack,
        custom_tags=["Demo"],
    )
    updated = await client.security.incidents.by_incident_id(target).patch(update)
    check(
        updated.classification == AlertClassification.TruePositive and updated.custom_tags == ["Demo"],
        "PATCH returns the incident as updated",
    )
    again = await client.security.incidents.by_incident_id(target).get()
    check(again.determination == AlertDetermination.MultiStagedAttack, "a GET sees the update")

    # Advanced hunting through the SDK's namespace-qualified action.
    body = RunHuntingQueryPostRequestBody(query="DeviceProcessEvents | summarize n = count() by DeviceName | top 3 by n")
    results = await client.security.microsoft_graph_security_run_hunting_query.post(body)
    check([s.name for s in results.schema] == ["DeviceName", "n"], "runHuntingQuery answers its schema")
    check(len(results.results) >= 1, "runHuntingQuery answers rows (%d)" % len(results.results))

    # A refusal arrives as the SDK's APIError with Graph's error body.
    try:
        await client.security.incidents.by_incident_id("999999999").get()
        check(False, "an unknown incident is refused")
    except APIError as error:
        check(error.response_status_code == 404, "an unknown incident is a 404 APIError")

    await credential.close()
    print("all Graph SDK checks passed")


asyncio.run(main())
