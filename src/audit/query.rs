//! Reading the audit log a page at a time: filters, time range, cursor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AuditAction, AuditEntry};

/// A family of audit actions: the "Event" of the admin portal's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventCategory {
    /// An action of the JWT admin pages: JWT configurations, their secrets
    /// and handshake keys, the login page toggles, the widget secret and
    /// SSO providers.
    Jwt,
}

impl EventCategory {
    /// The category's name in a query string (`jwt`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
        }
    }
}

/// Which actions an [`AuditQuery`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EventFilter {
    /// Every action.
    #[default]
    All,
    /// Every action of the JWT admin pages ([`EventCategory::Jwt`]).
    Jwt,
    /// One action.
    Action(AuditAction),
}

impl EventFilter {
    /// Whether an entry of `action` passes the filter.
    pub fn matches(&self, action: AuditAction) -> bool {
        match self {
            Self::All => true,
            Self::Jwt => action.category() == EventCategory::Jwt,
            Self::Action(wanted) => *wanted == action,
        }
    }

    /// The filter named in a query string: `all`, `jwt` (either in any
    /// letter case, as the portal's "JWT" search), or an action's
    /// [`name`](AuditAction::name) such as `regenerate_primary_token`.
    ///
    /// # Errors
    /// [`AuditQueryError::Event`] for any other text.
    pub fn parse(text: &str) -> Result<Self, AuditQueryError> {
        if text.eq_ignore_ascii_case("all") {
            Ok(Self::All)
        } else if text.eq_ignore_ascii_case(EventCategory::Jwt.name()) {
            Ok(Self::Jwt)
        } else {
            AuditAction::from_name(text)
                .map(Self::Action)
                .ok_or(AuditQueryError::Event)
        }
    }

    /// The filter's name in a query string, the inverse of
    /// [`parse`](Self::parse).
    pub fn name(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Jwt => EventCategory::Jwt.name(),
            Self::Action(action) => action.name(),
        }
    }
}

/// Where the next page of an audit query starts: it answers entries older
/// than the last one of the page before (by `seq`).
///
/// Its text form ([`Display`](fmt::Display), [`FromStr`], and as JSON) is
/// meant to be passed back unchanged in the `cursor` parameter; treat it
/// as opaque. Entries appended after the first page never appear on a
/// later one, so a walk through the pages sees each entry that existed
/// when it began at most once (exactly once unless purged meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AuditCursor {
    /// The page answers entries with a `seq` below this.
    below: u64,
}

impl AuditCursor {
    /// The cursor of the page after the one whose oldest entry is `seq`.
    pub fn below(seq: u64) -> Self {
        Self { below: seq }
    }

    /// The page answers entries whose `seq` is below this.
    pub fn seq(&self) -> u64 {
        self.below
    }
}

/// The longest text of an [`AuditCursor`]: `u64::MAX` has 20 digits.
const MAX_CURSOR_LEN: usize = 20;

impl FromStr for AuditCursor {
    type Err = AuditQueryError;

    fn from_str(text: &str) -> Result<Self, AuditQueryError> {
        // Digits only: no sign, space or leading `+` that `u64::from_str`
        // would let through, so one cursor has one text.
        if text.is_empty() || text.len() > MAX_CURSOR_LEN || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuditQueryError::Cursor);
        }
        text.parse().map(Self::below).map_err(|_| AuditQueryError::Cursor)
    }
}

impl fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.below)
    }
}

impl TryFrom<String> for AuditCursor {
    type Error = AuditQueryError;
    fn try_from(text: String) -> Result<Self, AuditQueryError> {
        text.parse()
    }
}

impl From<AuditCursor> for String {
    fn from(cursor: AuditCursor) -> Self {
        cursor.to_string()
    }
}

/// A bad parameter of an audit query; each variant names the parameter,
/// so that the HTTP layer can answer 400 naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AuditQueryError {
    /// `event` is neither `all`, `jwt` nor an action's name.
    #[error("`event` must be `all`, `jwt` or an audit action's name")]
    Event,
    /// `since` is not an RFC 3339 date and time.
    #[error("`since` must be an RFC 3339 date and time")]
    Since,
    /// `until` is not an RFC 3339 date and time, or not after `since`.
    #[error("`until` must be an RFC 3339 date and time after `since`")]
    Until,
    /// `limit` is not a whole number.
    #[error("`limit` must be a whole number")]
    Limit,
    /// `cursor` is not one this crate wrote.
    #[error("`cursor` is not a cursor of the audit log")]
    Cursor,
}

impl AuditQueryError {
    /// The name of the bad parameter, as in the query string.
    pub fn param(&self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Since => "since",
            Self::Until => "until",
            Self::Limit => "limit",
            Self::Cursor => "cursor",
        }
    }
}

/// What to read of the audit log: which actions, which time range, how
/// many entries and from where. Answers come newest first, as an
/// [`AuditPage`].
///
/// Built with [`AuditQuery::new`] and its setters, or parsed from a query
/// string's values with [`AuditQueryParams::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditQuery {
    event: EventFilter,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    limit: Option<usize>,
    cursor: Option<AuditCursor>,
}

impl AuditQuery {
    /// How many entries a page holds when the query does not say.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The most entries a page holds: larger limits are lowered to this.
    pub const MAX_LIMIT: usize = 100;

    /// Every entry, newest first, [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) a
    /// page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only entries whose action passes `event`.
    #[must_use]
    pub fn event(mut self, event: EventFilter) -> Self {
        self.event = event;
        self
    }

    /// Only entries at or after `since` (inclusive).
    #[must_use]
    pub fn since(mut self, since: OffsetDateTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Only entries before `until` (exclusive).
    #[must_use]
    pub fn until(mut self, until: OffsetDateTime) -> Self {
        self.until = Some(until);
        self
    }

    /// At most `limit` entries a page, clamped to `1..=100`
    /// ([`MAX_LIMIT`](Self::MAX_LIMIT)): 0 reads one entry, 1000 reads 100.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after the one that answered `cursor` as its
    /// [`next_cursor`](AuditPage::next_cursor).
    #[must_use]
    pub fn cursor(mut self, cursor: AuditCursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The event filter.
    pub fn event_filter(&self) -> EventFilter {
        self.event
    }

    /// The start of the time range (inclusive), if any.
    pub fn since_time(&self) -> Option<OffsetDateTime> {
        self.since
    }

    /// The end of the time range (exclusive), if any.
    pub fn until_time(&self) -> Option<OffsetDateTime> {
        self.until
    }

    /// The page size: the limit asked for clamped to `1..=100`, or
    /// [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) (50).
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT)
    }

    /// The cursor, if this asks for a later page.
    pub fn page_cursor(&self) -> Option<AuditCursor> {
        self.cursor
    }

    /// Whether `entry` is one this query answers, the cursor included.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.cursor.is_none_or(|c| entry.seq < c.below)
            && self.in_range(entry)
            && self.event.matches(entry.event.action())
    }

    fn in_range(&self, entry: &AuditEntry) -> bool {
        let at = entry.event.at();
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }

    /// The page this query answers from `entries`, a log's kept entries
    /// in `seq` order (oldest first), as [`AuditSink::query`] does: the
    /// newest matching entries, at most [`page_size`](Self::page_size) of
    /// them, and a cursor when older matching entries remain.
    ///
    /// Finds the cursor's place by binary search and clones only the
    /// entries it answers. It makes no assumption about the order of the
    /// entries' times.
    ///
    /// [`AuditSink::query`]: crate::AuditSink::query
    pub fn select(&self, entries: &[AuditEntry]) -> AuditPage {
        self.select_within(entries, false)
    }

    /// [`select`](Self::select), and when `times_ascending` (every entry's
    /// time is at or after the one before it) the time range is found by
    /// binary search too.
    pub(crate) fn select_within(&self, entries: &[AuditEntry], times_ascending: bool) -> AuditPage {
        let mut end = match self.cursor {
            Some(c) => entries.partition_point(|e| e.seq < c.below),
            None => entries.len(),
        };
        let mut start = 0;
        if times_ascending {
            if let Some(until) = self.until {
                end = end.min(entries.partition_point(|e| e.event.at() < until));
            }
            if let Some(since) = self.since {
                start = entries.partition_point(|e| e.event.at() < since).min(end);
            }
        }
        let size = self.page_size();
        let mut matching = entries
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .rev()
            .filter(|e| self.in_range(e) && self.event.matches(e.event.action()));
        let entries: Vec<AuditEntry> = matching.by_ref().take(size).cloned().collect();
        let more = matching.next().is_some();
        let next_cursor = match entries.last() {
            Some(last) if more => Some(AuditCursor::below(last.seq)),
            _ => None,
        };
        AuditPage { entries, next_cursor }
    }
}

/// One page of the audit log, newest entry first.
///
/// As JSON: `{"entries": [...], "next_cursor": "41"}`, `next_cursor`
/// `null` on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts, if older matching entries remain.
    pub next_cursor: Option<AuditCursor>,
}

/// The raw values of an audit query string
/// (`?event=jwt&since=&until=&limit=&cursor=`), as an HTTP layer receives
/// them (for example as axum's `Query<AuditQueryParams>`). An empty value
/// counts as absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQueryParams {
    /// `all`, `jwt` or an action's name ([`EventFilter::parse`]).
    pub event: Option<String>,
    /// RFC 3339; entries at or after it.
    pub since: Option<String>,
    /// RFC 3339; entries before it.
    pub until: Option<String>,
    /// Entries a page; clamped to `1..=100`, 50 when absent.
    pub limit: Option<String>,
    /// A `next_cursor` answered before.
    pub cursor: Option<String>,
}

impl AuditQueryParams {
    /// The query these values ask for.
    ///
    /// # Errors
    /// [`AuditQueryError`] naming the first bad parameter: an unknown
    /// event, a time that is not RFC 3339 (or `until` not after `since`),
    /// a limit that is not a whole number, a cursor this crate did not
    /// write.
    pub fn parse(&self) -> Result<AuditQuery, AuditQueryError> {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().filter(|v| !v.is_empty())
        }
        let time = |value: &str, err| {
            OffsetDateTime::parse(value, &Rfc3339)
                .map(|t| t.to_offset(time::UtcOffset::UTC))
                .map_err(|_| err)
        };
        let mut query = AuditQuery::new();
        if let Some(event) = given(&self.event) {
            query = query.event(EventFilter::parse(event)?);
        }
        if let Some(since) = given(&self.since) {
            query = query.since(time(since, AuditQueryError::Since)?);
        }
        if let Some(until) = given(&self.until) {
            let until = time(until, AuditQueryError::Until)?;
            if query.since.is_some_and(|since| until <= since) {
                return Err(AuditQueryError::Until);
            }
            query = query.until(until);
        }
        if let Some(limit) = given(&self.limit) {
            query = query.limit(parse_limit(limit)?);
        }
        if let Some(cursor) = given(&self.cursor) {
            query = query.cursor(cursor.parse()?);
        }
        Ok(query)
    }
}

/// Digits only; a number too large for `usize` is as good as the largest.
fn parse_limit(text: &str) -> Result<usize, AuditQueryError> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuditQueryError::Limit);
    }
    Ok(text.parse().unwrap_or(usize::MAX))
}

#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Administrator, AuditEvent, ChainHead};
    use time::Duration;
    use time::macros::datetime;

    fn entries(actions: &[(AuditAction, i64)]) -> Vec<AuditEntry> {
        let mut head = ChainHead::GENESIS;
        let mut out = Vec::new();
        for (action, day) in actions {
            let at = datetime!(2026-01-01 00:00 UTC) + Duration::days(*day);
            let e = AuditEntry::chain(&head, AuditEvent::new(*action, at, &Administrator("a".into()), None));
            head = e.head();
            out.push(e);
        }
        out
    }

    fn params(pairs: &[(&str, &str)]) -> AuditQueryParams {
        let mut p = AuditQueryParams::default();
        for (k, v) in pairs {
            let slot = match *k {
                "event" => &mut p.event,
                "since" => &mut p.since,
                "until" => &mut p.until,
                "limit" => &mut p.limit,
                _ => &mut p.cursor,
            };
            *slot = Some((*v).to_owned());
        }
        p
    }

    #[test]
    fn cursors_have_one_text() {
        assert_eq!("41".parse(), Ok(AuditCursor::below(41)));
        assert_eq!(AuditCursor::below(41).to_string(), "41");
        let max = u64::MAX.to_string();
        assert_eq!(max.parse(), Ok(AuditCursor::below(u64::MAX)));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x10",
            "1e3",
            "18446744073709551616",
            "١",
            "abc",
        ] {
            assert_eq!(bad.parse::<AuditCursor>(), Err(AuditQueryError::Cursor), "{bad:?}");
        }
        let json = serde_json::to_string(&AuditCursor::below(7)).unwrap();
        assert_eq!(json, "\"7\"");
        assert!(serde_json::from_str::<AuditCursor>("\"x\"").is_err());
    }

    #[test]
    fn the_page_size_is_clamped() {
        assert_eq!(AuditQuery::new().page_size(), 50);
        assert_eq!(AuditQuery::new().limit(0).page_size(), 1);
        assert_eq!(AuditQuery::new().limit(7).page_size(), 7);
        assert_eq!(AuditQuery::new().limit(1000).page_size(), 100);
        assert_eq!(
            params(&[("limit", "99999999999999999999999")])
                .parse()
                .unwrap()
                .page_size(),
            100
        );
    }

    #[test]
    fn parameters_parse_or_name_themselves() {
        let q = params(&[
            ("event", "JWT"),
            ("since", "2026-01-02T00:00:00+02:00"),
            ("until", "2026-01-03T00:00:00Z"),
            ("limit", "10"),
            ("cursor", "5"),
        ])
        .parse()
        .unwrap();
        assert_eq!(q.event_filter(), EventFilter::Jwt);
        assert_eq!(q.since_time(), Some(datetime!(2026-01-01 22:00 UTC)));
        assert_eq!(q.until_time(), Some(datetime!(2026-01-03 00:00 UTC)));
        assert_eq!(q.page_size(), 10);
        assert_eq!(q.page_cursor(), Some(AuditCursor::below(5)));
        let q = params(&[("event", "regenerate_primary_token")]).parse().unwrap();
        assert_eq!(
            q.event_filter(),
            EventFilter::Action(AuditAction::RegeneratePrimaryToken)
        );
        assert_eq!(
            params(&[("event", "")]).parse(),
            Ok(AuditQuery::new()),
            "empty is absent"
        );

        for (pair, err) in [
            (("event", "RegeneratePrimaryToken"), AuditQueryError::Event),
            (("event", "sso"), AuditQueryError::Event),
            (("since", "yesterday"), AuditQueryError::Since),
            (("since", "2026-01-01"), AuditQueryError::Since),
            (("until", "2026-01-01 00:00"), AuditQueryError::Until),
            (("limit", "-1"), AuditQueryError::Limit),
            (("limit", "ten"), AuditQueryError::Limit),
            (("cursor", "-3"), AuditQueryError::Cursor),
        ] {
            assert_eq!(params(&[pair]).parse(), Err(err), "{pair:?}");
            assert_eq!(err.param(), pair.0);
        }
        let backwards = params(&[("since", "2026-01-02T00:00:00Z"), ("until", "2026-01-02T00:00:00Z")]);
        assert_eq!(backwards.parse(), Err(AuditQueryError::Until));
    }

    #[test]
    fn every_filter_name_parses_back() {
        let mut filters = vec![EventFilter::All, EventFilter::Jwt];
        filters.extend(AuditAction::ALL.iter().copied().map(EventFilter::Action));
        for f in filters {
            assert_eq!(EventFilter::parse(f.name()), Ok(f));
        }
    }

    #[test]
    fn binary_search_and_scan_agree_on_sorted_times() {
        use AuditAction::*;
        let log = entries(&[
            (Create, 0),
            (Enable, 1),
            (Update, 1),
            (Disable, 2),
            (Delete, 3),
            (Create, 5),
        ]);
        let day = |d| datetime!(2026-01-01 00:00 UTC) + Duration::days(d);
        for q in [
            AuditQuery::new(),
            AuditQuery::new().since(day(1)),
            AuditQuery::new().until(day(2)),
            AuditQuery::new().since(day(1)).until(day(3)).limit(1),
            AuditQuery::new().since(day(4)).until(day(2)),
            AuditQuery::new().cursor(AuditCursor::below(3)).since(day(1)),
            AuditQuery::new().event(EventFilter::Action(Create)).limit(1),
        ] {
            assert_eq!(q.select_within(&log, true), q.select(&log), "{q:?}");
        }
        let page = AuditQuery::new().since(day(1)).until(day(3)).limit(2).select(&log);
        let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 2]);
        assert_eq!(page.next_cursor, Some(AuditCursor::below(2)));
        let page = AuditQuery::new()
            .since(day(1))
            .until(day(3))
            .cursor(AuditCursor::below(2))
            .select(&log);
        let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1]);
        assert_eq!(page.next_cursor, None);
    }
}
