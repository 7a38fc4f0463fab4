//! Parsers of the real outputs the runbook reads.
//!
//! Each takes the bytes a command printed and returns a typed value, or a
//! [`ParseError`](crate::ParseError) that names the line. None panics on any input:
//! each has a property test over arbitrary bytes and a `cargo fuzz` target
//! (`node/fuzz`). Fixtures captured from the real programs live in
//! `node/tests/fixtures/`, each with the command that produced it.
