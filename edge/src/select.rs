//! Selection (edge-protocol.md §7–§9): which hosts answer a request, in which
//! order, with which URLs. Knows nothing about HTTP or rendering.
//!
//! Hosts are placed tier by tier into one list; a host already placed is
//! skipped later. Every tier keeps *usable* hosts only (E41): carried, allowed
//! for the client's country, and left with a URL by E51–E52. That single
//! check on every tier is the fix for the reference's restricted-mirror leak.

use std::net::IpAddr;

use mirrorfleet_snapshot::schema::{ArchivedDirRec, ArchivedUrlRec, family, scheme};
use rkyv::rend::u32_le;

use crate::loaded::Loaded;
use crate::order::{Slot, SlotStreams, WeightedScratch, order_weighted_prefix, shuffle_uniform};
use crate::render::TierWord;
use crate::request::query::{CountryReq, Scheme};

/// Where the client is (§6).
#[derive(Clone, Copy, Debug, Default)]
pub struct Location {
    /// Country, upper-case.
    pub country: Option<[u8; 2]>,
    /// Where the country came from: `netblock_country` or `geoip`.
    pub country_source: Option<&'static str>,
    /// Prefix length of the matching override, when that was the source.
    pub override_len: Option<u8>,
    /// Continent of the country.
    pub continent: Option<[u8; 2]>,
    /// Origin ASN and its prefix.
    pub asn: Option<(u32, mirrorfleet_snapshot::net::Prefix)>,
}

/// Which URLs of a host an answer uses (E52).
#[derive(Clone, Copy, Debug)]
pub enum UrlRule<'a> {
    /// Metalink without `protocol`: all of them.
    All,
    /// Plain list without `protocol`: the first https, else http, else ftp.
    Preferred,
    /// `protocol` given: per listed scheme its first URL, in position order.
    Protocols(&'a [Scheme]),
    /// `redirect`: the first https, else http, among the schemes `protocol` allows.
    Redirect(&'a [Scheme]),
}

/// Tier names (E68, E77).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Host netblocks.
    Netblock,
    /// Client ASN.
    Asn,
    /// A requested country.
    RequestedCountry,
    /// `country=global`.
    RequestedGlobal,
    /// Continent of the requested countries.
    RequestedContinent,
    /// Client country.
    Country,
    /// Client continent.
    Continent,
    /// Global fallback.
    Global,
}

impl Tier {
    /// Label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Netblock => "netblock",
            Tier::Asn => "asn",
            Tier::RequestedCountry => "requested_country",
            Tier::RequestedGlobal => "requested_global",
            Tier::RequestedContinent => "requested_continent",
            Tier::Country => "country",
            Tier::Continent => "continent",
            Tier::Global => "global",
        }
    }

    /// Every tier, for metrics registration.
    pub const ALL: [Tier; 8] = [
        Tier::Netblock,
        Tier::Asn,
        Tier::RequestedCountry,
        Tier::RequestedGlobal,
        Tier::RequestedContinent,
        Tier::Country,
        Tier::Continent,
        Tier::Global,
    ];
}

/// Why a candidate was not placed (E68).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Does not carry the directory.
    NotCarried,
    /// Has allowed countries and the client is not in one.
    CountryNotAllowed,
    /// No URL left for this output.
    NoUrl,
    /// Already placed by an earlier tier.
    Duplicate,
    /// After `max_hosts`.
    OverMaxHosts,
}

impl Trim {
    /// Label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Trim::NotCarried => "not_carried",
            Trim::CountryNotAllowed => "country_not_allowed",
            Trim::NoUrl => "no_url",
            Trim::Duplicate => "duplicate",
            Trim::OverMaxHosts => "over_max_hosts",
        }
    }

    /// Every reason, for metrics registration.
    pub const ALL: [Trim; 5] = [
        Trim::NotCarried,
        Trim::CountryNotAllowed,
        Trim::NoUrl,
        Trim::Duplicate,
        Trim::OverMaxHosts,
    ];
}

/// How a placed host was matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    /// Geography.
    None,
    /// Host netblock: index into `payload().netblocks` and its length.
    Netblock(u32, u8),
    /// ASN.
    Asn(u32),
}

/// One placed host.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    /// Host index.
    pub host: u32,
    /// The tier that placed it.
    pub tier: Tier,
    /// How it matched.
    pub matched: Matched,
    /// Its selected URLs: a range of [`Selection::urls`].
    pub urls: (u32, u32),
}

/// What one tier did, recorded for `explain=1` only.
#[derive(Clone, Debug)]
pub struct TierLog {
    /// Stream slot.
    pub slot: u64,
    /// Tier.
    pub tier: Tier,
    /// Words it wrote.
    pub words: Vec<TierWord>,
    /// Hosts it placed, in order.
    pub placed: Vec<u32>,
    /// Candidates it dropped, with the reason.
    pub trimmed: Vec<(u32, Trim)>,
}

/// The answer's host list and everything explain and metrics need.
#[derive(Debug, Default)]
pub struct Selection {
    /// Placed hosts in answer order, after the cap.
    pub placed: Vec<Placed>,
    /// URL indices (into the host's URLs for the directory's category).
    pub urls: Vec<u16>,
    /// Plain-list header words.
    pub words: Vec<TierWord>,
    /// Hosts placed before the global tier was considered.
    pub hosts_before_global: usize,
    /// The global tier ran.
    pub global_added: bool,
    /// Hosts cut by `max_hosts`.
    pub over_max: Vec<u32>,
    /// Tier-by-tier record (explain only).
    pub log: Option<Vec<TierLog>>,
    /// Tiers that placed at least one host, in order.
    pub tiers_used: Vec<Tier>,
    /// Trimmed candidates per reason, in [`Trim::ALL`] order.
    pub trim_counts: [u64; 5],
}

/// The inputs of one selection.
pub struct Request<'a> {
    /// Directory index.
    pub dir: u32,
    /// The client address (after proxies and `ip=`).
    pub client: IpAddr,
    /// Its location.
    pub location: Location,
    /// `country=` entries.
    pub countries: &'a [CountryReq],
    /// `netblock` allows the netblock and ASN tiers.
    pub netblock: bool,
    /// URL rule of the output.
    pub rule: UrlRule<'a>,
    /// Per-request random streams (E56).
    pub streams: SlotStreams,
    /// Record the explain log.
    pub explain: bool,
    /// The answer shows tier words (plain list, explain): every evaluated tier
    /// must then be probed for them even once the cap is reached.
    pub words: bool,
}

fn scheme_code(s: Scheme) -> u8 {
    match s {
        Scheme::Http => scheme::HTTP,
        Scheme::Https => scheme::HTTPS,
        Scheme::Ftp => scheme::FTP,
        Scheme::Rsync => scheme::RSYNC,
    }
}

/// Appends the E51–E52 URL choice of one host to `out`; returns how many.
pub fn pick_urls(
    urls: &[ArchivedUrlRec],
    client_v4: bool,
    rule: UrlRule<'_>,
    out: &mut Vec<u16>,
) -> usize {
    let fits = |u: &ArchivedUrlRec| {
        let flag = if client_v4 { u.ipv4 } else { u.ipv6 };
        flag != family::NO
    };
    let first = |code: u8| urls.iter().position(|u| u.scheme == code && fits(u));
    let start = out.len();
    match rule {
        UrlRule::All => out.extend(
            urls.iter()
                .enumerate()
                .filter(|(_, u)| fits(u))
                .map(|(i, _)| i as u16),
        ),
        UrlRule::Preferred => {
            if let Some(i) = [scheme::HTTPS, scheme::HTTP, scheme::FTP]
                .into_iter()
                .find_map(first)
            {
                out.push(i as u16);
            }
        }
        UrlRule::Protocols(list) => {
            for &s in list {
                if let Some(i) = first(scheme_code(s)) {
                    out.push(i as u16);
                }
            }
            out[start..].sort_unstable();
            // Two schemes cannot pick one URL, but stay safe on odd data.
            let mut v: Vec<u16> = out.drain(start..).collect();
            v.dedup();
            out.extend(v);
        }
        UrlRule::Redirect(list) => {
            let allowed =
                |code: u8| list.is_empty() || list.iter().any(|&s| scheme_code(s) == code);
            let pick = [scheme::HTTPS, scheme::HTTP]
                .into_iter()
                .filter(|&c| allowed(c))
                .find_map(first);
            if let Some(i) = pick {
                out.push(i as u16);
            }
        }
    }
    out.len() - start
}

/// Per-request working state.
struct Run<'a> {
    loaded: &'a Loaded,
    dir: &'a ArchivedDirRec,
    req: &'a Request<'a>,
    client_v4: bool,
    placed_set: Vec<u64>,
    sel: Selection,
    cands: Vec<(u32, Matched, (u32, u32))>,
    reordered: Vec<(u32, Matched, (u32, u32))>,
    weights: Vec<u32>,
    order: Vec<u32>,
    scratch: WeightedScratch,
    /// `max_hosts`, or no limit.
    cap: usize,
}

impl<'a> Run<'a> {
    /// Nothing a later tier does can reach the answer: the cap is reached and
    /// neither words nor an explain log are wanted (E49).
    fn saturated(&self) -> bool {
        !self.req.explain && !self.req.words && self.sel.placed.len() >= self.cap
    }

    fn is_placed(&self, h: u32) -> bool {
        self.placed_set
            .get(h as usize / 64)
            .is_some_and(|w| w & (1 << (h % 64)) != 0)
    }

    fn mark(&mut self, h: u32) {
        if let Some(w) = self.placed_set.get_mut(h as usize / 64) {
            *w |= 1 << (h % 64);
        }
    }

    fn carries(&self, h: u32) -> bool {
        let list = self.loaded.snap.host_list(&self.dir.by_host);
        list.binary_search_by(|x| x.to_native().cmp(&h)).is_ok()
    }

    /// Filters a tier's source into `cands`; returns whether any candidate was
    /// usable (placed before or not), which decides the tier's word (E50).
    fn filter(
        &mut self,
        source: &mut dyn Iterator<Item = (u32, Matched)>,
        check_carried: bool,
        log: &mut Option<TierLog>,
    ) -> bool {
        let snap = &self.loaded.snap;
        let country = self.req.location.country;
        let mut any = false;
        self.cands.clear();
        for (h, m) in source {
            let Some(host) = snap.host(h) else { continue };
            let trim = if check_carried && !self.carries(h) {
                Some(Trim::NotCarried)
            } else if !host.allowed_countries.is_empty()
                && !country.is_some_and(|c| host.allowed_countries.contains(&c))
            {
                Some(Trim::CountryNotAllowed)
            } else {
                let start = self.sel.urls.len();
                let urls = snap.host_urls(host, self.dir.category.to_native());
                let n = pick_urls(urls, self.client_v4, self.req.rule, &mut self.sel.urls);
                if n == 0 {
                    Some(Trim::NoUrl)
                } else {
                    any = true;
                    if self.is_placed(h) {
                        self.sel.urls.truncate(start);
                        Some(Trim::Duplicate)
                    } else {
                        self.cands.push((h, m, (start as u32, n as u32)));
                        None
                    }
                }
            };
            if let Some(t) = trim {
                self.sel.trim_counts[t as usize] += 1;
                if let Some(l) = log.as_mut() {
                    l.trimmed.push((h, t));
                }
            }
        }
        any
    }

    fn place_cands(&mut self, tier: Tier, log: &mut Option<TierLog>) {
        for i in 0..self.cands.len() {
            let (host, matched, urls) = self.cands[i];
            self.mark(host);
            self.sel.placed.push(Placed {
                host,
                tier,
                matched,
                urls,
            });
            if let Some(l) = log.as_mut() {
                l.placed.push(host);
            }
        }
        if !self.cands.is_empty() && self.sel.tiers_used.last() != Some(&tier) {
            self.sel.tiers_used.push(tier);
        }
    }

    fn place_weighted(&mut self, slot: u64, tier: Tier, log: &mut Option<TierLog>) {
        let snap = &self.loaded.snap;
        self.weights.clear();
        self.weights.extend(
            self.cands
                .iter()
                .map(|c| snap.host(c.0).map_or(1, |h| h.bandwidth.to_native())),
        );
        let mut rng = self.req.streams.stream(slot);
        // Positions after the cap never reach the answer; explain lists them all.
        let limit = if self.req.explain {
            usize::MAX
        } else {
            self.cap.saturating_sub(self.sel.placed.len())
        };
        order_weighted_prefix(
            &mut self.scratch,
            &mut rng,
            &self.weights,
            &mut self.order,
            limit,
        );
        // Reorder through a reused buffer: no allocation per tier on the request path.
        self.reordered.clear();
        self.reordered
            .extend(self.order.iter().map(|&i| self.cands[i as usize]));
        std::mem::swap(&mut self.cands, &mut self.reordered);
        self.place_cands(tier, log);
    }

    fn new_log(&self, slot: u64, tier: Tier) -> Option<TierLog> {
        self.req.explain.then(|| TierLog {
            slot,
            tier,
            words: Vec::new(),
            placed: Vec::new(),
            trimmed: Vec::new(),
        })
    }

    fn finish_log(&mut self, log: Option<TierLog>) {
        if let Some(l) = log {
            self.sel.log.get_or_insert_with(Vec::new).push(l);
        }
    }

    fn word(&mut self, w: TierWord, log: &mut Option<TierLog>) {
        self.sel.words.push(w);
        if let Some(l) = log.as_mut() {
            l.words.push(w);
        }
    }

    /// A weighted tier over a list of host indices (in host id order).
    fn list_tier(&mut self, slot: u64, tier: Tier, hosts: &[u32_le], word: Option<TierWord>) {
        if self.saturated() {
            return;
        }
        let mut log = self.new_log(slot, tier);
        let mut src = hosts.iter().map(|h| (h.to_native(), Matched::None));
        let any = self.filter(&mut src, false, &mut log);
        if any && let Some(w) = word {
            self.word(w, &mut log);
        }
        self.place_weighted(slot, tier, &mut log);
        self.finish_log(log);
    }

    /// A weighted tier over the union of several by-country groups; a word per
    /// group with a usable candidate, in code order (E50).
    fn union_tier(&mut self, slot: u64, tier: Tier, include: &dyn Fn([u8; 2]) -> bool) {
        if self.saturated() {
            return;
        }
        let snap = &self.loaded.snap;
        let mut log = self.new_log(slot, tier);
        let mut union: Vec<u32> = Vec::new();
        for g in snap.country_groups(self.dir) {
            if !include(g.country) {
                continue;
            }
            let hosts = snap.host_list(&g.hosts);
            let mut src = hosts.iter().map(|h| (h.to_native(), Matched::None));
            if self.req.words {
                // Probe usability per group for the word, without keeping the URLs.
                let mark = self.sel.urls.len();
                let counts = self.sel.trim_counts;
                let any = self.filter(&mut src, false, &mut None);
                self.sel.urls.truncate(mark);
                self.sel.trim_counts = counts;
                if any {
                    self.word(TierWord::Country(g.country), &mut log);
                }
            }
            union.extend(hosts.iter().map(|h| h.to_native()));
        }
        union.sort_unstable();
        let mut src = union.into_iter().map(|h| (h, Matched::None));
        self.filter(&mut src, false, &mut log);
        self.place_weighted(slot, tier, &mut log);
        self.finish_log(log);
    }

    fn group_hosts(&self, cc: [u8; 2]) -> &'a [u32_le] {
        let snap = &self.loaded.snap;
        let groups = snap.country_groups(self.dir);
        match groups.binary_search_by(|g| g.country.cmp(&cc)) {
            Ok(i) => snap.host_list(&groups[i].hosts),
            Err(_) => &[],
        }
    }

    fn netblock_tier(&mut self) {
        let snap = &self.loaded.snap;
        let mut log = self.new_log(0, Tier::Netblock);
        let mut pairs: Vec<(u8, u32, u32)> = Vec::new();
        for (len, nb) in self.loaded.netblock_matches(self.req.client) {
            if let Some(rec) = snap.payload().netblocks.get(nb as usize) {
                pairs.extend(
                    snap.host_list(&rec.hosts)
                        .iter()
                        .map(|h| (len, h.to_native(), nb)),
                );
            }
        }
        // Longest prefix first, then host id; a host keeps its longest match.
        pairs.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut seen: Vec<u32> = Vec::with_capacity(pairs.len());
        pairs.retain(|p| {
            if seen.contains(&p.1) {
                false
            } else {
                seen.push(p.1);
                true
            }
        });
        let mut src = pairs
            .iter()
            .map(|&(len, h, nb)| (h, Matched::Netblock(nb, len)));
        let any = self.filter(&mut src, true, &mut log);
        if any {
            self.word(TierWord::PreferredNetblock, &mut log);
        }
        let mut rng = self.req.streams.stream(Slot::Netblock.index(0));
        let mut start = 0;
        while start < self.cands.len() {
            let len_of = |m: Matched| {
                if let Matched::Netblock(_, l) = m {
                    l
                } else {
                    0
                }
            };
            let len = len_of(self.cands[start].1);
            let end = start
                + self.cands[start..]
                    .iter()
                    .take_while(|c| len_of(c.1) == len)
                    .count();
            shuffle_uniform(&mut rng, &mut self.cands[start..end]);
            start = end;
        }
        self.place_cands(Tier::Netblock, &mut log);
        self.finish_log(log);
    }

    fn asn_tier(&mut self, asn: u32) {
        let snap = &self.loaded.snap;
        let mut log = self.new_log(1, Tier::Asn);
        let hosts = snap.asn_hosts(asn);
        let mut src = hosts.iter().map(|h| (h.to_native(), Matched::Asn(asn)));
        let any = self.filter(&mut src, true, &mut log);
        if any {
            self.word(TierWord::Asn(asn), &mut log);
        }
        let mut rng = self.req.streams.stream(Slot::Asn.index(0));
        shuffle_uniform(&mut rng, &mut self.cands);
        self.place_cands(Tier::Asn, &mut log);
        self.finish_log(log);
    }
}

/// Runs §7–§9 for one request.
pub fn select(loaded: &Loaded, req: &Request<'_>) -> Selection {
    let snap = &loaded.snap;
    let Some(dir) = snap.directory(req.dir) else {
        return Selection::default();
    };
    let policy = &snap.payload().policy;
    let hosts = snap.payload().hosts.len();
    let mut run = Run {
        loaded,
        dir,
        req,
        client_v4: req.client.is_ipv4(),
        placed_set: vec![0; hosts.div_ceil(64)],
        sel: Selection::default(),
        cands: Vec::new(),
        reordered: Vec::new(),
        weights: Vec::new(),
        order: Vec::new(),
        scratch: WeightedScratch::default(),
        cap: match policy.max_hosts.to_native() {
            0 => usize::MAX,
            n => n as usize,
        },
    };
    let q = req.countries.len();
    let loc = req.location;
    let mut complete = false;
    if q == 0 {
        if req.netblock {
            run.netblock_tier();
            if let Some((asn, _)) = loc.asn {
                run.asn_tier(asn);
            }
        }
    } else {
        for (j, entry) in req.countries.iter().enumerate() {
            let slot = Slot::Requested(j).index(q);
            match entry {
                CountryReq::Global => {
                    let global = snap.host_list(&dir.global);
                    run.list_tier(slot, Tier::RequestedGlobal, global, Some(TierWord::Global));
                }
                CountryReq::Code(cc) => {
                    let hosts = run.group_hosts(*cc);
                    run.list_tier(
                        slot,
                        Tier::RequestedCountry,
                        hosts,
                        Some(TierWord::Country(*cc)),
                    );
                }
            }
        }
        if run.sel.placed.is_empty() {
            let requested: Vec<[u8; 2]> = req
                .countries
                .iter()
                .filter_map(|c| {
                    if let CountryReq::Code(cc) = c {
                        Some(*cc)
                    } else {
                        None
                    }
                })
                .collect();
            let continents: Vec<[u8; 2]> = requested
                .iter()
                .filter_map(|cc| loaded.continent_of(*cc))
                .collect();
            if !continents.is_empty() {
                let include = |x: [u8; 2]| {
                    !requested.contains(&x)
                        && snap
                            .continent_of(x)
                            .is_some_and(|k| continents.contains(&k))
                };
                run.union_tier(
                    Slot::RequestedContinent.index(q),
                    Tier::RequestedContinent,
                    &include,
                );
            }
        }
        complete = !run.sel.placed.is_empty();
    }
    if !complete {
        if let Some(c) = loc.country {
            let hosts = run.group_hosts(c);
            run.list_tier(
                Slot::Country.index(q),
                Tier::Country,
                hosts,
                Some(TierWord::Country(c)),
            );
        }
        if let Some(k) = loc.continent {
            let include = |x: [u8; 2]| Some(x) != loc.country && loaded.continent_of(x) == Some(k);
            run.union_tier(Slot::Continent.index(q), Tier::Continent, &include);
        }
        run.sel.hosts_before_global = run.sel.placed.len();
        let min = policy.min_mirrors.to_native() as usize;
        if min > 0 && run.sel.placed.len() < min {
            run.sel.global_added = true;
            let global = snap.host_list(&dir.global);
            run.list_tier(
                Slot::Global.index(q),
                Tier::Global,
                global,
                Some(TierWord::Global),
            );
        }
    } else {
        run.sel.hosts_before_global = run.sel.placed.len();
    }
    let max = policy.max_hosts.to_native() as usize;
    if max > 0 && run.sel.placed.len() > max {
        run.sel.over_max = run.sel.placed[max..].iter().map(|p| p.host).collect();
        run.sel.trim_counts[Trim::OverMaxHosts as usize] += run.sel.over_max.len() as u64;
        run.sel.placed.truncate(max);
    }
    run.sel
}

/// Seeds a request's streams (E56).
pub fn streams(key: &[u8; 32], snapshot_version: u64, t: i64, client: IpAddr) -> SlotStreams {
    SlotStreams::new(crate::order::order_base(key, snapshot_version, t, client))
}
