//! Unmodified third-party clients against the demo: MSAL for Python, azure-identity, PyJWT
//! verifying against JWKS, and the guide's PowerShell request (`tests/interop/clients.py`);
//! Microsoft Graph's Python SDK (`tests/interop/graph.py`); @azure/identity for Node.js with raw
//! HTTP to the Graph API (`tests/interop/node/graph.mjs`); MSAL for Node.js with the Threat
//! Protection API (`tests/interop/node/msal.mjs`).
//!
//! Needs the Python environment `scripts/test.sh` prepares (`THREATGATE_PYTHON`); without it
//! the test says so and passes, since a bare `cargo test` has no Python clients.

use std::path::Path;

use crate::demo::Demo;

#[tokio::test]
async fn msal_azure_identity_and_pyjwt_work_unmodified() {
    let Ok(python) = std::env::var("THREATGATE_PYTHON") else {
        eprintln!("SKIPPED interop: THREATGATE_PYTHON is not set; run scripts/test.sh to prepare the Python clients");
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let (demo, manifest) = Demo::start(data_dir.path(), database.as_ref()).await;
    let demo_json = data_dir.path().join("demo.json");
    run_client(&python, "clients.py", &demo_json, &[], "all client checks passed").await;
    // Microsoft Graph's own Python SDK over the same demo: incidents with paging and alerts,
    // alerts_v2, an update, a hunting query.
    run_client(&python, "graph.py", &demo_json, &[], "all Graph SDK checks passed").await;
    // msticpy's Defender and Graph hunting providers, pointed here by settings alone.
    run_client(&python, "msticpy_hunting.py", &demo_json, &[], "all msticpy checks passed").await;
    // @azure/identity for Node.js and raw HTTP to the Graph API, when scripts/test.sh installed
    // it (THREATGATE_NODE_INTEROP).
    if std::env::var_os("THREATGATE_NODE_INTEROP").is_some() {
        let ca = [("NODE_EXTRA_CA_CERTS", manifest.ca_certificate.as_str())];
        run_client("node", "node/graph.mjs", &demo_json, &ca, "all Node client checks passed").await;
        run_client("node", "node/msal.mjs", &demo_json, &ca, "all msal-node checks passed").await;
    } else {
        eprintln!("SKIPPED the Node client: THREATGATE_NODE_INTEROP is not set; run scripts/test.sh");
    }

    // Certificate credentials: upload a certificate to the demo's application, then MSAL,
    // azure-identity and scripts/cert-token.py each get a token with it.
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let mut parameters = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    parameters.distinguished_name.push(rcgen::DnType::CommonName, "Fabrikam connector");
    let certificate = parameters.self_signed(&key).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (key_path, cert_path) = (files.path().join("key.pem"), files.path().join("cert.pem"));
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&cert_path, certificate.pem()).unwrap();
    let upload = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["app", "certificate", "add", "--app", &manifest.app.app_id, "--certificate"])
        .arg(&cert_path)
        .args(threatgate_testkit::store_args(data_dir.path(), database.as_ref()))
        .output()
        .await
        .unwrap();
    assert!(upload.status.success(), "{}", String::from_utf8_lossy(&upload.stderr));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/certificates.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(data_dir.path().join("demo.json"))
        .arg(&key_path)
        .arg(&cert_path)
        .output()
        .await
        .expect("python runs");
    demo.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the certificate clients failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all certificate checks passed"), "{stdout}");
}

/// Runs `program` on `tests/interop/SCRIPT DEMO_JSON` with `env`; it must succeed and print
/// `passed`.
async fn run_client(program: &str, script: &str, demo_json: &Path, env: &[(&str, &str)], passed: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop").join(script);
    let output = tokio::process::Command::new(program)
        .arg(&script)
        .arg(demo_json)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{} failed:\n{stdout}\n{stderr}", script.display());
    assert!(stdout.contains(passed), "{stdout}");
}
