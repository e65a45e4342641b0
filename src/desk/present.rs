//! How the desk says things to the people who read it all day: times in the store's time zone
//! (`store.timezone`, an IANA name) as "12 min ago" with the exact time beside it, hand-off
//! reasons, intents, outcomes, order statuses and action kinds in words, and amounts in the
//! store's currency (`store.currency`, ISO 4217).
//!
//! Plain text only: the pages (`http::admin`) put it into markup. It does not decide what a
//! viewer may see (masking is `privacy`'s, applied by the pages).

use jiff::{tz::TimeZone, Timestamp, Unit, Zoned};

use crate::money::Currency;

#[derive(Debug, thiserror::Error)]
pub enum PresentError {
    #[error("store.timezone {0:?} is not an IANA time zone name (such as \"Europe/Berlin\")")]
    UnknownTimeZone(String),
    #[error("store.currency {0:?} is not an ISO 4217 currency code (such as \"EUR\")")]
    UnknownCurrency(String),
}

impl PresentError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTimeZone(_) => "invalid_timezone",
            Self::UnknownCurrency(_) => "invalid_currency",
        }
    }
}

/// The store's clock and money, from the config; made once and shared.
#[derive(Debug, Clone)]
pub struct Presenter {
    tz: TimeZone,
    tz_name: String,
    currency: Currency,
}

/// A moment as the desk shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// "just now", "12 min ago", "3 h ago", "yesterday 14:05", "4 Dec 14:05", "4 Dec 2025".
    pub relative: String,
    /// "Fri 4 Dec 2026, 14:05:07 CET": the exact time in the store's zone.
    pub exact: String,
    /// RFC 3339 in UTC, for `<time datetime>`.
    pub iso: String,
}

impl Presenter {
    /// `timezone`: an IANA name ("Europe/Berlin"; "UTC"). `currency`: ISO 4217 ("USD").
    pub fn new(timezone: &str, currency: &str) -> Result<Self, PresentError> {
        let tz = TimeZone::get(timezone.trim())
            .map_err(|_| PresentError::UnknownTimeZone(timezone.to_string()))?;
        let currency = Currency::from_code(currency)
            .ok_or_else(|| PresentError::UnknownCurrency(currency.to_string()))?;
        Ok(Self {
            tz,
            tz_name: timezone.trim().to_string(),
            currency,
        })
    }

    pub fn timezone_name(&self) -> &str {
        &self.tz_name
    }

    /// A stored time (RFC 3339) as seen at `now`; `None` when it is not a time.
    pub fn when(&self, stored: &str, now: Timestamp) -> Option<When> {
        let t: Timestamp = stored.trim().parse().ok()?;
        Some(self.when_ts(t, now))
    }

    pub fn when_ts(&self, t: Timestamp, now: Timestamp) -> When {
        let local = t.to_zoned(self.tz.clone());
        let today = now.to_zoned(self.tz.clone());
        When {
            relative: relative(&local, &today),
            exact: local.strftime("%a %-d %b %Y, %H:%M:%S %Z").to_string(),
            iso: t.round(Unit::Second).unwrap_or(t).to_string(),
        }
    }

    /// An amount in minor units ("cents") in the store's currency: "$1,234.56", "€5.95".
    pub fn money(&self, minor: i64) -> String {
        self.currency.amount(minor)
    }
}

/// One field an action changed, as the action log lists it: "order › status: Pending →
/// Cancelled".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Where, from the snapshot's root: "order › items › LSH-WHITE-M › status".
    pub path: String,
    /// "–" when the field was not there.
    pub before: String,
    pub after: String,
}

/// At most this many changes are listed per action; the full documents stay one click away.
const MAX_CHANGES: usize = 40;

impl Presenter {
    /// What differs between an action's stored before and after: one line per changed field,
    /// amounts (`…_cents`) in the store's currency. Lists of records are matched by their
    /// `id`, `item_id` or `number`, so a removed item is one change, not every later item
    /// shifted by one.
    pub fn changes(&self, before: &serde_json::Value, after: &serde_json::Value) -> Vec<Change> {
        let mut out = Vec::new();
        self.diff(&mut Vec::new(), before, after, &mut out);
        out.truncate(MAX_CHANGES);
        out
    }

    fn diff(
        &self,
        path: &mut Vec<String>,
        before: &serde_json::Value,
        after: &serde_json::Value,
        out: &mut Vec<Change>,
    ) {
        use serde_json::Value;
        if before == after || out.len() >= MAX_CHANGES {
            return;
        }
        match (before, after) {
            // A list that was not there is an empty one: its entries are listed one by one.
            (Value::Null, Value::Array(_)) => {
                self.diff(path, &Value::Array(Vec::new()), after, out)
            }
            (Value::Array(_), Value::Null) => {
                self.diff(path, before, &Value::Array(Vec::new()), out)
            }
            (Value::Object(b), Value::Object(a)) => {
                let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    path.push(k.clone());
                    self.diff(
                        path,
                        b.get(k).unwrap_or(&Value::Null),
                        a.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                    path.pop();
                }
            }
            (Value::Array(b), Value::Array(a)) => {
                let keyed = |v: &[Value]| -> Option<Vec<(String, Value)>> {
                    v.iter()
                        .map(|x| {
                            ["id", "item_id", "number"]
                                .iter()
                                .find_map(|k| x.get(*k).and_then(Value::as_str))
                                .map(|key| (key.to_string(), x.clone()))
                        })
                        .collect()
                };
                match (keyed(b), keyed(a)) {
                    (Some(kb), Some(ka)) => {
                        // Before's records in their order, then those only after has.
                        let keys = kb.iter().chain(ka.iter()).map(|(k, _)| k);
                        let mut seen = std::collections::HashSet::new();
                        for k in keys {
                            if !seen.insert(k.clone()) {
                                continue;
                            }
                            let find = |l: &[(String, Value)]| {
                                l.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
                            };
                            path.push(k.clone());
                            self.diff(
                                path,
                                &find(&kb).unwrap_or(Value::Null),
                                &find(&ka).unwrap_or(Value::Null),
                                out,
                            );
                            path.pop();
                        }
                    }
                    // Same length, or one list continued (a payment added, a parcel event):
                    // position by position, so what was added is one line each.
                    _ if a.len() == b.len() || a.starts_with(b) || b.starts_with(a) => {
                        for i in 0..a.len().max(b.len()) {
                            path.push((i + 1).to_string());
                            self.diff(
                                path,
                                b.get(i).unwrap_or(&Value::Null),
                                a.get(i).unwrap_or(&Value::Null),
                                out,
                            );
                            path.pop();
                        }
                    }
                    _ => self.leaf(path, before, after, out),
                }
            }
            _ => self.leaf(path, before, after, out),
        }
    }

    fn leaf(
        &self,
        path: &[String],
        before: &serde_json::Value,
        after: &serde_json::Value,
        out: &mut Vec<Change>,
    ) {
        let money = path.last().is_some_and(|k| k.ends_with("_cents"));
        out.push(Change {
            path: path.join(" › "),
            before: self.value(before, money),
            after: self.value(after, money),
        });
    }

    /// A value in a change line: text as it is, amounts in the currency, records compact.
    fn value(&self, v: &serde_json::Value, money: bool) -> String {
        use serde_json::Value;
        match v {
            Value::Null => "–".into(),
            Value::String(s) if s.is_empty() => "(empty)".into(),
            // A moment reads in the store's zone, to the second, not as stored (nanoseconds, UTC).
            Value::String(s) => match s.parse::<Timestamp>() {
                Ok(t) => t
                    .to_zoned(self.tz.clone())
                    .strftime("%-d %b %Y, %H:%M:%S %Z")
                    .to_string(),
                Err(_) => s.clone(),
            },
            Value::Number(n) if money => {
                n.as_i64().map_or_else(|| n.to_string(), |c| self.money(c))
            }
            Value::Bool(true) => "yes".into(),
            Value::Bool(false) => "no".into(),
            // A record reads as its plain fields: "kind: refund, amount_cents: €152.76, …".
            Value::Object(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .filter(|(_, v)| !v.is_object() && !v.is_array() && !v.is_null())
                    .map(|(k, v)| format!("{k}: {}", self.value(v, k.ends_with("_cents"))))
                    .collect();
                let text = parts.join(", ");
                match text.char_indices().nth(160) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text,
                }
            }
            other => {
                let text = other.to_string();
                match text.char_indices().nth(120) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text,
                }
            }
        }
    }
}

fn relative(t: &Zoned, now: &Zoned) -> String {
    let secs = now.timestamp().as_second() - t.timestamp().as_second();
    if secs < 0 {
        return format!("at {}", t.strftime("%H:%M"));
    }
    let mins = secs / 60;
    if mins < 1 {
        return "just now".into();
    }
    if mins < 60 {
        return format!("{mins} min ago");
    }
    if mins < 12 * 60 {
        let (h, m) = (mins / 60, mins % 60);
        return if m == 0 {
            format!("{h} h ago")
        } else {
            format!("{h} h {m} min ago")
        };
    }
    let (day, today) = (t.date(), now.date());
    if day == today {
        return format!("today {}", t.strftime("%H:%M"));
    }
    if today.yesterday().ok() == Some(day) {
        return format!("yesterday {}", t.strftime("%H:%M"));
    }
    if day.year() == today.year() {
        return t.strftime("%-d %b %H:%M").to_string();
    }
    t.strftime("%-d %b %Y").to_string()
}

/// "12 min", "3 h 5 min", "2 days 4 h": a duration for ages and targets.
pub fn minutes_words(mins: i64) -> String {
    let mins = mins.max(0);
    match mins {
        0..60 => format!("{mins} min"),
        60..1440 => match mins % 60 {
            0 => format!("{} h", mins / 60),
            m => format!("{} h {m} min", mins / 60),
        },
        _ => {
            let (d, h) = (mins / 1440, (mins % 1440) / 60);
            let days = if d == 1 {
                "1 day".to_string()
            } else {
                format!("{d} days")
            };
            if h == 0 {
                days
            } else {
                format!("{days} {h} h")
            }
        }
    }
}

/// Why the assistant handed a conversation over, as a sentence fragment a person reads.
pub fn reason(code: &str) -> String {
    match code {
        "customer_asked" => "Customer asked for a person".into(),
        "weak_grounding" => "No help-centre passage answered it well".into(),
        "repeated_failure" => "The assistant did not understand twice in a row".into(),
        "sensitive" => "Sensitive: legal, safety, fraud or strong feelings".into(),
        "complaint" => "A complaint".into(),
        "outside_policy" => "Needs a decision the policy leaves to people".into(),
        "action_requested" => "An order change a person carries out".into(),
        "verification_limit" | "verification_limited" => "Identity checks failed too often".into(),
        other => humanise(other),
    }
}

/// What the customer wanted (an intent code), in words.
pub fn intent(code: &str) -> String {
    match code {
        "order_status" => "Where is my order".into(),
        "cancel_order" => "Cancel an order".into(),
        "change_order" => "Change an order".into(),
        "change_address" => "Change the delivery address".into(),
        "refund_request" => "Asks for a refund".into(),
        "refund_status" => "Where is my refund".into(),
        "return_request" => "Return something".into(),
        "exchange_request" => "Exchange something".into(),
        "return_policy" => "Returns and refunds policy".into(),
        "delivery_info" => "Delivery times and costs".into(),
        "payment_methods" => "Ways to pay".into(),
        "payment_issue" => "A payment problem".into(),
        "invoice" => "An invoice or receipt".into(),
        "account" => "Their account".into(),
        "cancellation_fee" => "Cancellation fees".into(),
        "place_order" => "Placing an order".into(),
        "product_question" => "A product question".into(),
        "stock_check" => "Is it in stock".into(),
        "contact_human" => "Talk to a person".into(),
        "complaint" => "A complaint".into(),
        "feedback" => "Feedback".into(),
        "newsletter" => "The newsletter".into(),
        "greeting" => "Hello".into(),
        "thanks" => "Thanks".into(),
        "goodbye" => "Goodbye".into(),
        "out_of_scope" => "Something the shop does not handle".into(),
        other => humanise(other),
    }
}

/// How a conversation ended up.
pub fn outcome(code: &str) -> String {
    match code {
        "answered" => "Answered".into(),
        "unresolved" => "Not resolved".into(),
        "handoff" => "Handed to a person".into(),
        other => humanise(other),
    }
}

/// A logged action's kind.
pub fn action_kind(code: &str) -> String {
    if let Some(undone) = code.strip_prefix("revert_") {
        return format!("Undid: {}", action_kind(undone).to_lowercase());
    }
    match code {
        "cancel_order" => "Cancelled the order".into(),
        "return_items" => "Opened a return".into(),
        "exchange_items" => "Opened an exchange".into(),
        "change_order_items" => "Changed the items".into(),
        "change_order_address" => "Changed the delivery address".into(),
        "change_order_payment" => "Changed the payment method".into(),
        other => humanise(other),
    }
}

/// A logged action's status.
pub fn action_status(code: &str) -> String {
    match code {
        "executed" => "Done".into(),
        "reverted" => "Undone".into(),
        other => humanise(other),
    }
}

/// A hand-off's status.
pub fn handoff_status(code: &str) -> String {
    match code {
        "open" => "Waiting".into(),
        "claimed" => "Claimed".into(),
        "resolved" => "Resolved".into(),
        other => humanise(other),
    }
}

/// How a customer proved who they are.
pub fn verified_by(code: &str) -> String {
    match code {
        "order_email" => "order number and email".into(),
        "order_postcode" => "order number and postcode".into(),
        "email" => "email".into(),
        "token" => "the store's login".into(),
        "name_postcode" => "name and postcode".into(),
        other => humanise(other).to_lowercase(),
    }
}

/// A channel's name.
pub fn channel(code: &str) -> String {
    match code {
        "widget" => "Chat widget".into(),
        "api" => "API".into(),
        "email" => "Email".into(),
        "cli" => "Command line".into(),
        other => humanise(other),
    }
}

/// `snake_case` as a capitalised phrase: an unknown code still reads as words.
pub fn humanise(code: &str) -> String {
    let words = code.replace(['_', '-'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn times_are_relative_with_the_exact_time_in_the_stores_zone() {
        let p = Presenter::new("Europe/Berlin", "EUR").unwrap();
        let now = at("2026-12-04T15:00:00Z");
        let w = p.when("2026-12-04T14:48:00.123456Z", now).unwrap();
        assert_eq!(w.relative, "12 min ago");
        assert_eq!(w.exact, "Fri 4 Dec 2026, 15:48:00 CET");
        assert_eq!(w.iso, "2026-12-04T14:48:00Z");
        assert_eq!(
            p.when("2026-12-04T14:59:40Z", now).unwrap().relative,
            "just now"
        );
        assert_eq!(
            p.when("2026-12-04T12:00:00Z", now).unwrap().relative,
            "3 h ago"
        );
        assert_eq!(
            p.when("2026-12-03T20:30:00Z", now).unwrap().relative,
            "yesterday 21:30"
        );
        assert_eq!(
            p.when("2026-10-01T08:00:00Z", now).unwrap().relative,
            "1 Oct 10:00"
        );
        assert_eq!(
            p.when("2025-10-01T08:00:00Z", now).unwrap().relative,
            "1 Oct 2025"
        );
        assert!(p.when("not a time", now).is_none());
        // Summer time is the zone's own.
        let summer = p.when("2026-07-01T12:00:00Z", now).unwrap();
        assert!(summer.exact.ends_with("14:00:00 CEST"), "{}", summer.exact);
        assert_eq!(
            Presenter::new("Mars/Olympus", "EUR").unwrap_err().code(),
            "invalid_timezone"
        );
    }

    #[test]
    fn an_actions_change_is_listed_field_by_field() {
        let pr = Presenter::new("UTC", "EUR").unwrap();
        let before = serde_json::json!({
            "order": {"number": "LF-1", "status": "pending", "total_cents": 15276,
                      "items": [{"item_id": "A", "status": "pending"}, {"item_id": "B", "status": "pending"}]},
            "customer": {"email": "a@example.com"}
        });
        let after = serde_json::json!({
            "order": {"number": "LF-1", "status": "cancelled", "total_cents": 0,
                      "items": [{"item_id": "B", "status": "cancelled"}], "cancel_reason": "ordered by mistake",
                      "payments": [{"kind": "refund", "amount_cents": 15276, "at": "2026-12-04T03:56:43.654170123Z"}]},
            "customer": {"email": "a@example.com"}
        });
        let lines: Vec<String> = pr
            .changes(&before, &after)
            .iter()
            .map(|c| format!("{}: {} → {}", c.path, c.before, c.after))
            .collect();
        assert_eq!(
            lines,
            [
                "order › cancel_reason: – → ordered by mistake",
                "order › items › A: item_id: A, status: pending → –",
                "order › items › B › status: pending → cancelled",
                "order › payments › 1: – → amount_cents: €152.76, at: 4 Dec 2026, 03:56:43 UTC, kind: refund",
                "order › status: pending → cancelled",
                "order › total_cents: €152.76 → €0.00",
            ]
        );
        assert!(pr.changes(&before, &before).is_empty());
    }

    #[test]
    fn amounts_are_in_the_stores_currency() {
        assert_eq!(
            Presenter::new("UTC", "USD").unwrap().money(123456),
            "$1,234.56"
        );
        assert_eq!(Presenter::new("UTC", "eur").unwrap().money(-595), "-€5.95");
        assert_eq!(Presenter::new("UTC", "JPY").unwrap().money(1200), "¥1,200");
        assert_eq!(Presenter::new("UTC", "GBP").unwrap().money(5), "£0.05");
        assert_eq!(
            Presenter::new("UTC", "XYZ").unwrap_err().code(),
            "invalid_currency"
        );
    }

    #[test]
    fn codes_read_as_words_and_unknown_ones_still_do() {
        assert_eq!(reason("customer_asked"), "Customer asked for a person");
        assert_eq!(
            reason("verification_limit"),
            "Identity checks failed too often"
        );
        assert_eq!(reason("brand_new_reason"), "Brand new reason");
        assert_eq!(intent("order_status"), "Where is my order");
        assert_eq!(outcome("handoff"), "Handed to a person");
        assert_eq!(
            action_kind("revert_cancel_order"),
            "Undid: cancelled the order"
        );
        assert_eq!(minutes_words(0), "0 min");
        assert_eq!(minutes_words(125), "2 h 5 min");
        assert_eq!(minutes_words(60 * 24 * 2 + 60), "2 days 1 h");
    }
}
