//! The KRM function mode (issue 12), against the KRM Functions
//! Specification: a lone `ResourceList` on stdin, a `ResourceList` with
//! `results` on stdout, even on failure, and a non-zero exit then. Judged
//! by the oracle, never by the crate's own reader.

mod common;
mod oracle;

use common::*;
use serde_json::{Value, json};

const API: &str = "- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: polyaxon-api
    namespace: polyaxon
    labels: {type: polyaxon-core}
    annotations:
      internal.config.kubernetes.io/path: api.yaml
      internal.config.kubernetes.io/index: '0'
  spec:
    replicas: 1
    selector: {matchLabels: {app: api}}
    template:
      metadata: {labels: {app: api}}
      spec:
        containers:
        - name: api
          image: x
          volumeMounts: [{name: repos, mountPath: /repos}]
        volumes:
        - name: repos
          hostPath: {path: /tmp/repos}
";

/// An item no change concerns, full of comments and YAML 1.1 traps.
const CM: &str = "- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: c   # a comment
    annotations:
      internal.config.kubernetes.io/path: cm.yaml
  data: {mode: 0644, flag: on, n: 'y', octal: 0o17}
";

const RWX: &str = "repos:\n  existingClaim: polyaxon-repos-shared\n  accessMode: ReadWriteMany\n  mountPath: /polyaxon-repos\n";

fn resource_list(function_config: &str, items: &str) -> String {
    format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n{function_config}items:\n{items}"
    )
}

fn polyrepo_render_config(config: &str) -> String {
    let spec: String = config.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "functionConfig:\n  apiVersion: polyrepo-render/v1\n  kind: PolyrepoRender\n  metadata:\n    name: repos\n  spec:\n{spec}"
    )
}

fn read_one(text: &str) -> Value {
    let mut docs = oracle::read(text).unwrap();
    assert_eq!(docs.len(), 1, "{text}");
    docs.remove(0)
}

/// The post-renderer's output for the same items written as a stream.
fn as_post_renderer(items: &str, config: &str) -> Vec<Value> {
    let list = format!("apiVersion: v1\nkind: List\nitems:\n{items}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(dir.path(), "polyrepo.yaml", config);
    let r = run(&["--config", cfg.to_str().unwrap()], list.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    read_one(&r.out())["items"].as_array().unwrap().clone()
}

#[test]
fn a_polyrepo_render_function_config_patches_the_items_and_reports_in_results() {
    let items = format!("{CM}{API}");
    let input = resource_list(&polyrepo_render_config(RWX), &items);
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    let got = read_one(&out);
    // Items in order, each as the post-renderer makes it.
    assert_eq!(
        got["items"].as_array().unwrap(),
        &as_post_renderer(&items, RWX)
    );
    assert_eq!(
        got["items"][1]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "polyaxon-repos-shared"
    );
    // The untouched item keeps its bytes (comments, 0644, on).
    assert!(out.contains(CM), "{out}");
    // Orchestration annotations are never changed.
    let ann = &got["items"][1]["metadata"]["annotations"];
    assert_eq!(ann["internal.config.kubernetes.io/path"], "api.yaml");
    assert_eq!(ann["internal.config.kubernetes.io/index"], "0");
    // The change as an info result naming the item and its file.
    let results = got["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{out}");
    assert_eq!(results[0]["severity"], "info");
    assert_eq!(
        results[0]["resourceRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "polyaxon-api", "namespace": "polyaxon"})
    );
    assert_eq!(results[0]["file"], json!({"path": "api.yaml", "index": 0}));
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment/polyaxon-api: repos volume")
    );
    // The functionConfig is left as it was.
    assert_eq!(got["functionConfig"]["kind"], "PolyrepoRender");
    // Running the function on its own output changes no item.
    let again = run(&[], out.as_bytes());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(read_one(&again.out())["items"], got["items"]);
}

#[test]
fn a_config_map_function_config_is_read_from_its_polyrepo_yaml() {
    let text: String = RWX.lines().map(|l| format!("      {l}\n")).collect();
    let fc = format!(
        "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: repos}}\n  data:\n    polyrepo.yaml: |\n{text}"
    );
    let input = resource_list(&fc, API);
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_one(&r.out())["items"].as_array().unwrap(),
        &as_post_renderer(API, RWX)
    );
}

#[test]
fn without_a_function_config_the_usual_config_applies() {
    let input = resource_list("", API);
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(dir.path(), "polyrepo.yaml", RWX);
    let r = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_one(&r.out())["items"].as_array().unwrap(),
        &as_post_renderer(API, RWX)
    );
    // With no config at all, the post-renderer's defaults, as on a stream.
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = format!("apiVersion: v1\nkind: List\nitems:\n{API}");
    let plain = run(&[], list.as_bytes());
    assert_eq!(read_one(&r.out())["items"], read_one(&plain.out())["items"]);
}

#[test]
fn an_invalid_config_is_an_error_result_with_its_line_and_a_non_zero_exit() {
    let bad = RWX.replace("ReadWriteMany", "Sometimes");
    let input = resource_list(&polyrepo_render_config(&bad), &format!("{CM}{API}"));
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 2, "{}", r.stderr);
    // The ResourceList still comes out: items unchanged, the error in results.
    let out = r.out();
    assert!(out.starts_with(&input), "{out}");
    let got = read_one(&out);
    let results = got["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["severity"], "error");
    let m = results[0]["message"].as_str().unwrap();
    // Its place in the function's configuration (line 8 of the object, as
    // in a file that holds it), not in the ResourceList built around it.
    assert!(
        m.contains("Sometimes") && m.contains("functionConfig:8:"),
        "{m}"
    );
    let annotated = polyrepo_render_config(&bad).replace(
        "    name: repos\n",
        "    name: repos\n    annotations: {config.kubernetes.io/path: fn/polyrepo-render.yaml}\n",
    );
    let r = run(&[], resource_list(&annotated, API).as_bytes());
    assert_eq!(r.code, 2, "{}", r.stderr);
    let got = read_one(&r.out());
    let m = got["results"][0]["message"].as_str().unwrap();
    assert!(
        m.contains("functionConfig of fn/polyrepo-render.yaml:9:"),
        "{m}"
    );
    // An unknown functionConfig kind is refused, naming what is read.
    let other = resource_list(
        "functionConfig: {apiVersion: example.com/v1, kind: Other}\n",
        API,
    );
    let r = run(&[], other.as_bytes());
    assert_eq!(r.code, 2);
    assert!(
        read_one(&r.out())["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PolyrepoRender")
    );
}

#[test]
fn an_unsafe_stream_is_an_error_result_naming_the_resource() {
    // A ReadWriteOnce claim shared by three pods that a Recreate cannot
    // keep on one node: refused, the Deployment named.
    let rwo = "repos:\n  existingClaim: solo\n  accessMode: ReadWriteOncePod\n";
    let items = API.replace("replicas: 1", "replicas: 3");
    let input = resource_list(&polyrepo_render_config(rwo), &items);
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let got = read_one(&r.out());
    let e = &got["results"][0];
    assert_eq!(e["severity"], "error");
    assert_eq!(e["resourceRef"]["name"], "polyaxon-api", "{e}");
    assert_eq!(got["items"][0]["spec"]["replicas"], 3, "items unchanged");
}

#[test]
fn results_of_an_earlier_function_are_replaced() {
    let input = resource_list(&polyrepo_render_config(RWX), API)
        + "results:\n- {message: from before, severity: warning}\n";
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = read_one(&r.out());
    let results = got["results"].as_array().unwrap();
    assert!(
        results.iter().all(|r| r["message"] != "from before"),
        "{results:?}"
    );
}

#[test]
fn kpt_s_empty_config_map_means_no_config_and_results_name_the_changed_item() {
    // kpt sends `data: {}` when given no function config: the usual config
    // applies (here POLYREPO_CONFIG), not an error.
    let fc = "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: function-input}\n  data: {}\n";
    let scheduler = API
        .replace("polyaxon-api", "polyaxon-scheduler")
        .replace("api.yaml", "scheduler.yaml");
    let items = format!("{API}{scheduler}");
    let input = resource_list(fc, &items);
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(dir.path(), "polyrepo.yaml", RWX);
    let r = run_env(
        &[],
        input.as_bytes(),
        &[("POLYREPO_CONFIG", cfg.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = read_one(&r.out());
    assert_eq!(
        got["items"].as_array().unwrap(),
        &as_post_renderer(&items, RWX)
    );
    // Each change is filed under the item it changes, with its file.
    for result in got["results"].as_array().unwrap() {
        let name = result["resourceRef"]["name"].as_str().unwrap();
        assert!(
            result["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Deployment/{name}:")),
            "{result}"
        );
        let file = if name.ends_with("scheduler") {
            "scheduler.yaml"
        } else {
            "api.yaml"
        };
        assert_eq!(result["file"]["path"], file, "{result}");
    }
    // A functionConfig that is not an object says what it must be.
    let r = run(
        &[],
        resource_list("functionConfig: just text\n", API).as_bytes(),
    );
    assert_eq!(r.code, 2);
    let m = read_one(&r.out())["results"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        m.contains("not an object") && m.contains("PolyrepoRender"),
        "{m}"
    );
}

/// The ResourceList the function writes is read back as the orchestrator
/// will read it: an anchored `results` that `items` aliases (replacing it
/// would leave `items: *r` pointing nowhere) and a second `results` key
/// (a stale copy would stay) are refused, the ResourceList written as it
/// came, exit 1.
#[test]
fn results_that_cannot_be_replaced_in_place_are_refused_not_corrupted() {
    for (input, says) in [
        (
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nresults: &r []\nitems: *r\n"
                .to_string(),
            "unknown anchor",
        ),
        (
            resource_list("", CM)
                + "results: []\nfunctionConfig: {apiVersion: v1, kind: ConfigMap}\nresults: [{message: stale, severity: info}]\n",
            "`results` is written 2 times",
        ),
    ] {
        let r = run(&[], input.as_bytes());
        assert_eq!(r.code, 1, "{input}: {}", r.stderr);
        assert_eq!(r.out(), input, "written as it came");
        assert!(
            r.stderr.contains("`results` cannot be replaced in place") && r.stderr.contains(says),
            "{}",
            r.stderr
        );
    }
}
