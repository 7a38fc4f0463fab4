//! systemd units of a microk8s node, by the names snap gives them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::name::InvalidName;

/// A systemd unit on the node.
///
/// microk8s runs its daemons as snap services: `kubelite` is
/// `snap.microk8s.daemon-kubelite`. [`Unit::systemd_name`] gives that name;
/// parsing accepts the short name (`kubelite`), the snap name, or the snap name
/// with `.service`.
///
/// ```
/// use kubestall_node::Unit;
/// let u: Unit = "snap.microk8s.daemon-k8s-dqlite.service".parse().unwrap();
/// assert_eq!(u, Unit::K8sDqlite);
/// assert_eq!(Unit::Kubelite.systemd_name(), "snap.microk8s.daemon-kubelite");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// The monolith: apiserver, scheduler, controller-manager, kubelet and proxy in one process.
    Kubelite,
    /// k8s-dqlite, the kine-based etcd replacement; not restarted with kubelite.
    K8sDqlite,
    /// containerd, the container runtime; its shims outlive it (`KillMode=process`).
    Containerd,
    /// Any other unit, by its full systemd name (`buildkitd.service`).
    Other(String),
}

const SNAP_PREFIX: &str = "snap.microk8s.daemon-";

impl Unit {
    /// The three units the runbook reads.
    pub const MICROK8S: [Unit; 3] = [Unit::Kubelite, Unit::K8sDqlite, Unit::Containerd];

    /// The unit name as `systemctl` and `journalctl -u` take it.
    pub fn systemd_name(&self) -> String {
        match self {
            Unit::Other(name) => name.clone(),
            known => format!("{SNAP_PREFIX}{}", known.short_name()),
        }
    }

    /// The short name microk8s uses (`kubelite`), or the full name for other units.
    pub fn short_name(&self) -> &str {
        match self {
            Unit::Kubelite => "kubelite",
            Unit::K8sDqlite => "k8s-dqlite",
            Unit::Containerd => "containerd",
            Unit::Other(name) => name,
        }
    }

    /// The `SYSLOG_IDENTIFIER` journald gives the unit's output on microk8s.
    pub fn syslog_identifier(&self) -> &str {
        match self {
            Unit::Kubelite => "microk8s.daemon-kubelite",
            Unit::K8sDqlite => "microk8s.daemon-k8s-dqlite",
            Unit::Containerd => "microk8s.daemon-containerd",
            Unit::Other(name) => name.strip_suffix(".service").unwrap_or(name),
        }
    }
}

impl FromStr for Unit {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let base = s.strip_suffix(".service").unwrap_or(s);
        let short = base.strip_prefix(SNAP_PREFIX).unwrap_or(base);
        match short {
            "kubelite" => return Ok(Unit::Kubelite),
            "k8s-dqlite" => return Ok(Unit::K8sDqlite),
            "containerd" => return Ok(Unit::Containerd),
            _ => {}
        }
        let ok = !s.is_empty()
            && s.len() <= 256
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c));
        if ok {
            Ok(Unit::Other(s.to_string()))
        } else {
            Err(InvalidName {
                kind: "unit name",
                value: s.to_string(),
                reason:
                    "a systemd unit name is letters, digits and `:-_.\\@`, not starting with `-`; \
                         use kubelite, k8s-dqlite, containerd or a full unit name"
                        .to_string(),
            })
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.short_name())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Unit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Unit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "kubelite, k8s-dqlite, containerd, or a full systemd unit name",
            "examples": ["kubelite", "k8s-dqlite", "containerd"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_names_round_trip() {
        for u in Unit::MICROK8S {
            assert_eq!(u.systemd_name().parse::<Unit>(), Ok(u.clone()));
            assert_eq!(
                format!("{}.service", u.systemd_name()).parse::<Unit>(),
                Ok(u.clone())
            );
            assert_eq!(u.short_name().parse::<Unit>(), Ok(u));
        }
    }

    #[test]
    fn other_units_are_checked() {
        assert_eq!(
            "buildkitd.service".parse::<Unit>(),
            Ok(Unit::Other("buildkitd.service".into()))
        );
        assert!("x; reboot".parse::<Unit>().is_err());
        assert!("--help".parse::<Unit>().is_err());
    }
}
