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

#[test]
fn the_kql_and_seed_crates_do_no_io() {
    for name in ["threatgate-hunting", "threatgate-seed"] {
        let manifest = std::fs::read_to_string(workspace().join("crates").join(name).join("Cargo.toml")).unwrap();
        let dependencies = manifest.split("[dev-dependencies]").next().unwrap_or_default();
        for io in ["tokio", "sqlx", "axum", "reqwest"] {
            assert!(!dependencies.contains(&format!("{io}.")), "{name} depends on {io}");
        }
    }
}

/// The server crate's top-level modules, each with the others it names (`crate::x`), read
/// from the sources (tests left out).
fn server_module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = workspace().join("crates/threatgate-server/src");
    let mut graph = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name != module && !name.is_empty() {
                uses.insert(name);
            }
        }
    }
    graph
}

#[test]
fn the_server_crates_modules_form_no_cycle() {
    let graph = server_module_graph();
    // Depth-first search for a back edge; on one, the cycle's path.
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for node in graph.keys() {
        let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "a module cycle in threatgate-server: {}", cycle.unwrap_or_default().join(" -> "));
    }
    // The state the handlers share depends on no router.
    for router in ["api", "portal", "routes"] {
        assert!(!graph["state"].contains(router), "state depends on {router}");
    }
}

#[test]
fn unsafe_code_is_confined_to_the_sqlite_bridge() {
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(path.join("Cargo.toml")).unwrap();
        if name == "threatgate-sqlite-functions" {
            assert!(manifest.contains("unsafe_code = \"deny\""), "{name} must deny unsafe outside its bridge");
        } else {
            // The workspace's lints forbid unsafe code (a crate cannot allow it back).
            assert!(manifest.contains("[lints]\nworkspace = true"), "{name} does not take the workspace's lints");
        }
    }
    let allowed: Vec<String> = rust_files(&workspace().join("crates/threatgate-sqlite-functions/src"))
        .into_iter()
        .filter(|file| std::fs::read_to_string(file).unwrap().contains("allow(unsafe_code)"))
        .map(|file| file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(allowed, ["ffi.rs"]);
}

/// The user documentation (README, `docs/`, `bench/README.md`, `fuzz/README.md`, the changelog) names only files
/// that are in the repository, and its shell blocks use `|` only as a pipe: alternatives such as
/// `table|json` pasted into a shell would pipe into a command that does not exist.
#[test]
fn the_documentation_names_files_that_exist_and_pastes_into_a_shell() {
    let root = workspace();
    let mut documents = vec![
        root.join("README.md"),
        root.join("CHANGELOG.md"),
        root.join("bench/README.md"),
        root.join("fuzz/README.md"),
    ];
    documents.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut problems = Vec::new();
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        let name = document.strip_prefix(&root).unwrap().display().to_string();
        let base = document.parent().unwrap();
        // Relative links: [text](path).
        for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let target = link.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !base.join(target).exists() {
                problems.push(format!("{name}: a link to {target}, which does not exist"));
            }
        }
        // Paths in code spans that start at a top-level folder of the repository.
        for span in text.split('`').skip(1).step_by(2) {
            let path = span.trim_end_matches(['.', ',', ':', ';']);
            let rooted = ["crates/", "docs/", "bench/", "fuzz/", "scripts/", "tests/", ".ci/"]
                .iter()
                .any(|p| path.starts_with(p));
            let literal = !path.contains(['*', '{', '<', '…', ' ', '[', '$']);
            if rooted && literal && !root.join(path).exists() {
                problems.push(format!("{name}: `{path}` is not in the repository"));
            }
        }
        // Shell blocks: a `|` with no space on either side is an alternative, not a pipe.
        let mut in_shell = false;
        for line in text.lines() {
            let fence = line.trim_start();
            if fence.starts_with("```") {
                in_shell = !in_shell && (fence == "```sh" || fence == "```bash" || fence == "```shell");
                continue;
            }
            if in_shell {
                let bytes = line.as_bytes();
                let alternative = (1..bytes.len().saturating_sub(1))
                    .any(|i| bytes[i] == b'|' && bytes[i - 1] != b' ' && bytes[i + 1] != b' ' && bytes[i + 1] != b'|');
                if alternative {
                    problems.push(format!("{name}: `|` as an alternative in a shell block: {line}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
