//! The repos volume and mount a workload gets: the source the settings
//! name, kept read-only where the rendered volume was, beside the volumes
//! the workload already has.

use super::Mount;
use crate::config::Source;
use crate::inventory::{REPOS_VOLUME, VolumeInfo, Workload};

/// The volume source a workload's `repos` volume has in the stream.
pub(super) fn source_of(v: &VolumeInfo) -> Option<Source> {
    if let Some((path, _)) = &v.host_path {
        return Some(Source::HostPath(path.clone()));
    }
    v.claim.clone().map(Source::Claim)
}

/// How a workload's containers mount `repos` in the stream (first mount found).
pub(super) fn mount_of(w: &Workload) -> Option<Mount> {
    w.pod.repos_mount.as_ref().map(|m| Mount {
        mount_path: m.mount_path.clone(),
        sub_path: m.sub_path.clone().filter(|p| !p.is_empty()),
        read_only: m.read_only.unwrap_or(false),
    })
}

/// The volume the settings ask for, keeping a compatible existing
/// hostPath `type`.
pub(super) fn volume_for(
    source: &Source,
    read_only: bool,
    existing: Option<&VolumeInfo>,
) -> VolumeInfo {
    let (host_path, claim) = match source {
        Source::HostPath(path) => {
            let type_ = existing
                .and_then(|e| e.host_path.as_ref())
                .and_then(|(_, t)| t.clone());
            (Some((path.clone(), type_)), None)
        }
        Source::Claim(name) => (None, Some(name.clone())),
    };
    VolumeInfo {
        name: REPOS_VOLUME.into(),
        read_only: read_only && claim.is_some(),
        host_path,
        claim,
    }
}

/// The pod's data volumes once the planned `repos` volume is in place.
pub(super) fn planned_volumes(w: &Workload, volume: &VolumeInfo) -> Vec<VolumeInfo> {
    let mut vols = w.pod.volumes.to_vec();
    match vols.iter_mut().find(|v| v.name == REPOS_VOLUME) {
        Some(v) => *v = volume.clone(),
        None => vols.push(volume.clone()),
    }
    vols
}
