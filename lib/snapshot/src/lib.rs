//! anklume's snapshot engine: what `anklume-snapd` does, independent of
//! D-Bus. Targets (`instance:<name>`, `domain:<name>`, `all`) resolve
//! through the host's infra; Incus sits behind the [`incus`] trait.

pub mod retention;
