//! Unit tests of the editor: each splice, in block and flow style, and the
//! edits it refuses.

use super::*;
use crate::yaml as stream;
use serde_json::json;

/// An implicit pair in a flow sequence (`[name: api]`, a mapping
/// without braces) gets its new entry inside braces it did not have
/// (before, the entry went where a closing brace was assumed, inside the
/// value, `[a: , "k": 1x]`, or panicked inside a character), and an
/// empty flow value is replaced after its colon (before, `[k: ]` became
/// `[k 1: ]`).
#[test]
fn flow_mappings_take_an_entry_whatever_their_shape() {
    for (text, want) in [
        ("l: [a: é]\n", json!({"l": [{"a": "é", "k": 1}]})),
        ("l: [a: x, b]\n", json!({"l": [{"a": "x", "k": 1}, "b"]})),
        ("l: [ a: x , b ]\n", json!({"l": [{"a": "x", "k": 1}, "b"]})),
        ("l: [a: ]\n", json!({"l": [{"a": null, "k": 1}]})),
        ("l: [a: {b: 1}]\n", json!({"l": [{"a": {"b": 1}, "k": 1}]})),
        // The key is there: its value replaced, empty or not.
        ("l: [k: ]\n", json!({"l": [{"k": 1}]})),
        ("l: [k: x]\n", json!({"l": [{"k": 1}]})),
        ("l: {k: }\n", json!({"l": {"k": 1}})),
        ("l: {k}\n", json!({"l": {"k": 1}})),
        ("l: {k: , b: 2}\n", json!({"l": {"k": 1, "b": 2}})),
        ("l: {\"k\": }\n", json!({"l": {"k": 1}})),
    ] {
        let s = stream::parse(text).unwrap();
        let l = s.docs[0].root.get("l").unwrap();
        let pair = l.items().map_or(l, |i| &i[0]);
        let mut ed = Editor::new(text, "\n");
        ed.set_entry(pair, "k", &json!(1)).unwrap();
        let out = apply(text, &mut ed.into_edits()).unwrap();
        let back = stream::parse(&out).unwrap_or_else(|e| panic!("{out:?}: {e}"));
        let d = &back.docs[0];
        assert_eq!(
            crate::yaml::to_json(&d.root, &d.anchors).unwrap(),
            want,
            "{text:?} -> {out:?}"
        );
    }
}

/// `apply` refuses an edit made over another text, and `set_entry` a
/// node outside its text: an error, not a panic (out of range, or
/// inside a character).
#[test]
fn edits_that_do_not_fit_the_text_are_refused() {
    let long = "key: value\nother: thing\n";
    let s = stream::parse(long).unwrap();
    let mut ed = Editor::new(long, "\n");
    ed.replace_string(s.docs[0].root.get("other").unwrap(), "x");
    let mut edits = ed.into_edits();
    assert!(apply("key: value\n", &mut edits).is_err());
    assert_eq!(
        apply(long, &mut edits).unwrap(),
        "key: value\nother: \"x\"\n"
    );
    let mut inside = vec![Edit {
        start: 1,
        end: 2,
        text: "x".into(),
    }];
    assert!(apply("é", &mut inside).is_err());
    let mut short = Editor::new("a: 1\n", "\n");
    assert!(short.set_entry(&s.docs[0].root, "k", &json!("v")).is_err());
}

/// The public edit proves what it wrote: a value replaced or an entry
/// added, read back as Kubernetes reads it; what the editor cannot
/// write exactly is an error, never another meaning.
#[test]
fn set_root_entry_writes_exactly_or_refuses() {
    let value = json!([{"message": "ok", "severity": "info"}]);
    for (text, want) in [
        ("a: 1\n", json!({"a": 1, "results": value})),
        ("a: 1\nresults: []\n", json!({"a": 1, "results": value})),
        ("{a: 1}\n", json!({"a": 1, "results": value})),
        (
            "a: 1\r\nresults:\r\n- x\r\n",
            json!({"a": 1, "results": value}),
        ),
        // Anchors elsewhere in the document stay as they are.
        (
            "a: &x 1\nb: *x\n",
            json!({"a": 1, "b": 1, "results": value}),
        ),
    ] {
        let out = set_root_entry(text, "results", &value).unwrap();
        let back = stream::parse(&out).unwrap();
        let d = &back.docs[0];
        assert_eq!(
            crate::yaml::to_json(&d.root, &d.anchors).unwrap(),
            want,
            "{out:?}"
        );
    }
    for (text, key, value) in [
        ("? results\n: 1\n", "results", json!([1])),
        ("results: !!seq\n  - a\n", "results", json!("")),
        ("on: 1\n", "on", json!(2)),
        // An old value an alias shares.
        ("results: &x 1\nb: *x\n", "results", json!(2)),
        ("- a\n", "results", json!(1)),
        ("results: 1\nresults: 2\n", "results", json!(3)),
        ("a: 1\n---\nb: 2\n", "results", json!(1)),
    ] {
        let r = set_root_entry(text, key, &value);
        assert!(r.is_err(), "{text:?} -> {r:?}");
    }
}

fn edit(text: &str, f: impl Fn(&mut Editor<'_>, &Node<'_>)) -> String {
    let s = stream::parse(text).unwrap();
    let mut e = Editor::new(text, if text.contains("\r\n") { "\r\n" } else { "\n" });
    f(&mut e, &s.docs[0].root);
    let out = apply(text, &mut e.edits).unwrap();
    stream::parse(&out).expect("edited text parses");
    out
}

#[test]
fn add_entries_to_block_and_flow_mappings() {
    let out = edit("a:\n  b: 1 # keep\nc: {x: 1}\n", |e, r| {
        e.set_entry(r.get("a").unwrap(), "d", &json!({"e": ["f"]}))
            .unwrap();
        e.set_entry(r.get("c").unwrap(), "y", &json!("on")).unwrap();
    });
    assert_eq!(
        out,
        "a:\n  b: 1 # keep\n  d:\n    e:\n      - f\nc: {x: 1, \"y\": \"on\"}\n"
    );
}

#[test]
fn append_to_sequences_keeps_indentation_and_crlf() {
    let out = edit("l:\r\n- a: 1\r\n  b: 2\r\nm: []\r\n", |e, r| {
        e.append(
            r.get("l").unwrap(),
            &json!({"name": "repos", "x": {"y": 1}}),
        )
        .unwrap();
        e.append(r.get("m").unwrap(), &json!(1)).unwrap();
    });
    assert_eq!(
        out,
        "l:\r\n- a: 1\r\n  b: 2\r\n- name: repos\r\n  x:\r\n    \"y\": 1\r\nm: [1]\r\n"
    );
}

#[test]
fn replace_values_in_place() {
    let out = edit(
        "v:\n  - name: repos\n    hostPath:\n      path: \"/tmp\"  # c\n  - name: b\ne: \"old\"\nn:\n",
        |e, r| {
            let item = &r.get("v").unwrap().items().unwrap()[0];
            e.replace(
                item,
                &json!({"name": "repos", "persistentVolumeClaim": {"claimName": "c"}}),
            );
            e.replace_string(r.get("e").unwrap(), "{\"a\":null}");
            e.set_entry(r, "n", &json!({"k": "v"})).unwrap();
        },
    );
    assert_eq!(
        out,
        "v:\n  - name: repos\n    persistentVolumeClaim:\n      claimName: c  # c\n  - name: b\ne: \"{\\\"a\\\":null}\"\nn:\n  k: v\n"
    );
}

#[test]
fn insertions_at_one_point_nest_inner_first() {
    let out = edit(
        "spec:\n  containers:\n  - name: c\n    image: i\n",
        |e, r| {
            let spec = r.get("spec").unwrap();
            e.set_entry(spec, "volumes", &json!([{"name": "repos"}]))
                .unwrap();
            let c = &spec.get("containers").unwrap().items().unwrap()[0];
            e.set_entry(c, "volumeMounts", &json!([{"name": "repos"}]))
                .unwrap();
        },
    );
    assert_eq!(
        out,
        "spec:\n  containers:\n  - name: c\n    image: i\n    volumeMounts:\n      - name: repos\n  volumes:\n    - name: repos\n"
    );
}

#[test]
fn keep_chomped_block_scalars_keep_their_trailing_lines() {
    let text = "m:\n  a: >+\n    n\n\n  b: |+\n    x\n\nl:\n- |+\n  y\n\n";
    let out = edit(text, |e, r| {
        e.set_entry(r.get("m").unwrap(), "c", &json!("z")).unwrap();
        e.append(r.get("l").unwrap(), &json!("w")).unwrap();
        e.replace_string(r.get("m").unwrap().get("b").unwrap(), "new");
    });
    assert_eq!(
        out,
        "m:\n  a: >+\n    n\n\n  b: \"new\"\n  c: z\nl:\n- |+\n  y\n\n- w\n"
    );
}

#[test]
fn keep_chomped_block_scalars_inside_sequence_items_keep_their_trailing_lines() {
    // The next key is indented: the scalar still ends at its line start.
    let text = "- m:\n    a: >+\n      n\n\n  k: v\n";
    let out = edit(text, |e, r| {
        let item = &r.items().unwrap()[0];
        e.set_entry(item.get("m").unwrap(), "c", &json!("z"))
            .unwrap();
    });
    assert_eq!(out, "- m:\n    a: >+\n      n\n\n    c: z\n  k: v\n");
}

#[test]
fn overlapping_edits_are_refused() {
    let mut edits = vec![
        Edit {
            start: 0,
            end: 3,
            text: "x".into(),
        },
        Edit {
            start: 2,
            end: 4,
            text: "y".into(),
        },
    ];
    assert!(apply("abcdef", &mut edits).is_err());
}

#[test]
fn writing_in_pieces_writes_the_same_and_says_how_far_it_got() {
    let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let mut edits = vec![
        Edit {
            start: 5,
            end: 9,
            text: "X".into(),
        },
        Edit {
            start: 700,
            end: 700,
            text: "inserted\n".into(),
        },
        Edit {
            start: 9000,
            end: 9100,
            text: String::new(),
        },
    ];
    edits.sort_by_key(|e| (e.start, e.end));
    let mut whole = Vec::new();
    write(&text, &edits, &mut whole).unwrap();
    for every in [1, 7, 100, 4096, usize::MAX] {
        let mut out = Vec::new();
        let mut told = Vec::new();
        write_all(&text, edits.iter(), &mut out, every, |n| {
            // All of text[..n] is out already.
            told.push(n);
        })
        .unwrap();
        assert_eq!(out, whole, "every {every}");
        assert!(
            told.windows(2)
                .all(|w| w[0] < w[1] && w[1] - w[0] >= every.min(text.len()))
        );
        assert!(told.iter().all(|&n| n <= text.len()));
        if every <= 4096 {
            assert!(!told.is_empty(), "every {every}");
        }
    }
}
