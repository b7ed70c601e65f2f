//! Opening a snapshot: header and hash check, rkyv structural check and the
//! semantic validator, once; afterwards every access is zero-copy.

use std::net::IpAddr;

use rkyv::rancor;
use rkyv::util::AlignedVec;
use sha2::{Digest, Sha256};

use crate::header::{HEADER_LEN, Header};
use crate::net::Prefix;
use crate::schema::*;
use crate::{SnapshotError, validate};

/// Anything that owns the bytes of a snapshot file (a `Vec<u8>`, an mmap, an aligned buffer).
pub trait SnapshotBytes: AsRef<[u8]> + Send + Sync + 'static {}
impl<T: AsRef<[u8]> + Send + Sync + 'static> SnapshotBytes for T {}

/// A validated snapshot. Cheap to read from any number of threads.
pub struct Snapshot {
    bytes: Box<dyn SnapshotBytes>,
    header: Header,
    /// SHA-256 of the whole file, computed on first use: loading needs only
    /// the payload hash, and a second pass over a large file is measurable.
    file_sha256: std::sync::OnceLock<[u8; 32]>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Slice `pool[span]`, empty when out of range (never after validation).
pub fn span_of<'a, T>(pool: &'a [T], span: &ArchivedSpan) -> &'a [T] {
    let start = span.start.to_native() as usize;
    let end = start.saturating_add(span.len.to_native() as usize);
    pool.get(start..end).unwrap_or(&[])
}

impl Snapshot {
    /// Validates a snapshot held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Snapshot, SnapshotError> {
        Snapshot::from_owner(bytes)
    }

    /// Validates a snapshot whose bytes `owner` holds (e.g. an mmap). The
    /// payload must be 8-byte aligned for zero-copy access; when it is not,
    /// the bytes are copied once into an aligned buffer.
    pub fn from_owner<T: SnapshotBytes>(owner: T) -> Result<Snapshot, SnapshotError> {
        let data = owner.as_ref();
        let header = Header::decode(data)?;
        let aligned16 = |p: *const u8| (p as usize).wrapping_add(HEADER_LEN).is_multiple_of(16);
        if !aligned16(data.as_ptr()) {
            let mut aligned = AlignedVec::<16>::with_capacity(data.len());
            aligned.extend_from_slice(data);
            if !aligned16(aligned.as_ptr()) {
                return Err(SnapshotError::Io(
                    "cannot align the snapshot in memory".into(),
                ));
            }
            return Snapshot::from_owner(aligned);
        }
        let payload = &data[HEADER_LEN..];
        header.verify_hash(payload)?;
        let archived = rkyv::access::<ArchivedPayload, rancor::Error>(payload)
            .map_err(|e| SnapshotError::Archive(e.to_string()))?;
        validate::check(archived, &header)?;
        Ok(Snapshot {
            bytes: Box::new(owner),
            header,
            file_sha256: std::sync::OnceLock::new(),
        })
    }

    /// Reads and validates a snapshot file into aligned memory (no mapping).
    pub fn read_file(path: &std::path::Path) -> Result<Snapshot, SnapshotError> {
        use std::io::Read;
        let io = |e: std::io::Error| SnapshotError::Io(format!("{}: {e}", path.display()));
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let len = usize::try_from(len)
            .map_err(|_| SnapshotError::Io(format!("{}: too large", path.display())))?;
        // Straight into aligned memory: no second copy, no second peak.
        let mut aligned = AlignedVec::<16>::with_capacity(len);
        aligned.resize(len, 0);
        file.read_exact(&mut aligned).map_err(io)?;
        // A file that grew while being read is read again at the next change.
        Snapshot::from_owner(aligned)
    }

    fn data(&self) -> &[u8] {
        AsRef::<[u8]>::as_ref(&*self.bytes)
    }

    /// Records the SHA-256 of the whole file when the caller has computed it already (the
    /// edge hashes a download as it arrives and compares it with the manifest's), sparing the
    /// second pass; ignored when it is known already.
    pub fn set_file_sha256(&self, sha256: [u8; 32]) {
        let _ = self.file_sha256.set(sha256);
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.data()
    }

    /// The archive root.
    pub fn payload(&self) -> &ArchivedPayload {
        // SAFETY: `from_owner` ran `rkyv::access` (bytecheck) on exactly these
        // bytes, which are immutable and owned by `self`.
        unsafe { rkyv::access_unchecked::<ArchivedPayload>(&self.data()[HEADER_LEN..]) }
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// SHA-256 of the whole file (the manifest's and the object key's hash).
    pub fn file_sha256(&self) -> [u8; 32] {
        *self
            .file_sha256
            .get_or_init(|| Sha256::digest(self.data()).into())
    }

    /// SHA-256 of the whole file, lower-case hex.
    pub fn file_sha256_hex(&self) -> String {
        hex::encode(self.file_sha256())
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.data().len() as u64
    }

    /// Snapshot version.
    pub fn version(&self) -> u64 {
        self.payload().identity.version.to_native()
    }

    /// Creation time, Unix seconds.
    pub fn created_at(&self) -> i64 {
        self.payload().identity.created_at.to_native()
    }

    /// Installation id as lower-case UUID text.
    pub fn installation_id(&self) -> String {
        uuid_text(&self.payload().identity.installation_id)
    }

    /// Index of an exported directory by exact name.
    pub fn find_directory(&self, name: &str) -> Option<u32> {
        let dirs = &self.payload().directories;
        dirs.binary_search_by(|d| d.name.as_str().cmp(name))
            .ok()
            .map(|i| i as u32)
    }

    /// Directory by index.
    pub fn directory(&self, index: u32) -> Option<&ArchivedDirRec> {
        self.payload().directories.get(index as usize)
    }

    /// The subpath of a directory below its category topdir ("" for the topdir).
    pub fn subpath<'a>(&self, dir: &'a ArchivedDirRec) -> &'a str {
        dir.name
            .as_str()
            .get(dir.subpath_offset.to_native() as usize..)
            .unwrap_or("")
    }

    /// Host indices of a span of `host_lists`.
    pub fn host_list(&self, span: &ArchivedSpan) -> &[rkyv::rend::u32_le] {
        span_of(&self.payload().host_lists, span)
    }

    /// The by-country groups of a directory.
    pub fn country_groups(&self, dir: &ArchivedDirRec) -> &[ArchivedCountryGroup] {
        span_of(&self.payload().country_groups, &dir.by_country)
    }

    /// Host by index.
    pub fn host(&self, index: u32) -> Option<&ArchivedHostRec> {
        self.payload().hosts.get(index as usize)
    }

    /// A host's URLs for a category.
    pub fn host_urls<'a>(&self, host: &'a ArchivedHostRec, category: u32) -> &'a [ArchivedUrlRec] {
        let cats = &host.categories;
        match cats.binary_search_by(|c| c.category.to_native().cmp(&category)) {
            Ok(i) => &cats[i].urls,
            Err(_) => &[],
        }
    }

    /// File details of (directory, name).
    pub fn find_file(&self, dir: u32, name: &str) -> Option<&ArchivedFileRec> {
        let d = self.directory(dir)?;
        let files = span_of(&self.payload().files, &d.files);
        files
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .map(|i| &files[i])
    }

    /// A file's versions, newest first.
    pub fn versions(&self, file: &ArchivedFileRec) -> &[ArchivedVersionRec] {
        span_of(&self.payload().versions, &file.versions)
    }

    /// Repo map entry for (prefix, arch).
    pub fn find_repo(&self, prefix: &str, arch: &str) -> Option<&ArchivedRepoRec> {
        let map = &self.payload().repo_map;
        map.binary_search_by(|r| (r.prefix.as_str(), r.arch.as_str()).cmp(&(prefix, arch)))
            .ok()
            .map(|i| &map[i])
    }

    /// The redirect target of a prefix.
    pub fn redirect(&self, prefix: &str) -> Option<&str> {
        let r = &self.payload().redirects;
        r.binary_search_by(|x| x.from.as_str().cmp(prefix))
            .ok()
            .map(|i| r[i].to.as_str())
    }

    /// True when the prefix is disabled.
    pub fn is_disabled(&self, prefix: &str) -> bool {
        self.payload()
            .disabled
            .binary_search_by(|x| x.as_str().cmp(prefix))
            .is_ok()
    }

    /// Continent of a country.
    pub fn continent_of(&self, country: [u8; 2]) -> Option<[u8; 2]> {
        let c = &self.payload().continents;
        c.binary_search_by(|x| x.country.cmp(&country))
            .ok()
            .map(|i| c[i].continent)
    }

    /// Hosts (indices) of an ASN in the ASN map.
    pub fn asn_hosts(&self, asn: u32) -> &[rkyv::rend::u32_le] {
        let m = &self.payload().asn_map;
        match m.binary_search_by(|x| x.asn.to_native().cmp(&asn)) {
            Ok(i) => self.host_list(&m[i].hosts),
            Err(_) => &[],
        }
    }

    /// The origin ASN of an address: the longest matching prefix→ASN entry.
    pub fn asn_of(&self, ip: IpAddr) -> Option<(u32, Prefix)> {
        let p = self.payload();
        match crate::net::normalise(ip) {
            IpAddr::V4(a) => {
                let addr = u32::from(a);
                let e = crate::intervals::lookup(
                    &p.asn_v4_spans,
                    addr as u128,
                    |s| s.start.to_native() as u128,
                    |s| s.entry.to_native(),
                )?;
                let rec = p.asn_v4.get(e as usize)?;
                let prefix = Prefix::new(IpAddr::V4(rec.addr.to_native().into()), rec.len)?;
                Some((rec.asn.to_native(), prefix))
            }
            IpAddr::V6(a) => {
                let addr = u128::from(a);
                let e = crate::intervals::lookup(
                    &p.asn_v6_spans,
                    addr,
                    |s| ((s.hi.to_native() as u128) << 64) | s.lo.to_native() as u128,
                    |s| s.entry.to_native(),
                )?;
                let rec = p.asn_v6.get(e as usize)?;
                let net = ((rec.hi.to_native() as u128) << 64) | rec.lo.to_native() as u128;
                let prefix = Prefix::new(IpAddr::V6(net.into()), rec.len)?;
                Some((rec.asn.to_native(), prefix))
            }
        }
    }
}

/// A stored network as a [`Prefix`] (validated snapshots always convert).
pub fn prefix_of(n: &ArchivedNetRec) -> Option<Prefix> {
    Prefix::from_raw(n.addr, n.len, n.v4)
}

/// Formats 16 bytes as a lower-case UUID.
pub fn uuid_text(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
