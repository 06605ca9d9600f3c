//! The module graph stays a graph a newcomer can read (issue 11): no module
//! of `src/` reaches, through `crate::` paths or `use super::`, back to
//! itself, so the data flow reads one way; the scheduling rules and the
//! YAML layer import only what they may, the ways in only the public
//! surface; the folders say what they decide. Comments and unit tests are
//! not counted (a doc link is not a dependency).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name (`patch`, `yaml::events`) → the modules its code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = common::root().join("src");
    let exists = |m: &str| {
        let p = src.join(m.replace("::", "/"));
        p.with_extension("rs").exists() || p.join("mod.rs").exists()
    };
    // `crate::edit` is `crate::patch::edit` re-exported at the root.
    let reexported: BTreeMap<String, String> = public_items(&src.join("lib.rs"))
        .into_iter()
        .filter_map(|(n, f)| Some((n, module_name(&f?))))
        .collect();
    let mut g = BTreeMap::new();
    for f in source_files() {
        let mut name = module_name(&f);
        if name == "lib" || name == "main" || f.file_name().unwrap() == "tests.rs" {
            continue;
        }
        if let Some(parent) = name.strip_suffix("::mod") {
            name = parent.to_string();
        }
        let code = code_of(&f);
        let mut deps = BTreeSet::new();
        for mut path in crate_paths(&code) {
            if let Some(full) = reexported.get(&path[0]) {
                let mut p: Vec<String> = full.split("::").map(str::to_string).collect();
                p.extend(path.drain(1..));
                path = p;
            }
            // The deepest module the path names (`schedule::groups::node`
            // in `crate::schedule::groups::node::known_node`).
            let module = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| exists(m))
                .unwrap_or_else(|| path[0].to_string());
            deps.insert(module);
        }
        for line in code.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("use super::") {
                let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
                let names = rest
                    .trim_start_matches('{')
                    .split([',', '{', '}', ';', ' ']);
                for n in names.map(|n| n.split("::").next().unwrap()) {
                    let m = format!("{parent}::{n}");
                    if !parent.is_empty() && exists(&m) {
                        deps.insert(m);
                    }
                }
            }
        }
        deps.remove(&name);
        g.insert(name, deps);
    }
    g
}

/// `schedule::groups` for `src/schedule/groups/mod.rs` (`…::mod` kept for
/// the caller to strip), `lib` for `src/lib.rs`.
fn module_name(file: &Path) -> String {
    let src = common::root().join("src");
    let rel = file.strip_prefix(&src).unwrap().with_extension("");
    rel.to_str().unwrap().replace(['/', '\\'], "::")
}

/// What the rules read of a source file: its code without comments and
/// without unit tests (an inline `mod tests { … }`, which comes last, or
/// a whole `tests.rs`). A doc link is not a dependency.
fn code_of(file: &Path) -> String {
    if file.file_name().unwrap() == "tests.rs" {
        return String::new();
    }
    let text = std::fs::read_to_string(file).unwrap();
    text.split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `.rs` file under `src/`.
fn source_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![common::root().join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files
}

/// A cycle through `start`, if there is one.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for d in g.get(&m).into_iter().flatten() {
            if d == start {
                let mut p = path.clone();
                p.push(d.clone());
                return Some(p);
            }
            if seen.insert(d.clone()) {
                let mut p = path.clone();
                p.push(d.clone());
                stack.push((d.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_itself_back() {
    let g = graph();
    assert!(g.len() > 20, "modules found: {:?}", g.keys());
    for m in g.keys() {
        if let Some(c) = cycle(&g, m) {
            panic!("import cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_yaml_layer_knows_nothing_of_what_it_reads() {
    // Reading YAML must not depend on planning, patching or Kubernetes
    // decisions; only the shared vocabulary (`k8s`), the thread helper,
    // the values kept once (`shared`) and the pages given back behind a
    // read (`pages`).
    for (m, deps) in graph().iter().filter(|(m, _)| m.starts_with("yaml")) {
        for d in deps {
            assert!(
                d.starts_with("yaml")
                    || d == "k8s"
                    || d == "parallel"
                    || d == "shared"
                    || d == "pages",
                "{m} imports {d}"
            );
        }
    }
    assert!(
        graph().contains_key("yaml::events"),
        "the rule sees the YAML layer"
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycle(&g, "a").unwrap(), ["a", "b", "a"]);
}

/// The modules of `g` whose name starts with `from` and that import a
/// module `forbidden` names, as `importer -> imported`.
fn violations(
    g: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    forbidden: impl Fn(&str) -> bool,
) -> Vec<String> {
    g.iter()
        .filter(|(m, _)| m.starts_with(from))
        .flat_map(|(m, deps)| {
            deps.iter()
                .filter(|d| forbidden(d))
                .map(move |d| format!("{m} -> {d}"))
        })
        .collect()
}

#[test]
fn the_scheduling_rules_import_nothing_of_patching() {
    // `schedule/` decides where pods may and must run from the inventory's
    // summaries and the settings: never from edits, the proof of the
    // output, the plan that calls it, or a way in.
    let forbidden = |d: &str| {
        ["patch", "verify", "plan", "modes"]
            .iter()
            .any(|f| d == *f || d.starts_with(&format!("{f}::")))
    };
    let g = graph();
    assert!(g.keys().any(|m| m == "schedule::groups"), "{:?}", g.keys());
    assert_eq!(violations(&g, "schedule", forbidden), Vec::<String>::new());
}

#[test]
fn the_pipeline_depends_on_no_way_in() {
    // Argo CD, the KRM function and the kustomize/Flux patches wrap the
    // pipeline; only `lib.rs` (which re-exports them) and the binary name
    // them.
    let g = graph();
    assert!(g.keys().any(|m| m == "modes::krm"), "{:?}", g.keys());
    let outside: Vec<String> = violations(&g, "", |d| d == "modes" || d.starts_with("modes::"))
        .into_iter()
        .filter(|v| !v.starts_with("modes"))
        .collect();
    assert_eq!(outside, Vec::<String>::new());
}

#[test]
fn the_rule_checker_finds_a_forbidden_import() {
    let mut g = BTreeMap::new();
    g.insert(
        "schedule::groups".to_string(),
        BTreeSet::from(["inventory".to_string(), "patch::edit".to_string()]),
    );
    g.insert(
        "patch".to_string(),
        BTreeSet::from(["schedule::groups".to_string()]),
    );
    let found = violations(&g, "schedule", |d| d.starts_with("patch"));
    assert_eq!(found, ["schedule::groups -> patch::edit"]);
}

/// The public items a module file declares (`pub mod`, `pub use`, `pub fn`
/// and the like, at its top level): name → the file of the module it names,
/// `None` for an item that is no module.
fn public_items(file: &Path) -> BTreeMap<String, Option<PathBuf>> {
    let code = format!("\n{}", code_of(file));
    let name = file.file_name().unwrap();
    let dir = if name == "lib.rs" || name == "mod.rs" {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let module = |dir: &Path, m: &str| {
        [dir.join(format!("{m}.rs")), dir.join(m).join("mod.rs")]
            .into_iter()
            .find(|f| f.exists())
    };
    let mut out = BTreeMap::new();
    // The crate's `message_error!` declares a public error type when its
    // name follows `pub`.
    for (i, _) in code.match_indices("\nmessage_error!(") {
        let body = &code[i..i + code[i..].find(");").unwrap()];
        if let Some(n) = body.lines().find_map(|l| l.trim().strip_prefix("pub ")) {
            out.insert(n.trim().to_string(), None);
        }
    }
    for (i, _) in code.match_indices("\npub ") {
        let rest = &code[i + 5..];
        let word = |s: &str| {
            s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap()
                .to_string()
        };
        if let Some(r) = rest.strip_prefix("mod ") {
            let n = word(r);
            out.insert(n.clone(), module(&dir, &n));
        } else if let Some(r) = rest.strip_prefix("use ") {
            // `pub use a::b::{c, d};` or `pub use a::b::c;`
            let stmt: String = r[..r.find(';').unwrap()].split_whitespace().collect();
            let (prefix, names) = match stmt.split_once('{') {
                Some((p, n)) => (p.to_string(), n.trim_end_matches('}').to_string()),
                None => match stmt.rsplit_once("::") {
                    Some((p, n)) => (format!("{p}::"), n.to_string()),
                    None => (String::new(), stmt.clone()),
                },
            };
            let mut from = if prefix.starts_with("crate::") {
                common::root().join("src")
            } else {
                dir.clone()
            };
            for seg in prefix.trim_start_matches("crate::").split("::") {
                if !seg.is_empty() {
                    from = from.join(seg);
                }
            }
            for n in names.split(',').filter(|n| !n.is_empty()) {
                let (orig, shown) = n.split_once(" as ").unwrap_or((n, n));
                out.insert(shown.to_string(), module(&from, orig));
            }
        } else {
            for kind in [
                "fn ", "struct ", "enum ", "const ", "static ", "type ", "trait ",
            ] {
                if let Some(r) = rest.strip_prefix(kind) {
                    out.insert(word(r), None);
                }
            }
        }
    }
    out
}

/// Every `crate::` path `code` names, `use` groups expanded
/// (`crate::{a, b::c}` → `a`, `b::c`), as segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let prefix = &rest[..end];
        let group = if prefix.is_empty() || prefix.ends_with("::") {
            rest[end..]
                .strip_prefix('{')
                .and_then(|g| g.split_once('}'))
                .map(|(g, _)| g)
        } else {
            None
        };
        let names: Vec<String> = match group {
            Some(g) => g
                .split(',')
                .map(|n| n.split_whitespace().collect::<String>())
                .filter(|n| !n.is_empty())
                .map(|n| match n.as_str() {
                    "self" => prefix.trim_end_matches("::").to_string(),
                    _ => format!("{prefix}{n}"),
                })
                .collect(),
            None => vec![prefix.to_string()],
        };
        for n in names.iter().filter(|n| !n.is_empty()) {
            out.push(n.split("::").map(str::to_string).collect());
        }
    }
    out
}

/// `Err` naming the first segment of `path` (from the crate root) that is
/// not public.
fn public_path(path: &[String]) -> Result<(), String> {
    let mut file = common::root().join("src/lib.rs");
    for (i, seg) in path.iter().enumerate() {
        match public_items(&file).get(seg) {
            None => {
                return Err(format!(
                    "crate::{}: `{seg}` is not public",
                    path[..=i].join("::")
                ));
            }
            Some(Some(f)) => file = f.clone(),
            // An item: what follows is its own (a method, a variant).
            Some(None) => return Ok(()),
        }
    }
    Ok(())
}

#[test]
fn the_ways_in_use_only_the_public_surface() {
    // Argo CD, the KRM function and the kustomize/Flux patches are what any
    // other program could build on the library: each path they name from
    // the crate is public all the way down (`crate::edit::set_root_entry`, not
    // `crate::patch::edit::Editor` through a private module).
    let modes = common::root().join("src/modes");
    let mut refused = Vec::new();
    let (mut read, mut naming) = (BTreeSet::new(), BTreeSet::new());
    for f in source_files().iter().filter(|f| f.starts_with(&modes)) {
        read.insert(module_name(f));
        for p in crate_paths(&code_of(f)) {
            naming.insert(module_name(f));
            if let Err(e) = public_path(&p) {
                refused.push(format!("{}: {e}", module_name(f)));
            }
        }
    }
    assert!(read.contains("modes::argocd::mod"), "{read:?}");
    for m in [
        "modes::argocd::app_folder",
        "modes::krm",
        "modes::kustomize",
    ] {
        assert!(
            naming.contains(m),
            "{m} names nothing of the crate: {naming:?}"
        );
    }
    assert_eq!(refused, Vec::<String>::new());
}

#[test]
fn the_public_path_checker_refuses_a_private_module() {
    let path = |p: &str| p.split("::").map(str::to_string).collect::<Vec<_>>();
    assert_eq!(public_path(&path("edit::set_root_entry")), Ok(()));
    assert!(public_path(&path("edit::Editor")).is_err());
    assert_eq!(public_path(&path("yaml::shown")), Ok(()));
    assert_eq!(public_path(&path("config::Settings")), Ok(()));
    assert!(public_path(&path("patch::edit::Editor")).is_err());
    assert!(public_path(&path("yaml::source::shown")).is_err());
    assert!(public_path(&path("schedule::groups::Verdict")).is_err());
    assert!(public_path(&path("verify::VerifyError")).is_err());
    assert!(public_path(&path("edit::sort_checked")).is_err());
    assert_eq!(
        crate_paths(
            "use crate::{Failure, render};\nuse crate::yaml::{self, Node};\nx(crate::k8s::digest(1));"
        ),
        [
            vec!["Failure"],
            vec!["render"],
            vec!["yaml"],
            vec!["yaml", "Node"],
            vec!["k8s", "digest"],
        ]
    );
}

/// The folders show the architecture: at most twelve files directly in
/// `src/`, and every folder's `mod.rs` (nested ones too) opens with what it
/// decides.
#[test]
fn src_holds_the_pipeline_and_folders_say_what_they_decide() {
    let src = common::root().join("src");
    let mut top = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    while let Some(p) = dirs.pop() {
        if p.is_dir() {
            dirs.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            let m = p.join("mod.rs");
            let text = std::fs::read_to_string(&m)
                .unwrap_or_else(|_| panic!("{} has no mod.rs", p.display()));
            assert!(
                text.starts_with("//! "),
                "{} does not say what it decides",
                m.display()
            );
        } else if p.parent() == Some(src.as_path()) {
            top.push(p.file_name().unwrap().to_string_lossy().to_string());
        }
    }
    assert!(
        top.len() <= 12,
        "{} files directly in src/: {top:?}",
        top.len()
    );
}

/// No source file grows past 700 lines: a file is what one reader holds at
/// once, and a longer one is split by what its code decides (issue 23).
#[test]
fn no_source_file_grows_past_700_lines() {
    let src = common::root().join("src");
    let over: Vec<String> = source_files()
        .iter()
        .filter_map(|p| {
            let lines = std::fs::read_to_string(p).unwrap().lines().count();
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (lines > 700).then(|| format!("src/{rel} has {lines} lines"))
        })
        .collect();
    assert!(over.is_empty(), "at most 700 lines a file: {over:?}");
}
