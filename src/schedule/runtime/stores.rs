//! The data run-time pods mount: each persistence setting's value read as
//! Polyaxon reads it, and when two data keys are the same data.

use super::Store;
use crate::inventory::VolumeInfo;
use crate::schedule::data::{DataKey, within};
use serde_json::Value;

/// The volumes a run-time pod gets from one persistence setting's value,
/// read as Polyaxon reads it (`None`: not a JSON object).
pub(crate) fn volumes_of(store: Store, value: &str) -> Option<Vec<VolumeInfo>> {
    let v: Value = serde_json::from_str(value).ok()?;
    let one = |name: String, d: &Value| -> Option<VolumeInfo> {
        let d = d.as_object()?;
        let mount = d.get("mountPath").and_then(Value::as_str)?;
        if mount.is_empty() {
            return None;
        }
        let claim = d
            .get("existingClaim")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let host_key = if store == Store::Repos {
            "host_path"
        } else {
            "hostPath"
        };
        let host = match store {
            // Polyaxon reads `host_path`, falling back to the mount path.
            Store::Repos => Some(
                d.get(host_key)
                    .and_then(Value::as_str)
                    .unwrap_or(mount)
                    .to_string(),
            ),
            _ => d
                .get(host_key)
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(str::to_string),
        };
        Some(VolumeInfo {
            name,
            host_path: if claim.is_some() {
                None
            } else {
                host.map(|h| (h, None))
            },
            claim: claim.map(str::to_string),
            read_only: d.get("readOnly").and_then(Value::as_bool) == Some(true),
        })
    };
    let o = v.as_object()?;
    Some(match store {
        Store::Repos => one("repos".into(), &v).into_iter().collect(),
        _ => o
            .iter()
            .filter_map(|(name, d)| one(format!("{}/{name}", store_name(store)), d))
            .collect(),
    })
}

fn store_name(s: Store) -> &'static str {
    match s {
        Store::Outputs => "outputs",
        Store::Data => "data",
        Store::Repos => "repos",
    }
}

/// True when two data keys are the same data (a claim) or overlap (host
/// directories equal or nested).
pub(super) fn touches(a: &DataKey, b: &DataKey) -> bool {
    match (a, b) {
        (DataKey::Host(x), DataKey::Host(y)) => within(x, y) || within(y, x),
        // A namespace not known may be the other's.
        (
            DataKey::Claim {
                namespace: n1,
                name: x,
                ..
            },
            DataKey::Claim {
                namespace: n2,
                name: y,
                ..
            },
        ) => x == y && (n1 == n2 || n1.is_none() || n2.is_none()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_read_as_polyaxon_reads_them() {
        let v = volumes_of(
            Store::Outputs,
            r#"{"a":{"mountPath":"/o","hostPath":"/h"},"b":{"mountPath":"/p","existingClaim":"c","hostPath":"/x"},"s3":{"store":"s3","bucket":"b"},"n":{"hostPath":"/no-mount"}}"#,
        )
        .unwrap();
        assert_eq!(v.len(), 2, "no mountPath, no volume");
        assert_eq!(v[0].host_path.as_ref().unwrap().0, "/h");
        assert_eq!(v[1].claim.as_deref(), Some("c"));
        assert!(v[1].host_path.is_none(), "the claim comes first");
        // The repos' hostPath is not what Polyaxon reads.
        let r = volumes_of(
            Store::Repos,
            r#"{"mountPath":"/polyaxon-repos","hostPath":"/tmp/repos"}"#,
        )
        .unwrap();
        assert_eq!(r[0].host_path.as_ref().unwrap().0, "/polyaxon-repos");
        assert!(volumes_of(Store::Data, "[1]").is_none());
    }
}
