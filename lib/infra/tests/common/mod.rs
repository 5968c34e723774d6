pub mod incus_restrictions;
pub mod project;
