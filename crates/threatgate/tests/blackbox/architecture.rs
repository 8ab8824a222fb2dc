//! The architecture invariants of ARCHITECTURE.md that a test can check.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Crates (by folder) whose non-test sources call `needle`.
fn callers(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(&workspace().join("crates")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let relative = file.strip_prefix(workspace()).unwrap().to_string_lossy().into_owned();
        if relative.contains("/tests/") {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        if code.contains(needle) {
            found.push(relative.split('/').nth(1).unwrap().to_owned());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn only_the_token_verifier_builds_a_tenant_scope_from_a_token() {
    assert_eq!(callers("TenantScope::from_verified_token("), ["threatgate-identity"]);
    assert_eq!(callers("::for_administrator("), ["threatgate"], "administration scopes are the CLI's only");
    assert_eq!(
        callers("::for_signed_in_administrator("),
        ["threatgate-identity"],
        "the portal gets its scopes from identity, after the role check"
    );
}

#[test]
fn dependency_direction_holds() {
    let manifest =
        |name: &str| std::fs::read_to_string(workspace().join("crates").join(name).join("Cargo.toml")).unwrap();
    let dependencies = |name: &str| -> String {
        let text = manifest(name);
        text.split("[dev-dependencies]").next().unwrap_or_default().to_owned()
    };
    for io in ["tokio", "sqlx", "axum", "reqwest"] {
        assert!(!dependencies("threatgate-domain").contains(&format!("{io}.")), "domain depends on {io}");
        assert!(!dependencies("threatgate-incidents").contains(&format!("{io}.")), "incident rules depend on {io}");
    }
    for name in
        ["threatgate-domain", "threatgate-proto", "threatgate-store", "threatgate-identity", "threatgate-incidents"]
    {
        assert!(!dependencies(name).contains("axum"), "{name} depends on axum");
    }
    assert!(callers("sqlx::query").iter().all(|krate| krate == "threatgate-store"), "SQL lives only in the store");
    assert!(
        callers("RsaKeyPair").iter().all(|krate| krate == "threatgate-identity"),
        "only identity holds private keys"
    );
}
