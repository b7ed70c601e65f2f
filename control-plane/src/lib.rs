//! mirrorfleet control plane. For now: the inventory file (data-model.md §11),
//! the prefix→ASN table reader and `snapshot build`/`inspect`.

pub mod asn_table;
pub mod db;
pub mod inventory;
pub mod snapshot_cmd;
