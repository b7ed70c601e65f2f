//! Request parsing: query string (edge-protocol.md §2–§3), client address (§4)
//! and metalink version negotiation (E25).
