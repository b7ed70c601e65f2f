//! mirrorfleet control plane. For now: the inventory file (data-model.md §11), the
//! prefix→ASN table reader, `snapshot build`/`inspect`, the database (`db`, `store`)
//! and its commands (`db_cmd`: `init`, `migrate`, `import inventory`, `export inventory`).

pub mod asn_cmd;
pub mod asn_table;
pub mod audit;
pub mod config;
pub mod db;
pub mod db_cmd;
pub mod derive_db;
pub mod edges;
pub mod export;
pub mod host_cmd;
pub mod inventory;
pub mod maintenance;
pub mod mm2;
pub mod publish;
pub mod publish_cmd;
pub mod scan;
pub mod serve;
pub mod snapshot_cmd;
pub mod store;
