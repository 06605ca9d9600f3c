// The three configurations the fuzz target and the regression tests run
// every input under, chosen by the input's first byte. Shared with
// `include!`, so a regression input replays exactly as it was found.

/// Settings for a fuzz input's selector byte.
fn settings(selector: u8) -> polyrepo_render::config::Settings {
    use polyrepo_render::config::{AccessMode, Settings, Source};
    match selector % 3 {
        0 => Settings::default(),
        1 => Settings {
            configured: true,
            source: Some(Source::Claim("polyaxon-repos".into())),
            access_mode: Some(AccessMode::ReadWriteOnce),
            mount_into: vec!["*-scheduler".into()],
            ..Settings::default()
        },
        _ => Settings {
            configured: true,
            source: Some(Source::HostPath("/data/repos".into())),
            mount_path: Some("/code".into()),
            sub_path: Some("team-a".into()),
            read_only: Some(true),
            node: Some("worker-2".into()),
            ..Settings::default()
        },
    }
}
