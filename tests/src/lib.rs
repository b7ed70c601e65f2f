//! Shared helpers for the end-to-end tests: start binaries, serve mirrors, make fixtures.
