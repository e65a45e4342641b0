//! Step: identity before order data. A customer is verified by an order number plus that order's
//! email or postcode; by email alone or by name plus postcode where the store allows it; or by a
//! signed customer token from the store's own login. A failure always gets the same reply,
//! whether or not the order exists, and failures are limited per conversation, per client
//! address and per order (across addresses) so order numbers cannot be enumerated and one
//! order's details cannot be guessed from many addresses.
//!
//! An order number with its shipping postcode is a weak proof: order numbers are sequential and
//! postcodes cluster (one common postcode opened 1 in 8 demo orders), so it is off unless the
//! store's policy lists `order_postcode`. The email on the order, a signed token, or (where the
//! store allows) the account's email, or name and postcode, stay the ways in.
//!
//! This module answers "who is this?"; it does not decide what they may do (policy) or fetch
//! what they asked for (the assistant).

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;

use crate::{
    config::IdentityConfig,
    orders::{OrderError, OrderStore},
};

/// A verified customer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Identity {
    pub customer_id: String,
    pub method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    OrderEmail,
    OrderPostcode,
    Email,
    NamePostcode,
    Token,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderEmail => "order_email",
            Self::OrderPostcode => "order_postcode",
            Self::Email => "email",
            Self::NamePostcode => "name_postcode",
            Self::Token => "token",
        }
    }
}

/// What the customer has offered as proof, gathered from the message and earlier turns.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub order_number: Option<String>,
    pub email: Option<String>,
    pub postcode: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A τ-bench style user id ("mia_garcia_4516"), checked with the postcode on file.
    pub user_id: Option<String>,
    /// Further emails the customer gave ("my emails are … and …"); each is tried in turn.
    pub more_emails: Vec<String>,
}

/// The outcome of checking a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Verified(Identity),
    /// Not enough offered yet: nothing was checked, nothing counts as a failure.
    Incomplete,
    /// Checked and wrong. Deliberately carries no detail: the reply must not reveal which part
    /// failed or whether the order exists.
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Orders(#[from] OrderError),
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Checks a claim against the order store.
pub fn check(
    store: &dyn OrderStore,
    cfg: &IdentityConfig,
    claim: &Claim,
) -> Result<Verdict, VerifyError> {
    let by_order = check_order(store, cfg, claim)?;
    if matches!(by_order, Verdict::Verified(_)) {
        return Ok(by_order);
    }
    // An order number that does not prove who this is (mistyped, or not theirs) does not undo
    // a proof that stands on its own: a user id or a name, with the postcode on file.
    let by_account = check_account(store, cfg, claim)?;
    Ok(match (by_order, by_account) {
        (_, Verdict::Verified(id)) => Verdict::Verified(id),
        (Verdict::Failed, _) => Verdict::Failed,
        (_, other) => other,
    })
}

fn check_order(
    store: &dyn OrderStore,
    cfg: &IdentityConfig,
    claim: &Claim,
) -> Result<Verdict, VerifyError> {
    if let Some(number) = &claim.order_number {
        let postcode = claim.postcode.as_ref().filter(|_| cfg.allow_order_postcode);
        if claim.email.is_none() && postcode.is_none() {
            return Ok(Verdict::Incomplete);
        }
        let Some(order) = store.order(number)? else {
            return Ok(Verdict::Failed);
        };
        let Some(customer) = store.customer(&order.customer_id)? else {
            return Ok(Verdict::Failed);
        };
        if let Some(email) = &claim.email {
            if norm(email) == norm(&customer.email) {
                return Ok(Verdict::Verified(Identity {
                    customer_id: customer.id,
                    method: Method::OrderEmail,
                }));
            }
        }
        if let Some(postcode) = postcode {
            let on_order = order.shipping_address.as_ref().map(|a| norm(&a.postcode));
            let on_file = customer.default_address.as_ref().map(|a| norm(&a.postcode));
            let given = norm(postcode);
            // ZIP+4 given, 5-digit ZIP stored (or the reverse): compare the 5-digit part.
            let same = |stored: &Option<String>| {
                stored.as_deref().is_some_and(|s| {
                    !s.is_empty() && (s == given || s.split('-').next() == given.split('-').next())
                })
            };
            if same(&on_order) || same(&on_file) {
                return Ok(Verdict::Verified(Identity {
                    customer_id: customer.id,
                    method: Method::OrderPostcode,
                }));
            }
        }
        return Ok(Verdict::Failed);
    }
    Ok(Verdict::Incomplete)
}

fn check_account(
    store: &dyn OrderStore,
    cfg: &IdentityConfig,
    claim: &Claim,
) -> Result<Verdict, VerifyError> {
    if cfg.allow_user_id_postcode {
        if let (Some(id), Some(postcode)) = (&claim.user_id, &claim.postcode) {
            // The same proof as a name and postcode: the id spells the name, the postcode must be
            // the one on file.
            return Ok(match store.customer(id)? {
                Some(c)
                    if c.default_address
                        .as_ref()
                        .is_some_and(|a| norm(&a.postcode) == norm(postcode)) =>
                {
                    Verdict::Verified(Identity {
                        customer_id: c.id,
                        method: Method::NamePostcode,
                    })
                }
                _ => Verdict::Failed,
            });
        }
    }
    if cfg.allow_name_postcode {
        if let (Some(first), Some(last), Some(postcode)) =
            (&claim.first_name, &claim.last_name, &claim.postcode)
        {
            let matches = store.customers_by_name_postcode(first, last, postcode)?;
            // Two customers with the same name and postcode: ambiguous, so not verified.
            return Ok(match matches.as_slice() {
                [one] => Verdict::Verified(Identity {
                    customer_id: one.id.clone(),
                    method: Method::NamePostcode,
                }),
                _ => Verdict::Failed,
            });
        }
    }
    if cfg.allow_email_only {
        if let Some(email) = &claim.email {
            for e in std::iter::once(email).chain(&claim.more_emails) {
                if let Some(c) = store.customer_by_email(e)? {
                    return Ok(Verdict::Verified(Identity {
                        customer_id: c.id,
                        method: Method::Email,
                    }));
                }
            }
            return Ok(Verdict::Failed);
        }
    }
    Ok(Verdict::Incomplete)
}

type HmacSha256 = Hmac<Sha256>;

/// Signs a customer token: `v1.<customer id>.<expiry unix seconds>.<hex HMAC-SHA256>`. The store
/// mints these for logged-in shoppers and passes them to the widget.
pub fn sign_token(secret: &str, customer_id: &str, expires_unix: u64) -> String {
    let payload = format!("v1.{customer_id}.{expires_unix}");
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    format!("{payload}.{}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a customer token; `None` when it is malformed, forged, expired, or tokens are off.
pub fn verify_token(secret: &str, token: &str, now_unix: u64) -> Option<Identity> {
    if secret.is_empty() {
        return None;
    }
    let (payload, sig) = token.rsplit_once('.')?;
    let mut parts = payload.splitn(3, '.');
    let (version, customer_id, expires) = (parts.next()?, parts.next()?, parts.next()?);
    // Customer ids may contain dots (τ-bench's don't, Shopify's don't); the expiry is last.
    let (customer_id, expires) = match expires.rsplit_once('.') {
        Some((more_id, exp)) => (format!("{customer_id}.{more_id}"), exp),
        None => (customer_id.to_string(), expires),
    };
    if version != "v1" || expires.parse::<u64>().ok()? < now_unix {
        return None;
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(payload.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&hex::decode(sig).ok()?).ok()?;
    Some(Identity {
        customer_id,
        method: Method::Token,
    })
}

/// Events per key (a conversation, a client address, an order) within a sliding window: failed
/// identity checks, and new hand-offs.
pub struct WindowCounter {
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl WindowCounter {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Failures recorded for `key` within the window.
    pub fn count(&self, key: &str) -> usize {
        let mut map = self.failures.lock();
        let now = Instant::now();
        match map.get_mut(key) {
            Some(q) => {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    q.pop_front();
                }
                q.len()
            }
            None => 0,
        }
    }

    /// How long until `key` is below `limit` again; `None` when it is below now.
    pub fn retry_after(&self, key: &str, limit: usize) -> Option<Duration> {
        if self.count(key) < limit.max(1) {
            return None;
        }
        let map = self.failures.lock();
        let q = map.get(key)?;
        // The failure that must expire for the count to drop below the limit.
        let oldest = q.get(q.len() - limit.max(1))?;
        Some(
            self.window
                .saturating_sub(oldest.elapsed())
                .max(Duration::from_secs(1)),
        )
    }

    pub fn record(&self, key: &str) {
        let mut map = self.failures.lock();
        // Bound memory under an enumeration attempt from many addresses: forget stale keys.
        if map.len() > 100_000 {
            let now = Instant::now();
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) <= self.window)
            });
        }
        map.entry(key.to_string())
            .or_default()
            .push_back(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgery_and_expiry() {
        let t = sign_token("s3cret", "cust_42", 2_000_000_000);
        assert_eq!(
            verify_token("s3cret", &t, 1_900_000_000)
                .unwrap()
                .customer_id,
            "cust_42"
        );
        assert!(verify_token("other", &t, 1_900_000_000).is_none());
        assert!(verify_token("s3cret", &t, 2_000_000_001).is_none());
        assert!(verify_token("s3cret", &t.replace("cust_42", "cust_43"), 1_900_000_000).is_none());
        assert!(verify_token("", &t, 0).is_none());
        assert!(verify_token("s3cret", "garbage", 0).is_none());
    }

    #[test]
    fn limiter_counts_within_its_window() {
        let l = WindowCounter::new(Duration::from_secs(60));
        l.record("a");
        l.record("a");
        assert_eq!(l.count("a"), 2);
        assert_eq!(l.count("b"), 0);
        assert_eq!(l.retry_after("a", 3), None);
        let wait = l.retry_after("a", 2).expect("at the limit");
        assert!(
            wait > Duration::from_secs(58) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }
}
