//! Unmodified third-party clients against the demo: MSAL for Python, azure-identity, PyJWT
//! verifying against JWKS, and the guide's PowerShell request (`tests/interop/clients.py`).
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
    let (demo, _manifest) = Demo::start(data_dir.path()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/clients.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(data_dir.path().join("demo.json"))
        .output()
        .await
        .expect("python runs");
    demo.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the clients failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all client checks passed"), "{stdout}");
}
