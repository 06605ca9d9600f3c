//! Unit tests of the Argo CD plugin's steps: every parameter as data.

use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn app() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("polyrepo.yaml"), "repos: {}\n").unwrap();
    std::fs::write(d.path().join("values-prod.yaml"), "a: 1\n").unwrap();
    d
}

#[test]
fn parameters_become_one_argument_each() {
    let d = app();
    let g = plan_generate(
        d.path(),
        &env_of(&[
            ("ARGOCD_APP_NAME", "polyaxon"),
            ("ARGOCD_APP_NAMESPACE", "ml"),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"values-files","array":["values-prod.yaml"]},
                    {"name":"set","map":{"api.replicas":"2","tags":"a,b\\c"}},
                    {"name":"set-string","map":{"x":"--post-renderer=/bin/sh"}}]"#,
            ),
            ("KUBE_VERSION", "1.33.1"),
            ("KUBE_API_VERSIONS", "apps/v1,batch/v1/Job"),
        ]),
    )
    .unwrap();
    let real = d.path().canonicalize().unwrap();
    assert_eq!(g.namespace.as_deref(), Some("ml"));
    assert_eq!(g.values, vec![real.join("values-prod.yaml")]);
    assert_eq!(g.config, real.join("polyrepo.yaml"));
    assert_eq!(
        g.helm_args,
        vec![
            "template".to_string(),
            "polyaxon".into(),
            ".".into(),
            "--namespace=ml".into(),
            format!("--values={}", real.join("values-prod.yaml").display()),
            "--set=api.replicas=2".into(),
            "--set=tags=a\\,b\\\\c".into(),
            "--set-string=x=--post-renderer=/bin/sh".into(),
            "--kube-version=1.33.1".into(),
            "--api-versions=apps/v1".into(),
            "--api-versions=batch/v1/Job".into(),
        ]
    );
}

#[test]
fn anything_else_is_refused_naming_the_parameter() {
    let d = app();
    std::os::unix::fs::symlink("/etc/hostname", d.path().join("out.yaml")).unwrap();
    let base = [("ARGOCD_APP_NAME", "p"), ("ARGOCD_APP_NAMESPACE", "ml")];
    for (params, says) in [
        (
            r#"[{"name":"set-file","map":{"a":"/etc/passwd"}}]"#,
            "unknown plugin parameter 'set-file'",
        ),
        (
            r#"[{"name":"values-files","array":["/etc/passwd"]}]"#,
            "absolute paths",
        ),
        (r#"[{"name":"values-files","array":["../x.yaml"]}]"#, "'..'"),
        (
            r#"[{"name":"values-files","array":["https://e.com/v.yaml"]}]"#,
            "URLs",
        ),
        (
            r#"[{"name":"values-files","array":["*.yaml"]}]"#,
            "patterns",
        ),
        (
            r#"[{"name":"values-files","array":["out.yaml"]}]"#,
            "out of the app folder",
        ),
        (
            r#"[{"name":"values-files","string":"values-prod.yaml"}]"#,
            "must be an array",
        ),
        (
            r#"[{"name":"config","string":"../polyrepo.yaml"}]"#,
            "'config'",
        ),
        (
            r#"[{"name":"set","map":{"--post-renderer":"x"}}]"#,
            "not a values path",
        ),
        (
            r#"[{"name":"release-name","string":"--debug"}]"#,
            "release name",
        ),
    ] {
        let mut vars = base.to_vec();
        vars.push(("ARGOCD_APP_PARAMETERS", params));
        let err = plan_generate(d.path(), &env_of(&vars)).unwrap_err();
        assert!(err.0.contains(says), "{params}: {err}");
    }
    let err = plan_generate(
        d.path(),
        &env_of(&[
            ("ARGOCD_APP_NAME", "p"),
            ("ARGOCD_APP_NAMESPACE", "ml"),
            ("ARGOCD_ENV_HELM_ARGS", "--post-renderer=/usr/bin/env"),
        ]),
    )
    .unwrap_err();
    assert!(err.0.contains("HELM_ARGS is no longer read"), "{err}");
    let err = plan_generate(
        d.path(),
        &env_of(&[
            ("ARGOCD_APP_NAME", "p"),
            ("ARGOCD_APP_NAMESPACE", "ml"),
            ("KUBE_VERSION", "1.3; rm"),
        ]),
    )
    .unwrap_err();
    assert!(err.0.contains("KUBE_VERSION"), "{err}");
}

#[test]
fn helms_list_syntax_cannot_smuggle_a_second_file_or_key() {
    let d = app();
    std::fs::create_dir(d.path().join("a,b")).unwrap();
    std::fs::write(d.path().join("a,b/v.yaml"), "a: 1\n").unwrap();
    std::fs::write(d.path().join("l\nf.yaml"), "a: 1\n").unwrap();
    std::fs::write(d.path().join("c\rr.yaml"), "a: 1\n").unwrap();
    std::fs::write(d.path().join("q\"q.yaml"), "a: 1\n").unwrap();
    std::fs::write(d.path().join("back\\slash.yaml"), "a: 1\n").unwrap();
    let base = [("ARGOCD_APP_NAME", "p")];
    let run = |params: serde_json::Value| {
        let mut vars = base.to_vec();
        let p = params.to_string();
        vars.push(("ARGOCD_APP_PARAMETERS", &p));
        plan_generate(d.path(), &env_of(&vars))
    };
    for (file, says) in [
        ("a,b/v.yaml", "a comma"),
        ("l\nf.yaml", "a line break"),
        ("c\rr.yaml", "a line break"),
        ("q\"q.yaml", "a double quote"),
    ] {
        let err = run(serde_json::json!([{"name": "values-files", "array": [file]}])).unwrap_err();
        assert!(err.0.contains(says), "{file:?}: {err}");
    }
    // A backslash means nothing to Helm's list reading.
    run(serde_json::json!([{"name": "values-files", "array": ["back\\slash.yaml"]}])).unwrap();
    for key in ["x\\", "a.b\\\\\\"] {
        let err = run(serde_json::json!([{"name": "set", "map": {key: "={a,b}"}}])).unwrap_err();
        assert!(err.0.contains("not a values path"), "{key:?}: {err}");
    }
    for key in ["a\\.b", "a\\\\"] {
        run(serde_json::json!([{"name": "set-string", "map": {key: "v"}}])).unwrap();
    }
}

#[test]
fn argo_instance_names_and_missing_namespaces_work_as_in_argo_cds_helm() {
    let d = app();
    let g = plan_generate(
        d.path(),
        &env_of(&[
            ("ARGOCD_APP_NAME", "team-a_web"),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"release-name","string":""}]"#,
            ),
        ]),
    )
    .unwrap();
    assert_eq!(g.helm_args[..3], ["template", "web", "."]);
    assert_eq!(g.namespace, None);
    assert!(!g.helm_args.iter().any(|a| a.starts_with("--namespace")));
}

#[test]
fn discovery_follows_the_config_parameter_or_the_default_file() {
    let d = tempfile::tempdir().unwrap();
    let none = env_of(&[]);
    assert_eq!(discover(d.path(), &none), None);
    let named = env_of(&[(
        "ARGOCD_APP_PARAMETERS",
        r#"[{"name":"config","string":"deploy/polyrepo.yaml"}]"#,
    )]);
    assert!(discover(d.path(), &named).is_some());
    std::fs::write(d.path().join("polyrepo.yaml"), "").unwrap();
    assert!(discover(d.path(), &none).is_some());
}
