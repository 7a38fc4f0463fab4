//! kubestall
