// Drives a running Threatgate demo with MSAL for Node.js (@azure/msal-node), as a partner's
// Node connector gets its tokens: a ConfidentialClientApplication per customer tenant with the
// client secret, the authority set to the demo's (its documented `knownAuthorities` for an
// authority MSAL does not know), then the Threat Protection API with the token.
//
// Usage: NODE_EXTRA_CA_CERTS=<demo CA> node msal.mjs DEMO_JSON. Exits non-zero with a message
// on the first failure.
import { readFileSync } from "node:fs";
import { ConfidentialClientApplication } from "@azure/msal-node";

const manifest = JSON.parse(readFileSync(process.argv[2], "utf8"));
const authority = manifest.authority;
const scopes = [`${manifest.resource}/.default`];

function check(condition, message) {
  if (!condition) {
    console.error("FAILED: " + message);
    process.exit(1);
  }
  console.log("ok: " + message);
}

function client(tenant) {
  return new ConfidentialClientApplication({
    auth: {
      clientId: manifest.app.app_id,
      clientSecret: manifest.app.client_secret,
      authority: `${authority}/${tenant}`,
      knownAuthorities: [new URL(authority).host],
    },
  });
}

for (const customer of manifest.customers) {
  const app = client(customer.tenant_id);
  if (!customer.consented) {
    try {
      await app.acquireTokenByClientCredential({ scopes });
      check(false, `${customer.display_name} has not consented: no token`);
    } catch (error) {
      check(String(error.errorMessage ?? error).includes("AADSTS700016"), `msal-node reports AADSTS700016 for ${customer.display_name}`);
    }
    continue;
  }
  const result = await app.acquireTokenByClientCredential({ scopes });
  check(typeof result?.accessToken === "string" && result.accessToken.split(".").length === 3, `msal-node gets a token for ${customer.display_name}`);
  const claims = JSON.parse(Buffer.from(result.accessToken.split(".")[1], "base64url").toString());
  check(claims.tid === customer.tenant_id && claims.roles.includes("Incident.Read.All"), "its tid and roles are the customer's");
  const cached = await app.acquireTokenByClientCredential({ scopes });
  check(cached.fromCache === true, "the second request is served from msal-node's cache");
  const response = await fetch(`${manifest.api_base}/api/incidents?$top=1`, { headers: { Authorization: `Bearer ${result.accessToken}` } });
  check(response.status === 200, `the token opens ${customer.display_name}'s incidents (${response.status})`);
}
console.log("all msal-node checks passed");
