//! Field and label selectors as the API server reads them, for the fields the
//! twin can answer. A selector on a field the twin does not hold is refused with
//! the API server's own message (`field label not supported: ...`), and label
//! selectors are refused outright (twin objects carry no labels to match): a
//! twin that ignored either would answer a filtered question with everything,
//! and `kubectl wait` would report success on the wrong object.

use std::fmt;

/// One `field=value`, `field==value` or `field!=value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// The field path (`spec.nodeName`).
    pub field: String,
    /// `true` for `!=`.
    pub negated: bool,
    /// The value compared with.
    pub value: String,
}

/// A parsed field selector: every term must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

/// Why a selector was refused; the message is the API server's where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FieldSelector {
    /// Parses `sel`, accepting only `supported` fields. An empty selector selects everything.
    pub fn parse(sel: &str, supported: &[&str]) -> Result<FieldSelector, Refused> {
        let mut terms = Vec::new();
        for part in sel.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, negated, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(Refused(format!(
                    "invalid selector: '{sel}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(Refused(format!("field label not supported: {field}")));
            }
            terms.push(Term {
                field: field.to_string(),
                negated,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether an object whose fields `get` reads is selected.
    pub fn matches(&self, get: impl Fn(&str) -> String) -> bool {
        self.terms
            .iter()
            .all(|t| (get(&t.field) == t.value) != t.negated)
    }
}

/// Refuses any non-empty label selector.
pub fn no_labels(sel: Option<&String>) -> Result<(), Refused> {
    match sel.map(|s| s.trim()) {
        None | Some("") => Ok(()),
        Some(s) => Err(Refused(format!(
            "the node twin holds no labels and cannot answer the label selector '{s}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODS: &[&str] = &["metadata.name", "spec.nodeName"];

    fn pod(field: &str) -> String {
        match field {
            "metadata.name" => "web-1".into(),
            "spec.nodeName" => "k8s03".into(),
            _ => String::new(),
        }
    }

    #[test]
    fn terms_combine_with_and() {
        let s = FieldSelector::parse("spec.nodeName=k8s03,metadata.name==web-1", PODS).unwrap();
        assert!(s.matches(pod));
        let s = FieldSelector::parse("spec.nodeName=k8s03,metadata.name!=web-1", PODS).unwrap();
        assert!(!s.matches(pod));
        let s = FieldSelector::parse("spec.nodeName!=k8s01", PODS).unwrap();
        assert!(s.matches(pod));
        assert!(FieldSelector::parse("", PODS).unwrap().matches(pod));
    }

    #[test]
    fn unknown_fields_and_garbage_are_refused() {
        assert_eq!(
            FieldSelector::parse("status.podIP=1.2.3.4", PODS),
            Err(Refused("field label not supported: status.podIP".into()))
        );
        assert!(FieldSelector::parse("spec.nodeName", PODS).is_err());
        assert!(no_labels(Some(&"app=web".to_string())).is_err());
        assert!(no_labels(Some(&String::new())).is_ok());
        assert!(no_labels(None).is_ok());
    }
}
