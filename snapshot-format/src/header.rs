//! The fixed 128-byte header in front of every snapshot's rkyv payload.
//!
//! Layout (little-endian): magic (8) · format version u32 · flags u32 ·
//! payload length u64 · SHA-256 of the payload (32) · snapshot version u64 ·
//! created-at i64 (Unix seconds) · 56 reserved zero bytes. 128 bytes keep the
//! payload 16-byte aligned in an mmap or an aligned buffer.

use sha2::{Digest, Sha256};

use crate::SnapshotError;

/// First bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"MFLEETSN";
/// The payload format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 128;

/// The decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Payload format version.
    pub format_version: u32,
    /// Reserved flags; must be 0 in format 1.
    pub flags: u32,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
    /// Snapshot version.
    pub version: u64,
    /// Unix seconds.
    pub created_at: i64,
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.payload_len.to_le_bytes());
        out[24..56].copy_from_slice(&self.payload_sha256);
        out[56..64].copy_from_slice(&self.version.to_le_bytes());
        out[64..72].copy_from_slice(&self.created_at.to_le_bytes());
        out
    }

    /// Decodes and checks the header against the whole file: magic, format
    /// version, flags, length. The payload hash is checked by [`Header::verify_hash`].
    pub fn decode(file: &[u8]) -> Result<Header, SnapshotError> {
        if file.len() < HEADER_LEN {
            return Err(SnapshotError::Header(format!(
                "file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                file.len()
            )));
        }
        if file[0..8] != MAGIC {
            return Err(SnapshotError::Header(
                "not a mirrorfleet snapshot (bad magic)".into(),
            ));
        }
        let u32_at = |o: usize| u32::from_le_bytes(file[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_le_bytes(file[o..o + 8].try_into().unwrap_or_default());
        let format_version = u32_at(8);
        if format_version != FORMAT_VERSION {
            return Err(SnapshotError::FormatVersion {
                found: format_version,
            });
        }
        let flags = u32_at(12);
        if flags != 0 || file[72..HEADER_LEN].iter().any(|&b| b != 0) {
            return Err(SnapshotError::Header(format!(
                "unknown header flags {flags:#x} or non-zero reserved bytes"
            )));
        }
        let payload_len = u64_at(16);
        let actual = (file.len() - HEADER_LEN) as u64;
        if payload_len != actual {
            return Err(SnapshotError::Header(format!(
                "header says the payload is {payload_len} bytes, the file holds {actual} (truncated or padded)"
            )));
        }
        let mut payload_sha256 = [0u8; 32];
        payload_sha256.copy_from_slice(&file[24..56]);
        Ok(Header {
            format_version,
            flags,
            payload_len,
            payload_sha256,
            version: u64_at(56),
            created_at: u64_at(64) as i64,
        })
    }

    /// Checks the payload's SHA-256 against the header.
    pub fn verify_hash(&self, payload: &[u8]) -> Result<(), SnapshotError> {
        let digest: [u8; 32] = Sha256::digest(payload).into();
        if digest != self.payload_sha256 {
            return Err(SnapshotError::Hash);
        }
        Ok(())
    }
}
