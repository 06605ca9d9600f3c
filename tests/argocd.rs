//! The Argo CD plugin's `generate` under hostile parameters: whoever may edit
//! an Application controls them, so none may run a command, pass Helm a flag
//! of its own, or make anything read outside the app folder.
//!
//! Helm here is a stand-in (`POLYREPO_HELM`, set by the sidecar's admin) that
//! records its arguments and prints a one-object render: a refused parameter
//! must leave no record at all. The real-Helm run of the same command is in
//! tests/helm.rs.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// An app folder with polyrepo.yaml and a values file, a file outside it,
/// symlinks out, and the stand-in Helm.
struct App {
    dir: tempfile::TempDir,
}

/// What the fake Helm renders: one Polyaxon workload that mounts the repos,
/// so that the config has something to change.
const POLYAXON_API: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  \
    labels: {type: polyaxon-core}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    \
    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: api, image: x}]\n      \
    volumes: [{name: repos, hostPath: {path: /tmp/repos}}]\n";

impl App {
    fn new() -> App {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let app = d.join("app");
        std::fs::create_dir_all(app.join("deploy")).unwrap();
        std::fs::write(
            app.join("polyrepo.yaml"),
            "repos:\n  existingClaim: team-repos\n",
        )
        .unwrap();
        std::fs::write(app.join("values-prod.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.join("secret.yaml"), "token: do-not-read\n").unwrap();
        std::os::unix::fs::symlink(d.join("secret.yaml"), app.join("link-out.yaml")).unwrap();
        std::os::unix::fs::symlink(d.join("secret.yaml"), app.join("deploy/polyrepo.yaml"))
            .unwrap();
        let helm = d.join("fake-helm");
        std::fs::write(
            &helm,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n\
                 cat <<'EOF'\n{POLYAXON_API}EOF\n",
                d.join("helm-args").display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helm, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        App { dir }
    }

    fn app(&self) -> std::path::PathBuf {
        self.dir.path().join("app")
    }

    /// Runs `polyrepo-render argocd generate` in the app folder with these
    /// parameters and extra variables.
    fn generate(&self, params: &str, extra: &[(&str, &str)]) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"));
        c.args(["argocd", "generate"])
            .current_dir(self.app())
            .env("POLYREPO_HELM", self.dir.path().join("fake-helm"))
            .env("ARGOCD_APP_NAME", "polyaxon")
            .env("ARGOCD_APP_NAMESPACE", "polyaxon")
            .env("ARGOCD_APP_PARAMETERS", params)
            .env_remove("POLYREPO_CONFIG")
            .env_remove("POLYREPO_REPORT");
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Removes the symlinks that lead out of the app folder (an app holding
    /// one is refused whatever its parameters: Helm would load it).
    fn without_links_out(self) -> App {
        std::fs::remove_file(self.app().join("link-out.yaml")).unwrap();
        std::fs::remove_file(self.app().join("deploy/polyrepo.yaml")).unwrap();
        self
    }

    /// The arguments Helm received, or None when Helm never ran.
    fn helm_args(&self) -> Option<Vec<String>> {
        let p = self.dir.path().join("helm-args");
        let text = std::fs::read_to_string(&p).ok()?;
        std::fs::remove_file(&p).unwrap();
        Some(text.lines().map(str::to_string).collect())
    }
}

/// Parameters JSON, extra variables, and what the refusal must say.
type Case<'a> = (String, Vec<(&'a str, String)>, &'a str);

#[test]
fn hostile_parameters_are_refused_before_anything_runs() {
    let a = App::new();
    let touched = a.dir.path().join("pwned");
    let t = touched.display().to_string();
    let cases: Vec<Case> = vec![
        // The old plugin split this env into helm's arguments: a shell.
        (
            "[]".into(),
            vec![(
                "ARGOCD_ENV_HELM_ARGS",
                format!(
                    "--post-renderer=/usr/bin/env --post-renderer-args=touch --post-renderer-args={t}"
                ),
            )],
            "HELM_ARGS is no longer read",
        ),
        (
            r#"[{"name":"post-renderer","string":"/usr/bin/env"}]"#.into(),
            vec![],
            "'post-renderer'",
        ),
        (
            r#"[{"name":"set-file","map":{"a":"/etc/passwd"}}]"#.into(),
            vec![],
            "'set-file'",
        ),
        (
            r#"[{"name":"values-files","array":["/etc/passwd"]}]"#.into(),
            vec![],
            "absolute",
        ),
        (
            r#"[{"name":"values-files","array":["../secret.yaml"]}]"#.into(),
            vec![],
            "'..'",
        ),
        (
            r#"[{"name":"values-files","array":["https://example.com/v.yaml"]}]"#.into(),
            vec![],
            "URLs",
        ),
        (
            r#"[{"name":"values-files","array":["*.yaml"]}]"#.into(),
            vec![],
            "patterns",
        ),
        (
            r#"[{"name":"values-files","array":["link-out.yaml"]}]"#.into(),
            vec![],
            "out of the app folder",
        ),
        (
            r#"[{"name":"config","string":"/etc/hostname"}]"#.into(),
            vec![],
            "'config'",
        ),
        (
            r#"[{"name":"config","string":"deploy/polyrepo.yaml"}]"#.into(),
            vec![],
            "out of the app folder",
        ),
        (
            r#"[{"name":"set","map":{"--post-renderer":"/usr/bin/env"}}]"#.into(),
            vec![],
            "'set'",
        ),
        (
            r#"[{"name":"release-name","string":"--post-renderer=/usr/bin/env"}]"#.into(),
            vec![],
            "release name",
        ),
        (
            "[]".into(),
            vec![(
                "ARGOCD_APP_NAMESPACE",
                "ns --post-renderer=/usr/bin/env".into(),
            )],
            "ARGOCD_APP_NAMESPACE",
        ),
        (
            "[]".into(),
            vec![("KUBE_VERSION", "1.30 --post-renderer=x".into())],
            "KUBE_VERSION",
        ),
        (
            "[]".into(),
            vec![("KUBE_API_VERSIONS", "apps/v1,--post-renderer=x".into())],
            "KUBE_API_VERSIONS",
        ),
    ];
    for (params, extra, says) in &cases {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = a.generate(params, &extra);
        assert_eq!(r.code, 2, "{params} {extra:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{params}: nothing on stdout");
        assert!(r.stderr.contains(says), "{params} {extra:?}: {}", r.stderr);
        assert_eq!(a.helm_args(), None, "{params} {extra:?}: helm never ran");
        assert!(
            !r.stderr.contains("do-not-read"),
            "nothing outside was read"
        );
    }
    assert!(!touched.exists());
}

#[test]
fn accepted_parameters_reach_helm_as_data() {
    let a = App::new().without_links_out();
    let r = a.generate(
        r#"[{"name":"values-files","array":["values-prod.yaml"]},
            {"name":"set","map":{"a":"x --post-renderer=/usr/bin/env","b":"1,c=2"}},
            {"name":"set-string","map":{"d":"$(touch pwned)"}}]"#,
        &[
            ("KUBE_VERSION", "1.31.4"),
            ("KUBE_API_VERSIONS", "v1,apps/v1"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let app = a.app().canonicalize().unwrap();
    assert_eq!(
        a.helm_args().unwrap(),
        vec![
            "template".to_string(),
            "polyaxon".into(),
            ".".into(),
            "--namespace=polyaxon".into(),
            format!("--values={}", app.join("values-prod.yaml").display()),
            "--set=a=x --post-renderer=/usr/bin/env".into(),
            "--set=b=1\\,c=2".into(),
            "--set-string=d=$(touch pwned)".into(),
            "--kube-version=1.31.4".into(),
            "--api-versions=v1".into(),
            "--api-versions=apps/v1".into(),
        ]
    );
    assert!(!a.app().join("pwned").exists());
    // Helm's render, patched with the app's config.
    assert!(
        r.out().contains(r#"{"claimName": "team-repos"}"#),
        "{}",
        r.out()
    );
}

#[test]
fn a_failing_helm_fails_the_step_with_nothing_on_stdout() {
    let a = App::new().without_links_out();
    let helm = a.dir.path().join("fake-helm");
    std::fs::write(
        &helm,
        "#!/bin/sh\necho 'Error: chart broken' >&2\nprintf 'kind: x\\n'\nexit 1\n",
    )
    .unwrap();
    let r = a.generate("[]", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("chart broken") && r.stderr.contains("helm template failed"),
        "{}",
        r.stderr
    );
}

#[test]
fn discovery_honours_the_config_parameter() {
    let a = App::new();
    let discover = |dir: &Path, params: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"))
            .args(["argocd", "discover"])
            .current_dir(dir)
            .env("ARGOCD_APP_PARAMETERS", params)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let elsewhere = a.dir.path().join("other");
    std::fs::create_dir(&elsewhere).unwrap();
    assert_eq!(discover(&elsewhere, "[]"), "", "no config, no match");
    assert_ne!(discover(&a.app(), "[]"), "", "polyrepo.yaml matches");
    assert_ne!(
        discover(&elsewhere, r#"[{"name":"config","string":"cfg/p.yaml"}]"#),
        "",
        "the parameter matches"
    );
}

/// Helm loads every file of the chart folder and follows its symlinks
/// (`values.yaml`, templates, `.Files`): an app folder holding a symlink
/// that leads out of it is refused before Helm runs, whatever the
/// parameters name; a symlink inside the folder is fine.
#[test]
fn an_app_folder_with_a_symlink_out_is_refused_before_helm_runs() {
    let a = App::new().without_links_out();
    std::os::unix::fs::symlink("values-prod.yaml", a.app().join("inside.yaml")).unwrap();
    let r = a.generate("[]", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(a.helm_args().is_some());
    std::fs::create_dir(a.app().join("templates")).unwrap();
    std::os::unix::fs::symlink(
        a.dir.path().join("secret.yaml"),
        a.app().join("templates/values.yaml"),
    )
    .unwrap();
    let r = a.generate("[]", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("templates/values.yaml -> ") && r.stderr.contains("leads out"),
        "{}",
        r.stderr
    );
    assert_eq!(a.helm_args(), None, "helm never ran");
}

/// The image runs as a non-root user and builds for amd64 and arm64; the
/// repo-server patch's containers pass the "restricted" Pod Security level
/// (no root, no privilege escalation, every capability dropped, the
/// runtime's seccomp profile), and the init container's root is read-only.
#[test]
fn the_image_and_its_init_container_are_restricted() {
    let dockerfile = std::fs::read_to_string(root().join("examples/argocd/Dockerfile")).unwrap();
    let last_stage = dockerfile.rsplit("FROM ").next().unwrap();
    assert!(last_stage.starts_with("scratch"), "{last_stage}");
    let user = last_stage
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the final stage");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric user");
    assert_ne!(uid, 0, "not root");
    for arch in [
        "amd64) target=x86_64-unknown-linux-gnu",
        "arm64) target=aarch64-unknown-linux-gnu",
    ] {
        assert!(dockerfile.contains(arch), "builds {arch}");
    }
    let patch: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("examples/argocd/repo-server-patch.yaml")).unwrap(),
    )
    .unwrap();
    let spec = &patch["spec"]["template"]["spec"];
    let init = &spec["initContainers"][0];
    let sidecar = &spec["containers"][0];
    for (name, c) in [("init", init), ("sidecar", sidecar)] {
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{name}");
        assert_ne!(sc["runAsUser"], 0, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        let drop: Vec<&str> = sc["capabilities"]["drop"]
            .as_sequence()
            .map(|d| d.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert!(drop.contains(&"ALL"), "{name}: {drop:?}");
        assert!(
            matches!(
                sc["seccompProfile"]["type"].as_str(),
                Some("RuntimeDefault" | "Localhost")
            ),
            "{name}"
        );
    }
    assert_eq!(init["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        init["securityContext"]["runAsUser"].as_u64(),
        Some(u64::from(uid)),
        "the init container runs as the image's user"
    );
}

/// `generate` in an app with no config blames the missing default, not a
/// parameter the user never set; a Helm that cannot run names the
/// variable that says where Helm is.
#[test]
fn generate_names_the_default_config_and_polyrepo_helm() {
    let a = App::new().without_links_out();
    std::fs::remove_file(a.app().join("polyrepo.yaml")).unwrap();
    let r = a.generate("[]", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the app folder has no polyrepo.yaml")
            && !r.stderr.contains("plugin parameter 'config' ("),
        "{}",
        r.stderr
    );
    assert_eq!(a.helm_args(), None, "helm never ran");
    let a = App::new().without_links_out();
    let r = a.generate("[]", &[("POLYREPO_HELM", "/nonexistent/helm")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("POLYREPO_HELM"), "{}", r.stderr);
}

/// The `subchart` parameter reads Polyaxon's values under its key in an
/// umbrella chart's values files; anything but a chart name is refused.
#[test]
fn the_subchart_parameter_reads_an_umbrella_charts_values() {
    let a = App::new().without_links_out();
    std::fs::write(a.app().join("polyrepo.yaml"), "").unwrap();
    std::fs::write(
        a.app().join("values-prod.yaml"),
        "polyaxon:\n  persistence:\n    repos: {existingClaim: umbrella-repos}\n",
    )
    .unwrap();
    let params = |sub: &str| {
        format!(
            r#"[{{"name":"values-files","array":["values-prod.yaml"]}},{{"name":"subchart","string":"{sub}"}}]"#
        )
    };
    let r = a.generate(&params("polyaxon"), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.out().contains(r#""claimName": "umbrella-repos""#),
        "{}",
        r.out()
    );
    let r = a.generate(&params("a.b"), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("'subchart'"), "{}", r.stderr);
}
