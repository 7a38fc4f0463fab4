//! Names that end up in commands: validated once, at the edge, so that nothing
//! downstream ever interpolates an unchecked string into `kubectl` or `systemctl`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that failed validation, with what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct InvalidName {
    /// What kind of name it was ("node name", "container id", ...).
    pub kind: &'static str,
    /// The rejected value.
    pub value: String,
    /// Why it was rejected and what a valid one looks like.
    pub reason: String,
}

/// A Kubernetes node name: an RFC 1123 DNS subdomain (`k8s03`, `node-1.example`).
///
/// ```
/// use kubestall_node::NodeName;
/// assert!("k8s03".parse::<NodeName>().is_ok());
/// assert!("K8S03; rm -rf /".parse::<NodeName>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    /// Validates `name` as an RFC 1123 subdomain: at most 253 characters, dot-separated
    /// labels of 1-63 lowercase letters, digits and `-`, starting and ending alphanumeric.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidName> {
        let name = name.into();
        let invalid = |reason: &str| InvalidName {
            kind: "node name",
            value: name.clone(),
            reason: format!(
                "{reason}; a node name is an RFC 1123 subdomain such as `k8s03` \
                 (lowercase letters, digits, `-` and `.`, at most 253 characters)"
            ),
        };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.len() > 253 {
            return Err(invalid("it is longer than 253 characters"));
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err(invalid(
                    "it has an empty label (two dots, or a dot at an end)",
                ));
            }
            if label.len() > 63 {
                return Err(invalid("a label is longer than 63 characters"));
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
            {
                return Err(invalid(&format!("it contains {c:?}")));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a label starts or ends with `-`"));
            }
        }
        Ok(NodeName(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeName::new(s)
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NodeName::new(s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for NodeName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An RFC 1123 subdomain, e.g. k8s03",
            "maxLength": 253,
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        })
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A pod, by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodRef {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
}

impl PodRef {
    /// A pod reference.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        PodRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A containerd container id (on Kubernetes nodes, 64 hex digits).
///
/// Compared exactly, never by prefix or substring: the runbook's shell loop
/// (`grep -q "$CID"`) treats a live shim as orphaned when its id is a substring
/// of another, and kubestall must not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ContainerId(String);

impl ContainerId {
    /// Validates `id` with containerd's identifier rule: 1-76 characters of
    /// letters and digits, separated by single `.`, `_` or `-`.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidName> {
        let id = id.into();
        let invalid = |reason: &str| InvalidName {
            kind: "container id",
            value: id.clone(),
            reason: format!(
                "{reason}; containerd ids are letters and digits separated by single `.`, `_` or `-`, at most 76 characters"
            ),
        };
        if id.is_empty() || id.len() > 76 {
            return Err(invalid("its length is not 1-76"));
        }
        let mut prev_sep = true;
        for c in id.chars() {
            let sep = matches!(c, '.' | '_' | '-');
            if !(c.is_ascii_alphanumeric() || sep) {
                return Err(invalid(&format!("it contains {c:?}")));
            }
            if sep && prev_sep {
                return Err(invalid("a separator is doubled or at the start"));
            }
            prev_sep = sep;
        }
        if prev_sep {
            return Err(invalid("it ends with a separator"));
        }
        Ok(ContainerId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 13 characters, as `crictl` shows ids.
    pub fn short(&self) -> &str {
        self.0.get(..13).unwrap_or(&self.0)
    }
}

impl FromStr for ContainerId {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContainerId::new(s)
    }
}

impl<'de> Deserialize<'de> for ContainerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContainerId::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_node_names_from_the_runbook() {
        for n in ["k8s01", "k8s03", "node-1.example.com", "a"] {
            assert_eq!(NodeName::new(n).map(|n| n.to_string()), Ok(n.to_string()));
        }
    }

    #[test]
    fn rejects_names_that_would_reach_a_shell() {
        for n in [
            "",
            "K8S03",
            "k8s03;reboot",
            "-k8s",
            "k8s-",
            "a..b",
            "$(id)",
            "a b",
        ] {
            let err = NodeName::new(n).expect_err(n);
            assert!(err.to_string().contains("RFC 1123"), "{err}");
        }
        assert!(NodeName::new("a".repeat(64)).is_err());
    }

    #[test]
    fn container_ids() {
        let id = "4f1d3a9c0b2e".repeat(5);
        assert!(ContainerId::new(&id).is_ok());
        assert!(ContainerId::new("abc;kill").is_err());
        assert!(ContainerId::new("a--b").is_err());
        assert!(ContainerId::new("").is_err());
    }

    proptest! {
        #[test]
        fn node_name_validation_never_panics(s in "\\PC{0,80}") {
            if let Ok(n) = NodeName::new(s.clone()) {
                prop_assert!(n.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
            }
        }

        #[test]
        fn valid_container_ids_are_shell_safe(s in "\\PC{0,80}") {
            if let Ok(id) = ContainerId::new(s) {
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            }
        }
    }
}
