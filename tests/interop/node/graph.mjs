// Drives a running Threatgate demo from Node.js as a connector written against Microsoft
// Graph does: @azure/identity's ClientSecretCredential for a customer tenant (its documented
// options for another authority), then raw HTTP (fetch) to the Graph security API.
//
// Usage: NODE_EXTRA_CA_CERTS=<demo CA> node graph.mjs DEMO_JSON. Exits non-zero with a message
// on the first failure.
import { readFileSync } from "node:fs";
import { ClientSecretCredential } from "@azure/identity";

const manifest = JSON.parse(readFileSync(process.argv[2], "utf8"));
const authority = manifest.authority;
const customer = manifest.customers.find((c) => c.consented);

function check(condition, message) {
  if (!condition) {
    console.error("FAILED: " + message);
    process.exit(1);
  }
  console.log("ok: " + message);
}

const credential = new ClientSecretCredential(customer.tenant_id, manifest.app.app_id, manifest.app.client_secret, {
  authorityHost: authority,
  disableInstanceDiscovery: true,
});
const { token } = await credential.getToken("https://graph.microsoft.com/.default");
check(token.split(".").length === 3, "@azure/identity gets a Graph token");

async function graph(method, path, body) {
  const url = path.startsWith("http") ? path : `${authority}/v1.0${path}`;
  const response = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

// Every incident, 10 a page, with their alerts.
let page = await graph("GET", "/security/incidents?$top=10&$expand=alerts&$count=true");
const incidents = [];
let total;
while (true) {
  check(page.status === 200, `a page of incidents (${page.status})`);
  total ??= page.json["@odata.count"];
  incidents.push(...page.json.value);
  if (!page.json["@odata.nextLink"]) break;
  page = await graph("GET", page.json["@odata.nextLink"]);
}
check(incidents.length === total && total > 10, `${incidents.length} incidents, as @odata.count says`);
check(incidents.every((i) => Array.isArray(i.alerts) && i.tenantId === customer.tenant_id), "each with its alerts and tenant");

// One updated, then seen.
const id = incidents[incidents.length - 1].id;
const updated = await graph("PATCH", `/security/incidents/${id}`, { status: "inProgress", assignedTo: "node@contoso.com" });
check(updated.status === 200 && updated.json.status === "inProgress", "PATCH returns the incident as updated");
const again = await graph("GET", `/security/incidents/${id}`);
check(again.json.assignedTo === "node@contoso.com", "a GET sees the update");

// Hunting, with the documented body casing.
const hunt = await graph("POST", "/security/runHuntingQuery", { Query: "DeviceInfo | take 2 | project DeviceName" });
check(hunt.status === 200 && hunt.json.schema[0].name === "DeviceName", "runHuntingQuery answers schema and results");

// A refusal in Graph's shape.
const refused = await graph("GET", "/security/incidents?$top=51");
check(refused.status === 400 && refused.json.error.innerError["request-id"], "$top=51 is refused in Graph's error shape");

console.log("all Node client checks passed");
