//! The engine's modules form layers: leaves (config, peer, proxy, router, table, pubsub, ...),
//! the shared state, the API types, the engine, the builder. A module that reaches back up makes
//! an import cycle; this test reads the sources and fails on any cycle but the one the types
//! require: a worker's message (`mailbox`) may carry a closure that gets a connection's handle
//! (`websocket`), and that handle posts worker messages.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module name -> the crate modules its files name as `crate::x`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut visit = vec![src.clone()];
    while let Some(dir) = visit.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let module = rel.trim_end_matches(".rs").split('/').next().unwrap().to_owned();
            if module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// Whether `to` is reachable from `from`.
fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(m) = stack.pop() {
        for d in graph.get(&m).into_iter().flatten() {
            if d == to {
                return true;
            }
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    false
}

#[test]
fn no_import_cycle_but_the_mailbox_and_its_closures() {
    let graph = graph();
    assert!(graph.len() > 15, "the sources were found: {:?}", graph.keys());
    let allowed = |a: &str, b: &str| {
        let pair = [a, b];
        pair.contains(&"mailbox") && pair.contains(&"websocket")
    };
    let mut cycles = Vec::new();
    for (module, deps) in &graph {
        for dep in deps.iter().filter(|d| graph.contains_key(*d)) {
            if reaches(&graph, dep, module) && !allowed(module, dep) {
                cycles.push(format!("{module} -> {dep} -> ... -> {module}"));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}
