//! End to end with the real Helm 3.17.3 and Helm 4.1.4 binaries
//! (`scripts/fetch-helm.sh` puts them in target/helm-bin/), and the Argo CD
//! plugin's generate command run as the CMP runs it.
//!
//! With CI=true a missing Helm binary fails these tests; locally they are
//! reported as ignored (libtest-mimic harness, see `main`), never as passed.

mod common;
mod oracle;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Config used throughout: a ReadWriteOnce claim, the scheduler and the
/// admin-user hook Job get the volume too.
const CONFIG: &str = "repos:\n  existingClaim: polyaxon-repos\n  accessMode: ReadWriteOnce\nworkloads:\n  mountInto: [\"*-scheduler\", polyaxon-admin-user]\n";
/// [`CONFIG`] without the hook Job, which Helm 3 never hands to a
/// post-renderer (a glob that matches nothing is refused).
const CONFIG3: &str = "repos:\n  existingClaim: polyaxon-repos\n  accessMode: ReadWriteOnce\nworkloads:\n  mountInto: [\"*-scheduler\"]\n";

struct Helm {
    dir: tempfile::TempDir,
    helm3: PathBuf,
    helm4: PathBuf,
    /// The shell-profile line `scripts/install-helm-plugin.sh` printed, once
    /// the plugin is installed: every Helm 4 run then goes through it, as a
    /// user's shell would.
    profile_line: std::cell::RefCell<Option<String>>,
}

impl Helm {
    /// A sandbox with its own Helm homes and a bin folder holding
    /// `polyrepo-render` (`main` checked that Helm is there).
    fn new() -> Helm {
        let (helm3, helm4) = helm_bins();
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_polyrepo-render"),
            bin.join("polyrepo-render"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&helm3, bin.join("helm")).unwrap();
        std::os::unix::fs::symlink(&helm4, bin.join("helm4")).unwrap();
        std::fs::write(dir.path().join("polyrepo.yaml"), CONFIG).unwrap();
        std::fs::write(dir.path().join("polyrepo3.yaml"), CONFIG3).unwrap();
        Helm {
            dir,
            helm3,
            helm4,
            profile_line: Default::default(),
        }
    }

    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A Helm command in the sandbox; Helm 4 goes through the profile line
    /// once the plugin is installed.
    fn cmd(&self, helm: &Path) -> Command {
        let line = self.profile_line.borrow().clone();
        let mut c = match line {
            Some(line) if helm == self.helm4 => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("{line}\nhelm4 \"$@\""), "helm4"]);
                c
            }
            _ => Command::new(helm),
        };
        let d = self.dir.path();
        c.current_dir(d)
            .env("HELM_DATA_HOME", d.join("data"))
            .env("HELM_CONFIG_HOME", d.join("config"))
            .env("HELM_CACHE_HOME", d.join("cache"))
            .env("PATH", self.path())
            .env_remove("POLYREPO_CONFIG")
            .env_remove("POLYREPO_REPORT");
        c
    }

    /// Runs helm; returns (exit code, stdout, stderr).
    fn run(&self, helm: &Path, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(helm).args(args).output().expect("run helm");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Installs the Helm 4 plugin as the README says, with
    /// `scripts/install-helm-plugin.sh` (Helm 4 named by its path, and
    /// `binary` copied into the plugin's bin/ when given), and keeps the
    /// line it prints for the shell profile.
    fn install_plugin_with(&self, binary: Option<&Path>) {
        let mut c = Command::new("sh");
        c.arg(root().join("scripts/install-helm-plugin.sh")).args([
            "--helm",
            self.dir.path().join("bin/helm4").to_str().unwrap(),
        ]);
        if let Some(b) = binary {
            c.args(["--binary", b.to_str().unwrap()]);
        }
        self.install_with(c);
    }

    /// Runs the install command `c` in the sandbox, keeps its profile line
    /// and checks that Helm 4 lists the plugin through it.
    fn install_with(&self, mut c: Command) {
        let d = self.dir.path();
        let out = c
            .current_dir(d)
            .env("HELM_DATA_HOME", d.join("data"))
            .env("HELM_CONFIG_HOME", d.join("config"))
            .env("HELM_CACHE_HOME", d.join("cache"))
            .env("PATH", self.path())
            .env_remove("HELM_PLUGINS")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "install-helm-plugin.sh: {err}");
        let line = String::from_utf8(out.stdout).unwrap();
        assert_eq!(line.lines().count(), 1, "one line for the profile: {line}");
        *self.profile_line.borrow_mut() = Some(line.trim_end().to_string());
        let (_, list, _) = self.run(&self.helm4, &["plugin", "list"]);
        assert!(
            list.contains("polyrepo-render") && list.contains("postrenderer/v1"),
            "{list}"
        );
    }

    fn install_plugin(&self) {
        self.install_plugin_with(None)
    }
}

/// `helm template polyaxon CHART -n polyaxon --post-renderer polyrepo-render`,
/// each of `post_renderer_args` passed with `--post-renderer-args`, then `extra`.
fn template_args<'a>(
    chart: &'a str,
    post_renderer_args: &[&'a str],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec![
        "template",
        "polyaxon",
        chart,
        "-n",
        "polyaxon",
        "--post-renderer",
        "polyrepo-render",
    ];
    for a in post_renderer_args {
        v.extend(["--post-renderer-args", a]);
    }
    v.extend(extra);
    v
}

/// Writes a chart whose templates are the fixture's documents verbatim, at
/// their `# Source:` paths (subcharts included), plus Helm 4's hook Jobs, so
/// that Helm renders exactly the captured Polyaxon stream.
fn fixture_chart(at: &Path, fixture_name: &str) -> PathBuf {
    let chart = at.join("chart");
    let text = String::from_utf8(fixture(fixture_name)).unwrap();
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for doc in text.split("---\n").skip(1) {
        let (first, rest) = doc.split_once('\n').unwrap();
        let src = first.strip_prefix("# Source: ").expect("helm 3 capture");
        files
            .entry(src.to_string())
            .or_default()
            .push(rest.to_string());
    }
    // Hooks, as Helm 4 saw them, without the annotation Helm 4 adds itself.
    let h4 = String::from_utf8(fixture("helm4-default.yaml")).unwrap();
    for doc in h4
        .split("---\n")
        .filter(|d| d.contains("\"helm.sh/hook\":"))
    {
        let mut src = String::new();
        let body: String = doc
            .lines()
            .filter(|l| {
                match l
                    .trim()
                    .strip_prefix("postrenderer.helm.sh/postrender-filename: ")
                {
                    Some(v) => {
                        src = v.trim_matches('\'').to_string();
                        false
                    }
                    None => true,
                }
            })
            .map(|l| format!("{l}\n"))
            .collect();
        files.entry(src).or_default().push(body);
    }
    for (src, parts) in &files {
        let rel = src.strip_prefix("polyaxon/").unwrap();
        let path = chart.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, parts.join("---\n")).unwrap();
        if let Some(sub) = rel.strip_prefix("charts/") {
            let name = sub.split('/').next().unwrap();
            std::fs::write(
                chart.join("charts").join(name).join("Chart.yaml"),
                format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n"),
            )
            .unwrap();
        }
    }
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: polyaxon\nversion: 0.6.1\n",
    )
    .unwrap();
    chart
}

/// Objects of a stream by `Kind/name`, as Kubernetes reads them, without
/// Helm 4's filename annotation.
fn objects(text: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for mut v in oracle::read(text).expect("valid stream") {
        if v.is_null() {
            continue;
        }
        if let Some(a) = v
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.remove("postrenderer.helm.sh/postrender-filename");
            if a.is_empty() {
                v["metadata"].as_object_mut().unwrap().remove("annotations");
            }
        }
        let key = format!(
            "{}/{}",
            v["kind"].as_str().unwrap(),
            v["metadata"]["name"].as_str().unwrap()
        );
        assert!(out.insert(key.clone(), v).is_none(), "{key} twice");
    }
    out
}

fn binary(args: &[&str], input: &str) -> String {
    let r = run(args, input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.out()
}

fn has_repos_volume(o: &Value) -> bool {
    o.pointer("/spec/template/spec/volumes")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|v| v["name"] == "repos"))
}

fn helm3_and_helm4_template_give_what_the_binary_gives_hooks_only_on_helm4() {
    let h = Helm::new();
    let chart = fixture_chart(h.dir.path(), "helm3-replicas.yaml");
    let chart = chart.to_str().unwrap();
    let cfg = h.dir.path().join("polyrepo.yaml");
    let cfg_arg = format!("--config={}", cfg.display());

    // Helm 3: the post-renderer gets exactly the capture; hooks are not
    // sent, so a config that mounts into the hook Job changes nothing there
    // and fails the render, saying why.
    let with_post_renderer = template_args(chart, &[&cfg_arg], &[]);
    let (code, out3, err) = h.run(&h.helm3, &with_post_renderer);
    assert_ne!(code, 0, "{out3}");
    assert!(
        err.contains("`polyaxon-admin-user` matches no Polyaxon workload")
            && err.contains("Helm 3 hands no hook"),
        "{err}"
    );
    let cfg3 = h.dir.path().join("polyrepo3.yaml");
    let cfg3_arg = format!("--config={}", cfg3.display());
    let (code, out3, err) = h.run(&h.helm3, &template_args(chart, &[&cfg3_arg], &[]));
    assert_eq!(code, 0, "{err}");
    let capture = String::from_utf8(fixture("helm3-replicas.yaml")).unwrap();
    let alone = binary(&["--config", cfg3.to_str().unwrap()], &capture);
    assert!(
        out3.starts_with(&alone),
        "helm 3 output is the binary's output, then the hooks"
    );
    let objs3 = objects(&out3);
    assert!(
        !has_repos_volume(&objs3["Job/polyaxon-admin-user"]),
        "hooks are untouched on Helm 3"
    );
    let api3 = &objs3["Deployment/polyaxon-polyaxon-api"];
    assert!(has_repos_volume(api3));
    assert!(common::colocation(api3).is_some(), "co-located");

    // Helm 4: through the plugin; hooks are sent.
    h.install_plugin();
    let (code, out4, err) = h.run(&h.helm4, &with_post_renderer);
    assert_eq!(code, 0, "{err}");
    let (code, plain4, err) = h.run(&h.helm4, &["template", "polyaxon", chart, "-n", "polyaxon"]);
    assert_eq!(code, 0, "{err}");
    let expected = objects(&binary(&["--config", cfg.to_str().unwrap()], &plain4));
    let got = objects(&out4);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (k, v) in &expected {
        assert_eq!(&got[k], v, "{k}: Helm 4 output differs from the binary's");
    }
    assert!(
        has_repos_volume(&got["Job/polyaxon-admin-user"]),
        "Helm 4 sends hooks to the post-renderer"
    );
    // The same volume on both majors. The co-location differs: Helm 4 also
    // counts the hook Job the config mounts the claim into, whose pods
    // carry none of the Deployments' selector labels, so the group is held
    // by the added label (and the run says the pods running today lack it).
    let api4 = &got["Deployment/polyaxon-polyaxon-api"];
    assert_eq!(
        api4.pointer("/spec/template/spec/volumes"),
        api3.pointer("/spec/template/spec/volumes"),
        "same volumes on both majors"
    );
    let term4 = common::colocation(api4).expect("co-located on Helm 4");
    assert!(term4["labelSelector"]["matchLabels"]["polyrepo-render/colocate"].is_string());
    assert!(
        common::colocation(api3).unwrap()["labelSelector"]["matchExpressions"].is_array(),
        "Helm 3 (no hooks) selects the chart's labels"
    );
}

fn show_only_returns_the_patched_api_deployment_on_both() {
    let h = Helm::new();
    let chart = fixture_chart(h.dir.path(), "helm3-default.yaml");
    h.install_plugin();
    for (helm, config) in [(&h.helm3, "polyrepo3.yaml"), (&h.helm4, "polyrepo.yaml")] {
        let args = template_args(
            chart.to_str().unwrap(),
            &["--config", config],
            &["--show-only", "templates/api-deployment.yaml"],
        );
        let (code, out, err) = h.run(helm, &args);
        assert_eq!(code, 0, "{}: {err}", helm.display());
        let objs = objects(&out);
        assert_eq!(objs.len(), 1, "{out}");
        let api = &objs["Deployment/polyaxon-polyaxon-api"];
        let vols = api
            .pointer("/spec/template/spec/volumes")
            .unwrap()
            .as_array()
            .unwrap();
        let repos = vols.iter().find(|v| v["name"] == "repos").unwrap();
        assert_eq!(
            repos["persistentVolumeClaim"]["claimName"],
            "polyaxon-repos",
            "{}",
            helm.display()
        );
        assert!(
            api.pointer("/metadata/annotations/polyrepo-render~1changes")
                .is_some()
        );
    }
}

fn a_broken_config_fails_helm_and_the_report_holds_the_error() {
    let h = Helm::new();
    let chart = fixture_chart(h.dir.path(), "helm3-default.yaml");
    std::fs::write(
        h.dir.path().join("broken.yaml"),
        "repos:\n  existingclaim: x\n",
    )
    .unwrap();
    h.install_plugin();
    for (helm, report) in [(&h.helm3, "report3.txt"), (&h.helm4, "report4.txt")] {
        let report_arg = format!("--report={report}");
        let args = template_args(
            chart.to_str().unwrap(),
            &["--config=broken.yaml", &report_arg],
            &[],
        );
        let (code, out, err) = h.run(helm, &args);
        assert_ne!(code, 0, "{}: helm must fail", helm.display());
        assert!(!out.contains("kind: Deployment"), "nothing rendered");
        // Relative to the user's working directory, on both majors.
        let text = std::fs::read_to_string(h.dir.path().join(report))
            .unwrap_or_else(|e| panic!("{report}: {e}; helm said {err}"));
        assert!(
            text.contains("error:") && text.contains("did you mean `existingClaim`"),
            "{text}"
        );
    }
}

fn a_small_chart_with_real_templating_on_both() {
    let h = Helm::new();
    let chart = h.dir.path().join("mini");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: mini\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "api:\n  replicas: 1\npersistence:\n  repos:\n    mountPath: /polyaxon-repos\n    hostPath: /tmp/repos\n    existingClaim:\n").unwrap();
    std::fs::write(
        chart.join("templates/api.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-api
  labels:
    type: polyaxon-core
spec:
  replicas: {{ .Values.api.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}-api}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-api}
    spec:
      containers:
      - name: api
        image: polyaxon/polyaxon-api:0.6.1
        env:
        - name: POLYAXON_PERSISTENCE_REPOS
          value: {{ .Values.persistence.repos | toJson | quote }}
        volumeMounts:
        - name: repos
          mountPath: {{ .Values.persistence.repos.mountPath | quote }}
      volumes:
      - name: repos
      {{- if .Values.persistence.repos.existingClaim }}
        persistentVolumeClaim:
          claimName: {{ .Values.persistence.repos.existingClaim | quote }}
      {{- else }}
        hostPath:
          path: {{ .Values.persistence.repos.hostPath | quote }}
      {{- end }}
"#,
    )
    .unwrap();
    std::fs::write(
        h.dir.path().join("claim.yaml"),
        "persistence:\n  repos:\n    existingClaim: team-repos\n",
    )
    .unwrap();
    h.install_plugin();
    for helm in [&h.helm3, &h.helm4] {
        let (code, out, err) = h.run(
            helm,
            &[
                "template",
                "r",
                chart.to_str().unwrap(),
                "-f",
                "claim.yaml",
                "--set",
                "api.replicas=2",
                "--post-renderer",
                "polyrepo-render",
                "--post-renderer-args",
                "--values=claim.yaml",
            ],
        );
        assert_eq!(code, 0, "{}: {err}", helm.display());
        let objs = objects(&out);
        let api = &objs["Deployment/r-api"];
        assert_eq!(api["spec"]["replicas"], 2);
        let env: Value = serde_json::from_str(
            api["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(env["existingClaim"], "team-repos");
        assert_eq!(
            env["hostPath"],
            Value::Null,
            "the env copy describes the claim actually mounted"
        );
        // Two replicas on a claim of unknown access mode: assumed ReadWriteOnce, co-located.
        let req = &api["spec"]["template"]["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        assert_eq!(
            req[0]["topologyKey"],
            "kubernetes.io/hostname",
            "{}",
            helm.display()
        );
    }
}

/// The plugin's commands from examples/argocd/plugin.yaml (`init`,
/// `generate`, `discover.find`), as argv.
fn argocd_step(name: &str) -> Vec<String> {
    let plugin: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("examples/argocd/plugin.yaml")).unwrap(),
    )
    .unwrap();
    let s = match name {
        "discover" => &plugin["spec"]["discover"]["find"],
        _ => &plugin["spec"][name],
    };
    let mut v: Vec<String> = serde_yaml::from_value(s["command"].clone()).unwrap();
    if let Some(args) = s.get("args") {
        v.extend(serde_yaml::from_value::<Vec<String>>(args.clone()).unwrap());
    }
    v
}

fn the_argocd_plugin_renders_with_structured_parameters_and_the_cluster_version() {
    let h = Helm::new();
    let chart = fixture_chart(h.dir.path(), "helm3-replicas.yaml");
    // The config where the parameter says, a values file and a template that
    // shows what Helm was told about the cluster and the values.
    std::fs::create_dir(chart.join("deploy")).unwrap();
    std::fs::write(chart.join("deploy/polyrepo.yaml"), CONFIG).unwrap();
    std::fs::write(chart.join("values-prod.yaml"), "probe:\n  fromFile: prod\n").unwrap();
    std::fs::write(
        chart.join("templates/zz-probe.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  \
         kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  \
         api: {{ .Capabilities.APIVersions.Has \"example.com/v1\" | quote }}\n  \
         fromFile: {{ .Values.probe.fromFile | quote }}\n  \
         fromSet: {{ .Values.probe.fromSet | quote }}\n",
    )
    .unwrap();
    let params = r#"[{"name":"config","string":"deploy/polyrepo.yaml"},
        {"name":"values-files","array":["values-prod.yaml"]},
        {"name":"set","map":{"probe.fromSet":"a,b"}},
        {"name":"release-name","string":"polyaxon"}]"#;
    let exec = |argv: Vec<String>, params: &str| {
        Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&chart)
            .env("PATH", h.path())
            .env("HELM_DATA_HOME", h.dir.path().join("data"))
            .env("HELM_CONFIG_HOME", h.dir.path().join("config"))
            .env("HELM_CACHE_HOME", h.dir.path().join("cache"))
            .env("ARGOCD_APP_NAME", "polyaxon-prod")
            .env("ARGOCD_APP_NAMESPACE", "polyaxon")
            .env("ARGOCD_APP_PARAMETERS", params)
            .env("KUBE_VERSION", "1.31.4")
            .env("KUBE_API_VERSIONS", "v1,apps/v1,example.com/v1")
            .env_remove("POLYREPO_CONFIG")
            .env_remove("POLYREPO_HELM")
            .output()
            .unwrap()
    };
    // Discovery matches through the parameter (there is no ./polyrepo.yaml),
    // and not without it.
    let found = exec(argocd_step("discover"), params);
    assert!(found.status.success() && !found.stdout.is_empty());
    let found = exec(argocd_step("discover"), "[]");
    assert!(found.status.success() && found.stdout.is_empty());
    let init = exec(argocd_step("init"), params);
    assert!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let generated = exec(argocd_step("generate"), params);
    assert!(
        generated.status.success(),
        "generate: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let out = String::from_utf8(generated.stdout).unwrap();
    let objs = objects(&out);
    let probe = &objs["ConfigMap/probe"]["data"];
    assert_eq!(probe["kube"], "v1.31.4", "KUBE_VERSION reached helm");
    assert_eq!(probe["api"], "true", "KUBE_API_VERSIONS reached helm");
    assert_eq!(probe["fromFile"], "prod");
    assert_eq!(probe["fromSet"], "a,b", "a --set value stays one value");
    // The rest is what the post-renderer makes of the same render.
    let (code, plain, err) = h.run(
        &h.helm3,
        &[
            "template",
            "polyaxon",
            chart.to_str().unwrap(),
            "-n",
            "polyaxon",
            "-f",
            chart.join("values-prod.yaml").to_str().unwrap(),
            "--set",
            "probe.fromSet=a\\,b",
            "--kube-version",
            "1.31.4",
            "--api-versions",
            "example.com/v1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let expected = binary(
        &[
            "--config",
            chart.join("deploy/polyrepo.yaml").to_str().unwrap(),
            "--namespace",
            "polyaxon",
        ],
        &plain,
    );
    assert_eq!(out, expected);
    assert_ne!(expected, plain, "the stream was patched");
}

/// Helm reads `--values` as a comma-separated list (a line break ends it),
/// so a values-files entry whose *path* holds a comma or a line break would
/// make Helm read other files than the one checked: here a file outside the
/// app folder, reached by the part after a comma or through a symlink named
/// by the part before a line break. With real Helm 3 and 4: each is refused
/// before Helm runs, and no byte of the outside file reaches the output; a
/// `set` key ending in `\` (which would swallow the `=`) is refused too,
/// while an escaped dot in a key still works.
fn argocd_values_files_cannot_reach_outside_the_app_through_helms_list_syntax() {
    let h = Helm::new();
    let d = h.dir.path();
    let outside = d.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("values.yaml"), "leak: OUTSIDE-SECRET-9f3\n").unwrap();
    let app = d.join("app");
    std::fs::create_dir_all(app.join("templates")).unwrap();
    std::fs::write(
        app.join("Chart.yaml"),
        "apiVersion: v2\nname: probe\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        app.join("templates/probe.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  values: {{ toJson .Values | quote }}\n",
    )
    .unwrap();
    std::fs::write(app.join("polyrepo.yaml"), "{}\n").unwrap();
    std::fs::write(app.join("own.yaml"), "mine: INSIDE-7c1\n").unwrap();
    // `x` is a values file of its own; `x,` is a folder holding the outside
    // file's absolute path: Helm reads `…/app/x` and `/…/outside/values.yaml`.
    std::fs::write(app.join("x"), "a: 1\n").unwrap();
    let comma_path = format!("x,{}", outside.join("values.yaml").display());
    std::fs::create_dir_all(app.join(&comma_path).parent().unwrap()).unwrap();
    std::fs::write(app.join(&comma_path), "b: 2\n").unwrap();
    // `y\nz` is a harmless file inside; Helm would read `…/app/y` instead
    // (a symlink out there is refused on its own: see tests/argocd.rs).
    std::fs::write(app.join("y\nz"), "c: 3\n").unwrap();
    std::fs::write(app.join("y"), "other: OTHER-FILE\n").unwrap();
    std::fs::write(app.join("q\"uote.yaml"), "d: 4\n").unwrap();
    let generate = |helm: &Path, params: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"))
            .args(["argocd", "generate"])
            .current_dir(&app)
            .env("POLYREPO_HELM", helm)
            .env("HELM_DATA_HOME", d.join("data"))
            .env("HELM_CONFIG_HOME", d.join("config"))
            .env("HELM_CACHE_HOME", d.join("cache"))
            .env("ARGOCD_APP_NAME", "probe")
            .env("ARGOCD_APP_NAMESPACE", "ml")
            .env("ARGOCD_APP_PARAMETERS", params)
            .env_remove("POLYREPO_CONFIG")
            .env_remove("POLYREPO_REPORT")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let param = |entry: &str| {
        serde_json::json!([{"name": "values-files", "array": ["own.yaml", entry]}]).to_string()
    };
    for helm in [&h.helm3, &h.helm4] {
        // The probe shows values files' contents: a file inside does reach it.
        let (code, out, err) = generate(helm, &param("own.yaml"));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("INSIDE-7c1"), "{out}");
        for (entry, says) in [
            (comma_path.as_str(), "a comma"),
            ("y\nz", "a line break"),
            ("q\"uote.yaml", "a double quote"),
        ] {
            let (code, out, err) = generate(helm, &param(entry));
            assert_eq!(code, 2, "{entry:?} accepted: {err}");
            assert!(out.is_empty(), "{entry:?}: something on stdout");
            assert!(!out.contains("OUTSIDE-SECRET") && !err.contains("OUTSIDE-SECRET"));
            assert!(!out.contains("OTHER-FILE"));
            assert!(err.contains(says), "{entry:?}: {err}");
        }
        // A key ending in `\` would become `x=` with a list: refused. An
        // escaped dot is an ordinary key.
        let (code, out, err) = generate(helm, r#"[{"name":"set","map":{"x\\":"={a,b}"}}]"#);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty() && err.contains("not a values path"), "{err}");
        let (code, out, err) = generate(
            helm,
            r#"[{"name":"set","map":{"sel.kubernetes\\.io/role":"a,b"}}]"#,
        );
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(r#"\"sel\":{\"kubernetes.io/role\":\"a,b\"}"#),
            "{out}"
        );
    }
}

fn the_helm4_plugin_prefers_its_own_bin_folder() {
    let h = Helm::new();
    let chart = fixture_chart(h.dir.path(), "helm3-default.yaml");
    // The binary copied into the plugin's bin/, and no polyrepo-render on PATH.
    h.install_plugin_with(Some(Path::new(env!("CARGO_BIN_EXE_polyrepo-render"))));
    let run4 = |args: &[&str]| {
        let out = h
            .cmd(&h.helm4)
            .env("PATH", "/usr/bin:/bin")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run4(&template_args(
        chart.to_str().unwrap(),
        &["--config=polyrepo.yaml"],
        &["--show-only", "templates/api-deployment.yaml"],
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("claimName: polyaxon-repos"), "{out}");
}

fn a_helm4_user_finds_every_report_under_the_helm_cache_without_asking() {
    let h = Helm::new();
    h.install_plugin();
    let chart = fixture_chart(h.dir.path(), "helm3-default.yaml");
    let latest = h.dir.path().join("cache/polyrepo-render/latest.txt");
    // A run that works: its changes and warnings are there.
    let (code, _, err) = h.run(
        &h.helm4,
        &template_args(chart.to_str().unwrap(), &["--config=polyrepo.yaml"], &[]),
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&latest).unwrap();
    assert!(
        text.contains("changed ") && text.contains("warning:"),
        "{text}"
    );
    // A misspelt flag: Helm 4 shows only "plugin exited with error"; the
    // usage error is in the latest report.
    let (code, _, _) = h.run(
        &h.helm4,
        &template_args(chart.to_str().unwrap(), &["--confg=polyrepo.yaml"], &[]),
    );
    assert_ne!(code, 0);
    let text = std::fs::read_to_string(&latest).unwrap();
    assert!(
        text.starts_with("polyrepo-render: error: unexpected argument") && text.contains("--confg"),
        "{text}"
    );
    // One file per run, besides latest.txt.
    let runs = std::fs::read_dir(h.dir.path().join("cache/polyrepo-render"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("report-")
        })
        .count();
    assert_eq!(runs, 2);
    // The wrapper's own error (no binary anywhere) lands there too.
    let out = h
        .cmd(&h.helm4)
        .env("PATH", "/usr/bin:/bin")
        .args(template_args(
            chart.to_str().unwrap(),
            &["--config=polyrepo.yaml"],
            &[],
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&latest).unwrap();
    assert!(text.contains("not found on PATH"), "{text}");
}

/// The README's Helm 4 steps, with Helm 3 and Helm 4 sharing one
/// `HELM_DATA_HOME` (their default): Helm 3 keeps working, its plain plugins
/// included, and Helm 4 renders through the plugin.
fn helm3_and_helm4_side_by_side_after_the_readme_steps() {
    let h = Helm::new();
    let chart = fixture_chart(h.dir.path(), "helm3-default.yaml");
    // A plain Helm 3 plugin, installed by Helm 3 in the shared folder.
    let hello = h.dir.path().join("hello");
    std::fs::create_dir(&hello).unwrap();
    std::fs::write(
        hello.join("plugin.yaml"),
        "name: hello\nversion: 0.1.0\nusage: says hello\ndescription: says hello\ncommand: \"echo hello-from-helm3-plugin\"\n",
    )
    .unwrap();
    let (code, _, err) = h.run(&h.helm3, &["plugin", "install", hello.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // The README: scripts/install-helm-plugin.sh, then its line in the profile.
    let mut install = Command::new(root().join("scripts/install-helm-plugin.sh"));
    install.env_remove("XDG_DATA_HOME");
    h.install_with(install);
    // Helm 3: plugin list works and the plain plugin still runs.
    let (code, list, err) = h.run(&h.helm3, &["plugin", "list"]);
    assert_eq!(code, 0, "helm 3 plugin list: {err}");
    assert!(
        list.contains("hello") && !list.contains("polyrepo-render"),
        "{list}"
    );
    let (code, out, err) = h.run(&h.helm3, &["hello"]);
    assert_eq!((code, out.trim()), (0, "hello-from-helm3-plugin"), "{err}");
    // Helm 4 sees both, and renders through the plugin.
    let (code, out, err) = h.run(&h.helm4, &["hello"]);
    assert_eq!((code, out.trim()), (0, "hello-from-helm3-plugin"), "{err}");
    let (code, out, err) = h.run(
        &h.helm4,
        &template_args(
            chart.to_str().unwrap(),
            &["--config=polyrepo.yaml"],
            &["--show-only", "templates/api-deployment.yaml"],
        ),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("claimName: polyaxon-repos"), "{out}");
}

/// A user who followed the old README (`helm plugin install ./plugin`, into
/// the folder Helm 3 shares) is told which folder still breaks Helm 3.
fn the_install_script_names_an_old_install_that_breaks_helm3() {
    let h = Helm::new();
    let (code, _, err) = h.run(
        &h.helm4,
        &["plugin", "install", root().join("plugin").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let d = h.dir.path();
    let out = Command::new(root().join("scripts/install-helm-plugin.sh"))
        .current_dir(d)
        .env("HELM_DATA_HOME", d.join("data"))
        .env("PATH", h.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let old = d.join("data/plugins/plugin");
    assert!(
        err.contains("warning:") && err.contains(&format!("rm -rf '{}'", old.display())),
        "{err}"
    );
}

/// The install script checks before it writes: it never replaces a folder
/// that is not the plugin, never installs into a folder Helm 3 reads (however
/// it is spelt), and a failed run leaves the previous install working.
fn the_install_script_checks_before_it_writes() {
    let h = Helm::new();
    let d = h.dir.path();
    let script = |args: &[&str]| {
        let out = Command::new(root().join("scripts/install-helm-plugin.sh"))
            .args(["--helm", "helm4"])
            .args(args)
            .current_dir(d)
            .env("HELM_DATA_HOME", d.join("data"))
            .env("PATH", h.path())
            .env_remove("HELM_PLUGINS")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Someone's own folder named polyrepo-render is left alone.
    let work = d.join("work");
    std::fs::create_dir_all(work.join("polyrepo-render/src")).unwrap();
    std::fs::write(work.join("polyrepo-render/src/wip.rs"), "keep me").unwrap();
    let (code, err) = script(&["--dir", work.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not this plugin"), "{err}");
    assert!(work.join("polyrepo-render/src/wip.rs").exists());
    // The shared folder, spelt with a trailing slash or a `.`, is refused.
    std::fs::create_dir_all(d.join("data/plugins")).unwrap();
    for spelling in ["data/plugins/", "data/./plugins"] {
        let (code, err) = script(&["--dir", d.join(spelling).to_str().unwrap()]);
        assert_eq!(code, Some(2), "{spelling}: {err}");
        assert!(err.contains("Helm 3 reads too"), "{err}");
    }
    // A good install, then a failing one (a --binary typo): the first stays.
    let (code, err) = script(&[]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = script(&["--binary", "/nonexistent/polyrepo-render"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = script(&["--binary", d.to_str().unwrap()]);
    assert_eq!(code, Some(2), "a folder is not a binary: {err}");
    let left: Vec<_> = std::fs::read_dir(d.join("data/plugins-v4"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("polyrepo-render")]);
    let (code, _, err) = h.run(&h.helm3, &["plugin", "list"]);
    assert_eq!(code, 0, "{err}");
}

/// target/helm-bin/helm3 and helm4, where `scripts/fetch-helm.sh` puts them.
fn helm_bins() -> (PathBuf, PathBuf) {
    let bins = root().join("target/helm-bin");
    (bins.join("helm3"), bins.join("helm4"))
}

fn main() {
    let (h3, h4) = helm_bins();
    let missing = (!h3.exists() || !h4.exists()).then(|| {
        format!(
            "Helm binaries missing in {} (run scripts/fetch-helm.sh)",
            h3.parent().unwrap().display()
        )
    });
    run_needing(
        missing,
        vec![
            (
                "helm3_and_helm4_template_give_what_the_binary_gives_hooks_only_on_helm4",
                helm3_and_helm4_template_give_what_the_binary_gives_hooks_only_on_helm4,
            ),
            (
                "show_only_returns_the_patched_api_deployment_on_both",
                show_only_returns_the_patched_api_deployment_on_both,
            ),
            (
                "a_broken_config_fails_helm_and_the_report_holds_the_error",
                a_broken_config_fails_helm_and_the_report_holds_the_error,
            ),
            (
                "a_small_chart_with_real_templating_on_both",
                a_small_chart_with_real_templating_on_both,
            ),
            (
                "the_argocd_plugin_renders_with_structured_parameters_and_the_cluster_version",
                the_argocd_plugin_renders_with_structured_parameters_and_the_cluster_version,
            ),
            (
                "argocd_values_files_cannot_reach_outside_the_app_through_helms_list_syntax",
                argocd_values_files_cannot_reach_outside_the_app_through_helms_list_syntax,
            ),
            (
                "the_helm4_plugin_prefers_its_own_bin_folder",
                the_helm4_plugin_prefers_its_own_bin_folder,
            ),
            (
                "a_helm4_user_finds_every_report_under_the_helm_cache_without_asking",
                a_helm4_user_finds_every_report_under_the_helm_cache_without_asking,
            ),
            (
                "helm3_and_helm4_side_by_side_after_the_readme_steps",
                helm3_and_helm4_side_by_side_after_the_readme_steps,
            ),
            (
                "the_install_script_names_an_old_install_that_breaks_helm3",
                the_install_script_names_an_old_install_that_breaks_helm3,
            ),
            (
                "the_install_script_checks_before_it_writes",
                the_install_script_checks_before_it_writes,
            ),
        ],
    )
}
