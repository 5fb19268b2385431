//! The library's modules form layers: no module reaches, through `crate::` paths, one that
//! reaches back to it. Read from the source text (code only: comments and unit tests left out),
//! as `grep 'crate::'` would; `docs/design.md` draws the same graph and must name every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level module a file under `src/` belongs to (`src/store/s3.rs` → `store`), or
/// `None` for files outside the library's module tree or made of tests only.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let mut parts = relative.iter().map(|p| p.to_string_lossy().into_owned());
    let first = parts.next()?;
    if first == "bin" || first == "lib.rs" {
        return None;
    }
    if relative.iter().any(|p| p == "tests" || p == "tests.rs") {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules that `text` names through `crate::NAME`, its unit-test module left out.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|l| l.trim_start().starts_with("mod tests"))
        {
            // Skip the unit-test module: up to the brace that closes it.
            let mut depth = 0i32;
            for line in lines.by_ref() {
                depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
                if depth <= 0 && line.contains('}') {
                    break;
                }
            }
            continue;
        }
        if code.starts_with("//") {
            continue;
        }
        let code = code.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != "bug" {
                found.insert(name);
            }
        }
    }
    found
}

/// Module → the modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read source");
        let used = uses(&text);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(used.into_iter().filter(|m| *m != module));
    }
    graph
}

/// Modules in layers, lowest first: each uses only modules of lower layers. `Err` names the
/// modules left on a cycle.
fn layers(graph: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut layers = Vec::new();
    while placed.len() < graph.len() {
        let layer: Vec<String> = graph
            .iter()
            .filter(|(m, deps)| {
                !placed.contains(*m)
                    && deps
                        .iter()
                        .all(|d| placed.contains(d) || !graph.contains_key(d))
            })
            .map(|(m, _)| m.clone())
            .collect();
        if layer.is_empty() {
            return Err(graph
                .keys()
                .filter(|m| !placed.contains(*m))
                .cloned()
                .collect());
        }
        placed.extend(layer.iter().cloned());
        layers.push(layer);
    }
    Ok(layers)
}

#[test]
fn the_library_has_no_module_cycle() {
    let graph = graph();
    assert!(graph.contains_key("pipeline") && graph.contains_key("store"));
    let layers = layers(&graph).unwrap_or_else(|stuck| {
        let edges: Vec<String> = stuck
            .iter()
            .map(|m| format!("{m} → {:?}", graph[m]))
            .collect();
        panic!("module cycle among:\n{}", edges.join("\n"))
    });
    for (i, layer) in layers.iter().enumerate() {
        eprintln!("layer {i}: {}", layer.join(", "));
    }
}

#[test]
fn the_design_document_draws_every_module() {
    let design =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/design.md"))
            .expect("docs/design.md");
    let section = design
        .split("## Module layers")
        .nth(1)
        .expect("a Module layers section");
    let section = section.split("\n## ").next().unwrap_or(section);
    for module in graph().keys() {
        assert!(
            section.contains(&format!("`{module}`")),
            "docs/design.md, Module layers, does not name `{module}`"
        );
    }
}

#[test]
fn a_cycle_is_found() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(layers(&graph), Err(vec!["a".to_owned(), "b".to_owned()]));
    graph.get_mut("b").unwrap().clear();
    assert_eq!(
        layers(&graph),
        Ok(vec![
            vec!["b".to_owned(), "c".to_owned()],
            vec!["a".to_owned()]
        ])
    );
}
