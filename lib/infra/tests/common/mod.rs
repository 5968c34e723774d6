pub mod incus_restrictions;
