//! Request parsing: query string (edge-protocol.md §2–§3), client address (§4)
//! and metalink version negotiation (E25).
//!
//! Nothing here needs the snapshot: these steps run before it is looked at (E8), and none
//! of them can panic on input (E85).

pub mod accept;
pub mod client;
pub mod query;

pub use accept::wants_metalink4;
pub use client::{AddrEvent, ClientAddr, ClientError, ProxyPolicy, Source, resolve_client};
pub use query::{CountryReq, Params, QueryError, Scheme, parse_query};
