//! GeoIP (E37): the client's country from a MaxMind Country or City database.
//!
//! Only `country.iso_code` is decoded (borrowed, no allocation); the rest of
//! the record is skipped. The reader sits behind an `ArcSwap` so SIGHUP can
//! replace it while requests keep reading the old one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

/// An open GeoIP database.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
    /// Where it was read from.
    pub path: PathBuf,
}

/// Why a GeoIP file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot read GeoIP database {path}: {message}")]
pub struct GeoIpError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl GeoIp {
    /// Opens and checks a database file.
    pub fn open(path: &Path) -> Result<GeoIp, GeoIpError> {
        let err = |message: String| GeoIpError {
            path: path.display().to_string(),
            message,
        };
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| err(e.to_string()))?;
        Ok(GeoIp {
            reader,
            path: path.to_path_buf(),
        })
    }

    /// The country of an address: upper-cased, only when two ASCII letters.
    pub fn country(&self, ip: IpAddr) -> Option<[u8; 2]> {
        let rec: Record<'_> = self.reader.lookup(ip).ok()??;
        let code = rec.country?.iso_code?.as_bytes();
        match code {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
            }
            _ => None,
        }
    }

    /// `database_type` from the metadata.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata.database_type
    }

    /// `build_epoch` from the metadata.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata.build_epoch
    }
}
