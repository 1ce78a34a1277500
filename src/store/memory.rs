//! In-memory stores for one process: every store trait of the crate has
//! one here ([`MemoryCodeStore`], [`MemoryConfigStore`],
//! [`MemoryReplayCache`], [`MemorySessionRevocations`],
//! [`MemoryRateLimiter`], [`MemoryAuditSink`], [`MemoryOutbox`]).
//!
//! None reads a clock: every expiry is decided by the `now` its caller
//! passes.
//!
//! [`MemoryCodeStore`] is sharded by digest so concurrent redemptions of
//! different codes rarely contend; each shard evicts a few expired entries
//! on every insert (oldest first), so there is never a pause to scan a
//! whole map.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::{Future, ready};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard, RwLock};

use time::{OffsetDateTime, UtcOffset};

use crate::code::{CodeDigest, CodeGrant, CodeGrantRef, CodeStore, GrantProblem, GroupIds, Insertion, Redemption};
use crate::project::{ConfigStore, Project, ProjectSnapshot, Revision, StaleRevision};
use crate::secret::ClientId;

use crate::session::SessionRevocations;

mod audit;
mod limiter;
mod replay;

pub use audit::{MemoryAuditSink, MemoryOutbox};
pub use limiter::{DEFAULT_MAX_KEYS, MemoryRateLimiter};
pub use replay::MemoryReplayCache;

/// Number of shards (a power of two).
const SHARDS: usize = 64;
/// At most this many entries are looked at, from the oldest, on each
/// insert. More than one, so the queue drains faster than it fills.
const EVICT_PER_INSERT: usize = 4;

/// Hashes a [`CodeDigest`] by its first eight bytes.
///
/// A digest is SHA-256 of 32 random bytes, so its bytes are already
/// uniformly spread; a caller can only choose digests to look up, which
/// never adds entries, so there is nothing to flood.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length_prefix: usize) {}
}

type DigestMap = HashMap<CodeDigest, Box<[u8]>, BuildHasherDefault<DigestHasher>>;

/// Number of shards of the clients' outstanding codes (a power of two).
const CLIENT_SHARDS: usize = 16;

/// Hashes a [`ClientId`] eight bytes at a time (multiply and rotate, as
/// FxHash does) rather than with SipHash.
///
/// The maps it keys hold a set for each client that has issued a code, so
/// their keys are the client ids of configurations that authenticated: a
/// caller cannot add keys of its choosing, and there is nothing to flood.
#[derive(Default)]
struct ClientIdHasher(u64);

impl Hasher for ClientIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(K).rotate_left(26);
        }
    }
}

/// Outstanding codes by client id, for the clients of one shard.
type ClientMap = HashMap<ClientId, Outstanding, BuildHasherDefault<ClientIdHasher>>;

/// A shard of [`ClientMap`]s on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedClients(Mutex<ClientMap>);

/// The shard of `client`'s outstanding codes: chosen by the last hex digit
/// of its UUID text (a `ClientId` holds the lower-case hyphenated form),
/// which is random for the ids this crate generates.
fn client_shard(client: &ClientId) -> usize {
    let digit = client.as_str().as_bytes().last().copied().unwrap_or(0);
    usize::from(digit) % CLIENT_SHARDS
}

/// A [`CodeGrant`] packed into one allocation:
/// `[used: u8][validity: i64][issued: i64 s, u32 ns, i32 offset][expires: i64 s, u32 ns,
/// i32 offset][challenge flag: u8][group count: u32]` then length-prefixed
/// (`u32`) client id, username, first name, last name, email, challenge and
/// groups. Little-endian throughout.
mod packed {
    use super::*;

    const USED: usize = 0;
    const VALIDITY: usize = 1;
    const ISSUED: usize = VALIDITY + 8;
    const EXPIRES: usize = ISSUED + 16;
    const CHALLENGE: usize = EXPIRES + 16;
    const GROUPS: usize = CHALLENGE + 1;
    const STRINGS: usize = GROUPS + 4;

    /// Seconds and nanoseconds apart, so that reading a time back takes
    /// no 128-bit division.
    fn put_time(out: &mut Vec<u8>, t: OffsetDateTime) {
        out.extend_from_slice(&t.unix_timestamp().to_le_bytes());
        out.extend_from_slice(&t.nanosecond().to_le_bytes());
        out.extend_from_slice(&t.offset().whole_seconds().to_le_bytes());
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        // A `u32` length: a grant is far below 4 GiB.
        out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// Packs a grant, its text copied once from wherever it lies.
    pub(super) fn pack(g: &CodeGrantRef<'_>) -> Box<[u8]> {
        let strings = [
            g.client_id.as_str(),
            g.username,
            g.first_name,
            g.last_name,
            g.email,
            g.code_challenge.unwrap_or(""),
        ];
        let groups = g.reader_group_ids;
        let len = STRINGS
            + strings.iter().map(|s| 4 + s.len()).sum::<usize>()
            + groups.iter().map(|s| 4 + s.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.push(0);
        out.extend_from_slice(&g.token_validity_seconds.to_le_bytes());
        put_time(&mut out, g.issued_at);
        put_time(&mut out, g.expires_at);
        out.push(u8::from(g.code_challenge.is_some()));
        let count = u32::try_from(groups.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for s in strings {
            put_str(&mut out, s);
        }
        for s in groups.iter() {
            put_str(&mut out, s);
        }
        out.into_boxed_slice()
    }

    pub(super) fn is_used(p: &[u8]) -> bool {
        p.first() == Some(&1)
    }

    pub(super) fn mark_used(p: &mut [u8]) {
        if let Some(b) = p.get_mut(USED) {
            *b = 1;
        }
    }

    fn array<const N: usize>(p: &[u8], at: usize) -> Option<[u8; N]> {
        p.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    pub(super) fn time_at(p: &[u8], at: usize) -> Option<OffsetDateTime> {
        let seconds = i64::from_le_bytes(array(p, at)?);
        let nanos = u32::from_le_bytes(array(p, at + 8)?);
        let offset = UtcOffset::from_whole_seconds(i32::from_le_bytes(array(p, at + 12)?)).ok()?;
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()?
            .replace_nanosecond(nanos)
            .ok()?
            .checked_to_offset(offset)
    }

    /// When the packed grant expires (read without unpacking the rest).
    pub(super) fn expires_at(p: &[u8]) -> Option<OffsetDateTime> {
        time_at(p, EXPIRES)
    }

    /// The packed grant's code as its client's outstanding codes hold it,
    /// with the client id's text, read without unpacking the rest.
    pub(super) fn ended(p: &[u8], digest: &CodeDigest) -> Option<Ended> {
        let len = usize::try_from(u32::from_le_bytes(array(p, STRINGS)?)).ok()?;
        let client = array(p, STRINGS + 4).filter(|_| len == uuid::fmt::Hyphenated::LENGTH)?;
        let seconds = i128::from(i64::from_le_bytes(array(p, EXPIRES)?));
        let nanos = i128::from(u32::from_le_bytes(array(p, EXPIRES + 8)?));
        Some((client, outstanding_entry(seconds * 1_000_000_000 + nanos, digest)))
    }

    /// The packed grant shown where it lies (only its client id is made
    /// anew), for `f`.
    pub(super) fn view<T>(p: &[u8], f: impl FnOnce(&CodeGrantRef<'_>) -> T) -> Option<T> {
        let mut at = STRINGS;
        let mut next = || -> Option<&str> {
            let len = usize::try_from(u32::from_le_bytes(array(p, at)?)).ok()?;
            let s = std::str::from_utf8(p.get(at + 4..at + 4 + len)?).ok()?;
            at += 4 + len;
            Some(s)
        };
        let client_id = ClientId::from_canonical(next()?.as_bytes())?;
        let (username, first_name, last_name, email, challenge) = (next()?, next()?, next()?, next()?, next()?);
        let groups = usize::try_from(u32::from_le_bytes(array(p, GROUPS)?)).ok()?;
        let reader_group_ids = GroupIds::packed(p.get(at..)?, groups)?;
        let grant = CodeGrantRef {
            client_id: &client_id,
            username,
            first_name,
            last_name,
            email,
            reader_group_ids,
            token_validity_seconds: i64::from_le_bytes(array(p, VALIDITY)?),
            issued_at: time_at(p, ISSUED)?,
            expires_at: time_at(p, EXPIRES)?,
            code_challenge: (*p.get(CHALLENGE)? == 1).then_some(challenge),
        };
        Some(f(&grant))
    }

    /// The packed grant, owned: [`view`] of it, copied.
    pub(super) fn unpack(p: &[u8]) -> Option<CodeGrant> {
        view(p, |grant| grant.to_grant())
    }
}

#[derive(Debug, Default)]
struct Shard {
    /// Packed grants by digest; the first byte marks a used code.
    entries: DigestMap,
    /// Digests in insertion order with their expiry (Unix seconds, rounded
    /// up), for incremental eviction without touching the map. A digest
    /// whose entry is already gone is skipped when it reaches the front.
    queue: VecDeque<(i64, CodeDigest)>,
    /// Codes redeemed here whose clients have not been told yet.
    ended: Vec<Ended>,
}

/// A code redeemed, not yet ended among its client's outstanding codes:
/// the client id's text and the code's entry there.
type Ended = ([u8; uuid::fmt::Hyphenated::LENGTH], OutstandingCode);

/// How many redeemed codes a shard gathers before the redemption that
/// reaches this many tells their clients: one write to a client's shared
/// count per this many redemptions, not one each.
const ENDED_BATCH: usize = 32;

/// `t` in Unix seconds, rounded up: an entry is evicted only once `now` has
/// reached this second, so never before it expires.
fn ceil_seconds(t: OffsetDateTime) -> i64 {
    let s = t.unix_timestamp();
    if t.nanosecond() > 0 { s.saturating_add(1) } else { s }
}

impl Shard {
    /// Looks at up to `budget` entries from the oldest and drops those
    /// expired at `now`; stops at the first one still alive.
    fn evict(&mut self, now: OffsetDateTime, budget: usize) {
        let now = now.unix_timestamp();
        for _ in 0..budget {
            match self.queue.front() {
                Some((expires, digest)) if *expires <= now => {
                    self.entries.remove(digest);
                    self.queue.pop_front();
                }
                _ => return,
            }
        }
    }

    fn sweep_all(&mut self, now: OffsetDateTime) {
        self.entries
            .retain(|_, p| packed::expires_at(p).is_some_and(|e| e > now));
        let entries = &self.entries;
        self.queue.retain(|(_, d)| entries.contains_key(d));
    }
}

/// An in-memory [`CodeStore`]: atomic redemption under a per-shard lock,
/// tombstones for used codes until they would have expired.
///
/// Grants live in 64 shards chosen by digest. Each grant is packed into one
/// allocation, and a shard's lock is held only for a map operation and a
/// copy of those bytes: unpacking into a [`CodeGrant`] happens after the
/// lock is released. Each insert evicts up to four expired entries, oldest
/// first (a per-shard queue in insertion order), so expired grants go
/// without a pass over the whole map; an entry with a longer lifetime than
/// those behind it holds them back until it expires itself.
///
/// Outstanding codes are counted per client id (for
/// [`CodeStore::insert_limited`]): each client has its codes in order of
/// expiry with a count of the live ones. An insert first drops the
/// client's codes that have expired, then checks the count and records the
/// new code, under one lock: that of the client's shard of the client sets
/// (16, chosen by the client id's last digit). A redemption (of any outcome
/// but `Unknown`) only notes the code in its own shard, under the lock it
/// holds already: threads redeeming codes of one client share nothing but
/// the rare shard. Every 32 codes noted in a shard, the redemption that
/// notes the 32nd ends them among their clients' codes; an insert that
/// finds its client at the limit first ends every noted code, so a
/// redeemed code never counts against the limit. A code ended leaves once
/// it reaches the front. Clients contend only when they share a shard of
/// the client sets, and then only for that count.
///
/// Memory: about 340 bytes per outstanding code for a typical grant (a
/// UUID client id, short names, an email address, two reader groups) —
/// measured by `cargo run --release --example bench_table` as the growth of
/// resident memory over 1,000,000 outstanding codes (336 MB), hash table,
/// queue, per-client list and allocator slack included. A million
/// outstanding codes fit under 400 MB.
#[derive(Debug)]
pub struct MemoryCodeStore {
    shards: Box<[PaddedShard]>,
    clients: Box<[PaddedClients]>,
}

/// One client's outstanding codes: expiry (Unix nanoseconds, saturated to
/// `i64`: until the year 2262) and 63 bits of the digest, in ascending
/// order (codes are issued in order of expiry, so a new one almost always
/// goes at the back), with the number of live ones. A code redeemed is
/// marked ended where it lies and leaves once it reaches the front. 16
/// bytes a code rather than a whole digest: a redemption could end another
/// code of the same client only if the two shared their expiry to the
/// nanosecond and 63 bits of their digests, and even then only the count
/// of outstanding codes would be off by one.
#[derive(Debug, Default)]
struct Outstanding {
    codes: VecDeque<OutstandingCode>,
    live: usize,
}

/// An entry of [`Outstanding`]: expiry, and the digest's first 8 bytes
/// with the lowest bit set while the code is live.
type OutstandingCode = (i64, u64);

/// Marks a live [`OutstandingCode`].
const LIVE: u64 = 1;

/// The order of [`OutstandingCode`]s, whether live or not.
fn order_key(code: &OutstandingCode) -> (i64, u64) {
    (code.0, code.1 & !LIVE)
}

impl Outstanding {
    /// Drops codes from the front that have ended, or expired at `now`.
    fn drop_ended(&mut self, now: i64) {
        while let Some(&(expires, prefix)) = self.codes.front() {
            if prefix & LIVE == 0 {
                self.codes.pop_front();
            } else if expires <= now {
                self.codes.pop_front();
                self.live -= 1;
            } else {
                return;
            }
        }
    }

    /// Records a live code.
    fn insert(&mut self, code: OutstandingCode) {
        let code = (code.0, code.1 | LIVE);
        let key = order_key(&code);
        if self.codes.back().is_none_or(|last| order_key(last) <= key) {
            self.codes.push_back(code);
        } else {
            let at = self.codes.partition_point(|c| order_key(c) <= key);
            self.codes.insert(at, code);
        }
        self.live += 1;
    }

    /// Ends a live code, if it is here.
    fn end(&mut self, code: OutstandingCode) {
        let key = order_key(&code);
        let at = self.codes.partition_point(|c| order_key(c) < key);
        for c in self.codes.range_mut(at..) {
            if order_key(c) != key {
                break;
            }
            if c.1 & LIVE != 0 {
                c.1 &= !LIVE;
                self.live -= 1;
                break;
            }
        }
        while self.codes.front().is_some_and(|c| c.1 & LIVE == 0) {
            self.codes.pop_front();
        }
    }

    /// How many live codes expire after `now`.
    fn count_after(&self, now: i64) -> usize {
        self.codes
            .iter()
            .filter(|(expires, prefix)| prefix & LIVE != 0 && *expires > now)
            .count()
    }
}

/// `digest`'s entry among its client's outstanding codes, expiring at
/// `expires_at`.
fn outstanding_code(expires_at: OffsetDateTime, digest: &CodeDigest) -> OutstandingCode {
    outstanding_entry(expires_at.unix_timestamp_nanos(), digest)
}

/// [`outstanding_code`] from the expiry in Unix nanoseconds.
fn outstanding_entry(nanos: i128, digest: &CodeDigest) -> OutstandingCode {
    let nanos = i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX });
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest.0[..8]);
    (nanos, u64::from_le_bytes(prefix))
}

/// A shard on cache lines of its own, so that threads working on
/// neighbouring shards do not invalidate each other's lock word.
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedShard(Mutex<Shard>);

impl Default for MemoryCodeStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| PaddedShard::default()).collect(),
            clients: (0..CLIENT_SHARDS).map(|_| PaddedClients::default()).collect(),
        }
    }

    /// The clients of `client`'s shard, locked.
    fn clients(&self, client: &ClientId) -> MutexGuard<'_, ClientMap> {
        #[cfg(test)]
        tests::CLIENT_LOCKS.with(|n| n.set(n.get() + 1));
        // Every update of a set is a single set operation, so a panic
        // elsewhere cannot leave one half-written: a poisoned lock is sound.
        self.clients[client_shard(client) % self.clients.len()]
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on `client`'s outstanding codes (created empty if need be),
    /// under its shard's one lock.
    fn with_outstanding<T>(&self, client: &ClientId, f: impl FnOnce(&mut Outstanding) -> T) -> T {
        let mut clients = self.clients(client);
        if let Some(set) = clients.get_mut(client) {
            return f(set);
        }
        f(clients.entry(client.clone()).or_default())
    }

    /// How many outstanding (unredeemed, unexpired) codes `client` has at
    /// `now`, for tests and metrics.
    pub fn outstanding(&self, client: &ClientId, now: OffsetDateTime) -> usize {
        self.end_all_noted();
        let now = now.unix_timestamp_nanos();
        let now = i64::try_from(now).unwrap_or(if now < 0 { i64::MIN } else { i64::MAX });
        self.clients(client).get(client).map_or(0, |set| set.count_after(now))
    }

    /// Checks `client`'s count at `now` and reserves a place for `digest`;
    /// at the limit, ends every redeemed code noted in the shards and
    /// checks again.
    fn reserve(&self, grant: &CodeGrantRef<'_>, digest: &CodeDigest, limit: usize) -> Insertion {
        match self.try_reserve(grant, digest, limit) {
            Insertion::LimitReached { .. } => {
                self.end_all_noted();
                self.try_reserve(grant, digest, limit)
            }
            stored => stored,
        }
    }

    /// Ends the codes redeemed in every shard among their clients' codes.
    fn end_all_noted(&self) {
        for shard in &self.shards {
            let noted = std::mem::take(&mut shard.0.lock().unwrap_or_else(|e| e.into_inner()).ended);
            self.end_noted(&noted);
        }
    }

    /// Ends `noted` codes among their clients' codes.
    fn end_noted(&self, noted: &[Ended]) {
        if noted.is_empty() {
            return;
        }
        // Noted codes mostly share a client: each run of one client's codes
        // takes its shard's lock once.
        for run in noted.chunk_by(|a, b| a.0 == b.0) {
            let Some(id) = run.first().and_then(|(client, _)| ClientId::from_canonical(client)) else {
                continue;
            };
            if let Some(set) = self.clients(&id).get_mut(&id) {
                for (_, code) in run {
                    set.end(*code);
                }
            }
        }
    }

    /// [`reserve`](Self::reserve)'s one check.
    fn try_reserve(&self, grant: &CodeGrantRef<'_>, digest: &CodeDigest, limit: usize) -> Insertion {
        let now = outstanding_code(grant.issued_at, digest).0;
        let entry = outstanding_code(grant.expires_at, digest);
        self.with_outstanding(grant.client_id, |set| {
            set.drop_ended(now);
            if set.live >= limit {
                // After `drop_ended`, the front is live.
                let oldest = set.codes.front().map_or(entry.0, |(expires, _)| *expires);
                let retry_at =
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(oldest)).unwrap_or(grant.expires_at);
                return Insertion::LimitReached { retry_at };
            }
            set.insert(entry);
            Insertion::Stored
        })
    }

    /// Ends a code's place among its client's outstanding codes.
    fn release(&self, client_id: &ClientId, expires_at: OffsetDateTime, digest: &CodeDigest) {
        let entry = outstanding_code(expires_at, digest);
        if let Some(set) = self.clients(client_id).get_mut(client_id) {
            set.end(entry);
        }
    }

    fn shard(&self, digest: &CodeDigest) -> MutexGuard<'_, Shard> {
        // The hash uses the first bytes; the shard the last one.
        let i = usize::from(digest.0[31]) % self.shards.len();
        // Every update below is a single map operation, so a panic elsewhere
        // cannot leave a shard half-written: a poisoned lock is still sound.
        self.shards[i].0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of entries held (live codes and tombstones), for tests and
    /// metrics.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry past its expiry, one shard at a time (inserts
    /// already do this incrementally; this is for tests and idle periods).
    pub fn sweep(&self, now: OffsetDateTime) {
        for s in self.shards.iter() {
            s.0.lock().unwrap_or_else(|e| e.into_inner()).sweep_all(now);
        }
    }

    #[cfg(test)]
    fn insert_now(&self, digest: CodeDigest, grant: CodeGrant) {
        let _ = self.insert_limited_now(digest, &CodeGrantRef::of(&grant), usize::MAX);
    }

    fn insert_limited_now(&self, digest: CodeDigest, grant: &CodeGrantRef<'_>, limit: usize) -> Insertion {
        let answer = self.reserve(grant, &digest, limit);
        if answer != Insertion::Stored {
            return answer;
        }
        let packed = packed::pack(grant);
        let stored = {
            let mut shard = self.shard(&digest);
            shard.evict(grant.issued_at, EVICT_PER_INSERT);
            // Never overwrite: a 256-bit collision is not going to happen,
            // but if it did the first grant must not be replaced.
            match shard.entries.entry(digest) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(packed);
                    shard.queue.push_back((ceil_seconds(grant.expires_at), digest));
                    true
                }
                std::collections::hash_map::Entry::Occupied(_) => false,
            }
        };
        if !stored {
            self.release(grant.client_id, grant.expires_at, &digest);
        }
        Insertion::Stored
    }

    /// The atomic step of a redemption: marks the code used (or drops it
    /// when expired) under its shard's lock and copies its packed grant out,
    /// so that it is read after the lock is released.
    ///
    /// A code this call ends (it was not used) is noted in the shard; the
    /// call that notes the [`ENDED_BATCH`]th ends the noted codes among
    /// their clients' codes, after the shard's lock is released.
    fn take(&self, digest: &CodeDigest, now: OffsetDateTime) -> Option<Taken> {
        let mut shard = self.shard(digest);
        let entry = shard.entries.get_mut(digest)?;
        let used = packed::is_used(entry);
        let ended = if used { None } else { packed::ended(entry, digest) };
        let taken = if !used && packed::expires_at(entry).is_none_or(|e| now >= e) {
            let removed = shard.entries.remove(digest).unwrap_or_default();
            Taken {
                used: false,
                expired: true,
                bytes: Copied::Heap(removed),
            }
        } else {
            packed::mark_used(entry);
            Taken {
                used,
                expired: false,
                bytes: Copied::of(entry),
            }
        };
        let mut full = Vec::new();
        if let Some(ended) = ended {
            shard.ended.push(ended);
            if shard.ended.len() >= ENDED_BATCH {
                full = std::mem::take(&mut shard.ended);
            }
        }
        drop(shard);
        self.end_noted(&full);
        Some(taken)
    }

    fn redeem_now(&self, digest: CodeDigest, now: OffsetDateTime) -> Redemption {
        let Some(Taken { used, expired, bytes }) = self.take(&digest, now) else {
            return Redemption::Unknown;
        };
        // Only this module packs entries; `None` cannot happen.
        let Some(grant) = packed::unpack(bytes.as_slice()) else {
            return if expired {
                Redemption::Expired
            } else {
                Redemption::Unknown
            };
        };
        if used {
            return Redemption::AlreadyUsed(Box::new(grant));
        }
        if expired {
            Redemption::Expired
        } else {
            Redemption::Redeemed(grant)
        }
    }

    /// [`redeem_now`](Self::redeem_now), showing the grant to `f` where it
    /// lies in the copied bytes.
    fn redeem_now_with<T>(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
        f: impl FnOnce(&CodeGrantRef<'_>) -> T,
    ) -> Result<T, GrantProblem> {
        let Some(Taken { used, expired, bytes }) = self.take(&digest, now) else {
            return Err(GrantProblem::Unknown);
        };
        let unreadable = if expired {
            GrantProblem::Expired
        } else {
            GrantProblem::Unknown
        };
        let answer = packed::view(bytes.as_slice(), |grant| {
            if used {
                return Err(GrantProblem::AlreadyUsed);
            }
            if expired {
                Err(GrantProblem::Expired)
            } else {
                Ok(f(grant))
            }
        });
        // Only this module packs entries; `None` cannot happen.
        answer.unwrap_or(Err(unreadable))
    }
}

/// A packed grant taken out of its shard by [`MemoryCodeStore::take`].
struct Taken {
    used: bool,
    expired: bool,
    bytes: Copied,
}

/// Bytes copied out of a shard: on the stack when they fit, as a typical
/// grant does.
#[allow(
    clippy::large_enum_variant,
    reason = "it lives on the stack for one redemption: the stack copy is its point"
)]
enum Copied {
    Stack([u8; STACK_GRANT], usize),
    Heap(Box<[u8]>),
}

/// Largest packed grant copied onto the stack.
const STACK_GRANT: usize = 512;

impl Copied {
    fn of(bytes: &[u8]) -> Self {
        if bytes.len() <= STACK_GRANT {
            let mut stack = [0u8; STACK_GRANT];
            stack[..bytes.len()].copy_from_slice(bytes);
            Self::Stack(stack, bytes.len())
        } else {
            Self::Heap(bytes.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Stack(stack, len) => &stack[..*len],
            Self::Heap(heap) => heap,
        }
    }
}

impl CodeStore for MemoryCodeStore {
    type Error = Infallible;

    fn insert_limited(
        &self,
        digest: CodeDigest,
        grant: CodeGrant,
        limit: usize,
    ) -> impl Future<Output = Result<Insertion, Infallible>> + Send {
        ready(Ok(self.insert_limited_now(digest, &CodeGrantRef::of(&grant), limit)))
    }

    fn insert_limited_ref(
        &self,
        digest: CodeDigest,
        grant: &CodeGrantRef<'_>,
        limit: usize,
    ) -> impl Future<Output = Result<Insertion, Infallible>> + Send {
        ready(Ok(self.insert_limited_now(digest, grant, limit)))
    }

    fn redeem(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Redemption, Infallible>> + Send {
        ready(Ok(self.redeem_now(digest, now)))
    }

    fn redeem_with<T: Send, F: FnOnce(&CodeGrantRef<'_>) -> T + Send>(
        &self,
        digest: CodeDigest,
        now: OffsetDateTime,
        f: F,
    ) -> impl Future<Output = Result<Result<T, GrantProblem>, Infallible>> + Send {
        ready(Ok(self.redeem_now_with(digest, now, f)))
    }
}

/// An in-memory [`ConfigStore`] holding one project: reads clone an
/// [`Arc`](std::sync::Arc), saves swap it.
#[derive(Debug)]
pub struct MemoryConfigStore {
    current: RwLock<ProjectSnapshot>,
}

impl Default for MemoryConfigStore {
    fn default() -> Self {
        Self::new(Project::default())
    }
}

impl MemoryConfigStore {
    /// A store holding `project` at revision 1.
    pub fn new(project: Project) -> Self {
        Self {
            current: RwLock::new(ProjectSnapshot {
                revision: Revision(1),
                project: std::sync::Arc::new(project),
            }),
        }
    }

    /// The current snapshot, at once.
    pub fn snapshot(&self) -> ProjectSnapshot {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ConfigStore for MemoryConfigStore {
    type Error = Infallible;

    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, Infallible>> + Send {
        ready(Ok(self.snapshot()))
    }

    fn save(
        &self,
        base: Revision,
        project: Project,
    ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, Infallible>> + Send {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let answer = if current.revision == base {
            let revision = Revision(base.0.saturating_add(1));
            *current = ProjectSnapshot {
                revision,
                project: std::sync::Arc::new(project),
            };
            Ok(revision)
        } else {
            Err(StaleRevision {
                base,
                current: current.revision,
            })
        };
        ready(Ok(answer))
    }
}

/// An in-memory [`SessionRevocations`]: revoked session ids until they
/// would have expired, swept (as of the caller's `now`) as new ones arrive.
#[derive(Debug, Default)]
pub struct MemorySessionRevocations {
    revoked: Mutex<HashMap<String, OffsetDateTime>>,
}

impl MemorySessionRevocations {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, OffsetDateTime>> {
        self.revoked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionRevocations for MemorySessionRevocations {
    type Error = Infallible;

    fn revoke(
        &self,
        session_id: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), Infallible>> + Send {
        let mut map = self.lock();
        if map.len() >= 1024 && map.len().is_power_of_two() {
            // Amortised sweep: at most one full pass per doubling.
            map.retain(|_, until| *until > now);
        }
        let entry = map.entry(session_id.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        ready(Ok(()))
    }

    fn is_revoked(
        &self,
        session_id: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let revoked = self.lock().get(session_id).is_some_and(|until| *until > now);
        ready(Ok(revoked))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::reader::ReaderIdentity;
    use proptest::prelude::*;
    use time::{Duration, macros::datetime};

    fn grant(now: OffsetDateTime) -> CodeGrant {
        CodeGrant {
            client_id: ClientId::generate(),
            identity: ReaderIdentity {
                username: "u".into(),
                first_name: String::new(),
                last_name: String::new(),
                email: "u@x".into(),
                reader_group_ids: vec![],
            },
            token_validity_seconds: 900,
            issued_at: now,
            expires_at: now + Duration::minutes(5),
            code_challenge: None,
        }
    }

    /// What `redeem` answers, as `redeem_with` tells it.
    fn told(r: Redemption) -> Result<CodeGrant, GrantProblem> {
        match r {
            Redemption::Redeemed(g) => Ok(g),
            Redemption::Expired => Err(GrantProblem::Expired),
            Redemption::AlreadyUsed(_) => Err(GrantProblem::AlreadyUsed),
            Redemption::Unknown => Err(GrantProblem::Unknown),
        }
    }

    proptest! {
        /// Reading a grant where it lies answers exactly what taking the
        /// owned grant does, redemption after redemption: the same grant
        /// (challenge, groups with escapes and large ones included), the
        /// same expired, used and unknown codes, and the same outstanding
        /// counts after.
        #[test]
        fn redeem_with_answers_as_redeem(
            groups in proptest::collection::vec("\\PC{0,6}|\\PC{300,320}", 0..4),
            challenge in proptest::option::of("[A-Za-z0-9_-]{43}"),
            steps in proptest::collection::vec((0usize..4, 0i64..700), 1..12),
        ) {
            let t0 = datetime!(2026-01-01 00:00 UTC);
            let (owned, borrowed) = (MemoryCodeStore::new(), MemoryCodeStore::new());
            let mut g = grant(t0);
            g.identity.reader_group_ids = groups;
            g.code_challenge = challenge;
            for code in ["a", "b", "c"] {
                owned.insert_now(CodeDigest::of(code), g.clone());
                borrowed.insert_now(CodeDigest::of(code), g.clone());
            }
            for (code, secs) in steps {
                let digest = CodeDigest::of(["a", "b", "c", "d"][code]);
                let now = t0 + Duration::seconds(secs);
                let a = told(owned.redeem_now(digest, now));
                let b = borrowed.redeem_now_with(digest, now, |g| g.to_grant());
                prop_assert_eq!(a, b);
                prop_assert_eq!(owned.outstanding(&g.client_id, now), borrowed.outstanding(&g.client_id, now));
            }
        }
    }

    proptest! {
        /// A packed time reads back as the very time packed: instant,
        /// nanosecond and offset, before and after 1970.
        #[test]
        fn packed_times_read_back_exactly(
            seconds in -62_000_000_000i64..250_000_000_000,
            nanos in 0u32..1_000_000_000,
            offset in -86_399i32..86_400,
        ) {
            let offset = UtcOffset::from_whole_seconds(offset).unwrap();
            let t = OffsetDateTime::from_unix_timestamp(seconds).unwrap().replace_nanosecond(nanos).unwrap();
            let Some(t) = t.checked_to_offset(offset) else { return Ok(()) };
            let mut g = grant(t);
            g.expires_at = t;
            let p = packed::pack(&CodeGrantRef::of(&g));
            let back = packed::unpack(&p).unwrap();
            prop_assert_eq!(back.issued_at, t);
            prop_assert_eq!(back.issued_at.offset(), t.offset());
            prop_assert_eq!(packed::expires_at(&p), Some(t));
        }

        /// A client's outstanding codes, kept in order with ended ones
        /// marked, count exactly as an ordered set of the live ones does
        /// (the set they were kept in before), whatever the order of
        /// inserts, redemptions and expiries.
        #[test]
        fn outstanding_codes_count_as_an_ordered_set(
            ops in proptest::collection::vec((0u8..3, 0i64..20, 0u64..6), 1..60),
        ) {
            let mut kept = Outstanding::default();
            let mut model = std::collections::BTreeSet::new();
            for (op, t, prefix) in ops {
                // Distinct prefixes with the live bit clear, as digests give.
                let code = (t, prefix << 1);
                match op {
                    0 => {
                        if model.insert(code) {
                            kept.insert(code);
                        }
                    }
                    1 => {
                        model.remove(&code);
                        kept.end(code);
                    }
                    _ => {
                        while model.first().is_some_and(|(e, _)| *e <= t) {
                            model.pop_first();
                        }
                        kept.drop_ended(t);
                        prop_assert_eq!(
                            kept.codes.front().map(|c| c.0),
                            model.first().map(|c| c.0)
                        );
                    }
                }
                prop_assert_eq!(kept.live, model.len());
                prop_assert_eq!(kept.count_after(t), model.iter().filter(|(e, _)| *e > t).count());
            }
        }
    }

    proptest! {
        /// Clients keep their own counts and limits whether or not they
        /// share a shard of the client sets: each client's inserts are
        /// stored until its limit, then refused until one of its codes is
        /// redeemed or expires, whatever the other clients do.
        #[test]
        fn each_client_has_its_own_limit_whichever_shard_it_shares(
            ids in proptest::collection::vec(any::<[u8; 16]>(), 1..6),
            ops in proptest::collection::vec((0usize..6, 0u8..3, 0i64..400), 1..80),
            limit in 1usize..4,
        ) {
            let t0 = datetime!(2026-01-01 00:00 UTC);
            let clients: Vec<ClientId> = ids.into_iter().map(ClientId::from_uuid_bytes).collect();
            let store = MemoryCodeStore::new();
            // The model: each client's live codes, by number, with expiry.
            let mut model: Vec<Vec<(u64, OffsetDateTime)>> = vec![vec![]; clients.len()];
            let mut next = 0u64;
            let mut now = t0;
            for (who, op, secs) in ops {
                let who = who % clients.len();
                now += Duration::seconds(secs % 7);
                for codes in model.iter_mut() {
                    codes.retain(|(_, expires)| *expires > now);
                }
                match op {
                    0 | 1 => {
                        next += 1;
                        let mut g = grant(now);
                        g.client_id = clients[who].clone();
                        g.expires_at = now + Duration::seconds(60 + secs);
                        let digest = CodeDigest::of(&next.to_string());
                        let answer = store.insert_limited_now(digest, &CodeGrantRef::of(&g), limit);
                        // Clients with the same id (a repeated draw) share a count.
                        let live: usize = (0..clients.len())
                            .filter(|&c| clients[c] == clients[who])
                            .map(|c| model[c].len())
                            .sum();
                        if live < limit {
                            prop_assert_eq!(answer, Insertion::Stored);
                            model[who].push((next, g.expires_at));
                        } else {
                            prop_assert!(matches!(answer, Insertion::LimitReached { .. }), "{answer:?}");
                        }
                    }
                    _ => {
                        if let Some((code, _)) = model[who].pop() {
                            let r = store.redeem_now(CodeDigest::of(&code.to_string()), now);
                            prop_assert!(matches!(r, Redemption::Redeemed(_)), "{r:?}");
                        }
                    }
                }
                for (c, client) in clients.iter().enumerate() {
                    let live: usize = (0..clients.len())
                        .filter(|&d| clients[d] == *client)
                        .map(|d| model[d].len())
                        .sum();
                    prop_assert_eq!(store.outstanding(client, now), live, "client {}", c);
                }
            }
        }
    }

    #[test]
    fn many_clients_in_one_shard_of_the_client_sets_are_counted_apart() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        // Ids ending in the same digit share a shard.
        let clients: Vec<ClientId> = (0..40u8)
            .map(|i| ClientId::from_uuid_bytes([i, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x07]))
            .collect();
        assert!(clients.iter().all(|c| client_shard(c) == client_shard(&clients[0])));
        for (i, client) in clients.iter().enumerate() {
            let mut g = grant(t0);
            g.client_id = client.clone();
            for n in 0..=i % 3 {
                let digest = CodeDigest::of(&format!("{i}-{n}"));
                assert_eq!(
                    store.insert_limited_now(digest, &CodeGrantRef::of(&g), 2),
                    if n < 2 {
                        Insertion::Stored
                    } else {
                        Insertion::LimitReached { retry_at: g.expires_at }
                    }
                );
            }
        }
        for (i, client) in clients.iter().enumerate() {
            assert_eq!(store.outstanding(client, t0), (i % 3 + 1).min(2));
        }
    }

    #[test]
    fn an_outstanding_code_takes_16_bytes_of_its_clients_set() {
        assert_eq!(std::mem::size_of::<OutstandingCode>(), 16);
        // Codes with one expiry and different digests are counted apart.
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let g = grant(t0);
        for code in ["a", "b", "c"] {
            store.insert_now(CodeDigest::of(code), g.clone());
        }
        assert_eq!(store.outstanding(&g.client_id, t0), 3);
        assert_eq!(
            store.redeem_now(CodeDigest::of("b"), t0),
            Redemption::Redeemed(g.clone())
        );
        assert_eq!(store.outstanding(&g.client_id, t0), 2);
        assert_eq!(store.outstanding(&g.client_id, g.expires_at), 0);
    }

    #[test]
    fn redeem_once_then_tombstone_then_gone() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        let g = grant(t0);
        store.insert_now(d, g.clone());
        assert_eq!(store.redeem_now(d, t0), Redemption::Redeemed(g.clone()));
        assert_eq!(store.redeem_now(d, t0), Redemption::AlreadyUsed(Box::new(g)));
        store.sweep(t0 + Duration::minutes(5));
        assert_eq!(store.redeem_now(d, t0), Redemption::Unknown);
        assert!(store.is_empty());
    }

    #[test]
    fn expired_codes_say_so_once_and_are_used_up() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        store.insert_now(d, grant(t0));
        let late = t0 + Duration::minutes(5);
        assert_eq!(store.redeem_now(d, late), Redemption::Expired);
        assert_eq!(
            store.redeem_now(d, t0),
            Redemption::Unknown,
            "an expired code never comes back"
        );
    }

    #[test]
    fn insert_never_overwrites() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        let first = grant(t0);
        store.insert_now(d, first.clone());
        store.insert_now(d, grant(t0));
        assert_eq!(store.redeem_now(d, t0), Redemption::Redeemed(first));
    }

    #[test]
    fn inserts_evict_expired_entries_oldest_first() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        for i in 0..2000 {
            store.insert_now(CodeDigest::of(&format!("old{i}")), grant(t0));
        }
        let later = t0 + Duration::hours(1);
        for i in 0..2000 {
            store.insert_now(CodeDigest::of(&format!("new{i}")), grant(later));
        }
        assert_eq!(store.len(), 2000, "every expired entry was evicted by later inserts");
        assert_eq!(store.redeem_now(CodeDigest::of("old7"), later), Redemption::Unknown);
        assert!(matches!(
            store.redeem_now(CodeDigest::of("new7"), later),
            Redemption::Redeemed(_)
        ));
    }

    #[test]
    fn one_insert_evicts_a_bounded_number_of_entries() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        let i = usize::from(d.0[31]) % SHARDS;
        let mut same_shard = 0;
        for n in 0.. {
            let old = CodeDigest::of(&format!("old{n}"));
            if usize::from(old.0[31]) % SHARDS == i {
                store.insert_now(old, grant(t0));
                same_shard += 1;
                if same_shard == 100 {
                    break;
                }
            }
        }
        store.insert_now(d, grant(t0 + Duration::hours(1)));
        assert_eq!(store.len(), 101 - EVICT_PER_INSERT, "no whole-shard scan");
    }

    #[test]
    fn tombstones_go_when_their_code_would_have_expired() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let d = CodeDigest::of("code");
        store.insert_now(d, grant(t0));
        assert!(matches!(store.redeem_now(d, t0), Redemption::Redeemed(_)));
        // Later inserts into the same shard evict the tombstone.
        let late = t0 + Duration::minutes(5);
        for n in 0..2000 {
            store.insert_now(CodeDigest::of(&format!("n{n}")), grant(late));
        }
        assert_eq!(store.redeem_now(d, late), Redemption::Unknown);
    }

    fn arb_grant() -> impl Strategy<Value = CodeGrant> {
        let text = "\\PC{0,40}";
        (
            (text, text, text, text),
            prop::collection::vec(text, 0..5),
            proptest::option::of("[A-Za-z0-9_-]{43}"),
            any::<i64>(),
            (
                -10_000_000_000i64..10_000_000_000,
                0u32..1_000_000_000,
                -86_399i32..86_400,
            ),
            0i64..1_000_000,
        )
            .prop_map(
                |(
                    (username, first_name, last_name, email),
                    groups,
                    challenge,
                    validity,
                    (secs, nanos, offset),
                    life,
                )| {
                    let offset = UtcOffset::from_whole_seconds(offset).unwrap();
                    let issued = OffsetDateTime::from_unix_timestamp(secs)
                        .unwrap()
                        .replace_nanosecond(nanos)
                        .unwrap()
                        .to_offset(offset);
                    CodeGrant {
                        client_id: ClientId::generate(),
                        identity: ReaderIdentity {
                            username,
                            first_name,
                            last_name,
                            email,
                            reader_group_ids: groups,
                        },
                        token_validity_seconds: validity,
                        issued_at: issued,
                        expires_at: issued + Duration::seconds(life),
                        code_challenge: challenge,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn packing_keeps_every_field(g in arb_grant()) {
            let p = packed::pack(&CodeGrantRef::of(&g));
            let back = packed::unpack(&p).unwrap();
            prop_assert_eq!(back.issued_at.offset(), g.issued_at.offset());
            prop_assert_eq!(back.expires_at.offset(), g.expires_at.offset());
            prop_assert_eq!(packed::expires_at(&p), Some(g.expires_at));
            prop_assert_eq!(back, g);
        }
    }

    proptest! {
        /// Redemptions are noted in their shards and reach their client's
        /// count in batches, yet the limit and `outstanding` always see
        /// them: after any run of issues and redemptions of two clients'
        /// codes (fewer or more than a batch), each client's count is
        /// exactly its codes issued and not redeemed, and an insert at the
        /// limit is refused exactly when that count has reached it.
        #[test]
        fn redeemed_codes_never_count_against_the_limit(
            ops in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<u16>()), 1..200),
            limit in 1usize..40,
        ) {
            let t0 = datetime!(2026-01-01 00:00 UTC);
            let store = MemoryCodeStore::new();
            let clients = [grant(t0), grant(t0)];
            let mut live: [Vec<CodeDigest>; 2] = [vec![], vec![]];
            for (n, (second, issue, pick)) in ops.into_iter().enumerate() {
                let c = usize::from(second);
                if issue || live[c].is_empty() {
                    let d = CodeDigest::of(&format!("code {n}"));
                    let answer = store.insert_limited_now(d, &CodeGrantRef::of(&clients[c]), limit);
                    if live[c].len() >= limit {
                        prop_assert!(matches!(answer, Insertion::LimitReached { .. }), "{answer:?}");
                    } else {
                        prop_assert_eq!(answer, Insertion::Stored);
                        live[c].push(d);
                    }
                } else {
                    let d = live[c].swap_remove(usize::from(pick) % live[c].len());
                    prop_assert!(matches!(store.redeem_now(d, t0), Redemption::Redeemed(_)));
                }
            }
            for c in 0..2 {
                prop_assert_eq!(store.outstanding(&clients[c].client_id, t0), live[c].len());
            }
        }
    }

    thread_local! {
        /// Locks of a shard of the client sets taken on this thread.
        pub(super) static CLIENT_LOCKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn redemptions_take_a_clients_lock_once_per_batch_at_most() {
        // Threads redeeming one client's codes would all write that
        // client's count: a redemption only notes its code in its shard,
        // and one in `ENDED_BATCH` of them tells the client.
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = MemoryCodeStore::new();
        let g = grant(t0);
        let n = 4096;
        let digests: Vec<CodeDigest> = (0..n).map(|i| CodeDigest::of(&format!("code {i}"))).collect();
        for d in &digests {
            assert_eq!(
                store.insert_limited_now(*d, &CodeGrantRef::of(&g), n),
                Insertion::Stored
            );
        }
        let before = CLIENT_LOCKS.with(std::cell::Cell::get);
        for d in &digests {
            assert!(matches!(store.redeem_now(*d, t0), Redemption::Redeemed(_)));
        }
        let locks = CLIENT_LOCKS.with(std::cell::Cell::get) - before;
        assert!(locks <= n / 32, "{locks} client locks for {n} redemptions");
        assert!(locks > 0, "full batches tell their client");
        assert_eq!(store.outstanding(&g.client_id, t0), 0);
    }

    #[test]
    fn threads_redeeming_one_clients_codes_free_every_place() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = std::sync::Arc::new(MemoryCodeStore::new());
        let g = grant(t0);
        let limit = 1000;
        let digests: Vec<CodeDigest> = (0..limit).map(|i| CodeDigest::of(&format!("code {i}"))).collect();
        for d in &digests {
            assert_eq!(
                store.insert_limited_now(*d, &CodeGrantRef::of(&g), limit),
                Insertion::Stored
            );
        }
        let extra = CodeDigest::of("one too many");
        assert!(matches!(
            store.insert_limited_now(extra, &CodeGrantRef::of(&g), limit),
            Insertion::LimitReached { .. }
        ));
        // Three threads, each a third of the codes (not a whole number of
        // batches per shard): every redemption wins, and afterwards the
        // client has every place back.
        std::thread::scope(|scope| {
            for part in digests.chunks(limit / 3 + 1) {
                let store = &store;
                scope.spawn(move || {
                    for d in part {
                        assert!(matches!(store.redeem_now(*d, t0), Redemption::Redeemed(_)));
                    }
                });
            }
        });
        assert_eq!(store.outstanding(&g.client_id, t0), 0);
        for i in 0..limit {
            let d = CodeDigest::of(&format!("again {i}"));
            assert_eq!(
                store.insert_limited_now(d, &CodeGrantRef::of(&g), limit),
                Insertion::Stored
            );
        }
    }

    #[test]
    fn concurrent_redemptions_of_one_code_yield_one_grant() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let store = std::sync::Arc::new(MemoryCodeStore::new());
        let d = CodeDigest::of("code");
        store.insert_now(d, grant(t0));
        // Every thread waits at the barrier, so the redemptions start together
        // instead of one after another as the threads happen to be spawned.
        let start = std::sync::Arc::new(std::sync::Barrier::new(32));
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (s, start) = (store.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    s.redeem_now(d, t0)
                })
            })
            .collect();
        let answers: Vec<Redemption> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = answers.iter().filter(|r| matches!(r, Redemption::Redeemed(_))).count();
        let used = answers
            .iter()
            .filter(|r| matches!(r, Redemption::AlreadyUsed(_)))
            .count();
        assert_eq!((wins, used), (1, 31));
    }
}
