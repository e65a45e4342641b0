//! Step: forget. What the journal keeps about customers, and how it stops keeping it:
//! masking personal data (emails, phone numbers, card-like numbers, street addresses) wherever
//! conversations are shown as a log or counted for analytics, purging conversations older than
//! the retention period, and erasing one customer's conversations on request.
//!
//! It does not touch the store's business records (orders, returns, the action log): those are
//! the store's books, kept for accounting and disputes, and they are not a conversation log.
//! Masking is for views; the journal itself stores what was said, so a person handling a
//! hand-off can still see the address the customer asked to ship to.

use std::sync::LazyLock;

use crate::{
    journal::{Deleted as Removed, Journal, JournalError},
    orders::{OrderError, OrderStore},
};
use regex::{Captures, Regex};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Orders(#[from] OrderError),
}

impl PrivacyError {
    /// Stable code for the CLI and API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadEmail(_) => "invalid_email",
            Self::Journal(_) => "journal_failed",
            Self::Orders(e) => e.code(),
        }
    }
}

// Card-like: 13–19 digits, optionally in groups split by single spaces or dashes. Checked with
// Luhn before masking so order numbers and tracking numbers are left readable.
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("card pattern"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z0-9._%+-])[a-z0-9._%+-]*@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})\b")
        .expect("email pattern")
});
// Phone-like: an optional +, then 7–15 digits with spaces, dots, dashes or brackets between
// them. Dates (2026-11-27) and amounts are excluded by shape below.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b)\(?\d[\d .()-]{5,18}\d\b").expect("phone pattern"));
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$").expect("date pattern")
});
// A street address: a house number, one to four capitalised words and a street suffix, with an
// optional flat or suite. Deliberately narrow: a false positive only hides a few words.
static STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][A-Za-z'.-]*\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Crescent|Close|Row)\b\.?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*[A-Za-z0-9-]+)?",
    )
    .expect("street pattern")
});

/// `text` with personal data masked: `m***@example.com`, `[phone]`, `[card ••••4242]`,
/// `[address]`. Order numbers, tracking numbers, dates and prices stay as they are.
pub fn mask(text: &str) -> String {
    let text = CARD.replace_all(text, |c: &Captures| {
        let digits: String = c[0].chars().filter(char::is_ascii_digit).collect();
        if luhn(&digits) {
            format!("[card ••••{}]", &digits[digits.len() - 4..])
        } else {
            c[0].to_string()
        }
    });
    let text = EMAIL.replace_all(&text, "$1***@$2");
    let text = PHONE.replace_all(&text, |c: &Captures| {
        let m = c[0].trim();
        let digits = m.chars().filter(char::is_ascii_digit).count();
        // Seven digits at least, and not something else with digits in it.
        if (7..=15).contains(&digits) && !DATE.is_match(m) && !m.contains('•') {
            "[phone]".to_string()
        } else {
            c[0].to_string()
        }
    });
    STREET.replace_all(&text, "[address]").into_owned()
}

/// `text` masked when `on` (`privacy.mask_logs`), as the conversation log shows it.
pub fn for_log(text: &str, on: bool) -> std::borrow::Cow<'_, str> {
    if on {
        mask(text).into()
    } else {
        text.into()
    }
}

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, d) in digits
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
    {
        sum += if i % 2 == 1 {
            let d2 = d * 2;
            if d2 > 9 {
                d2 - 9
            } else {
                d2
            }
        } else {
            d
        };
    }
    digits.len() >= 13 && sum % 10 == 0
}

/// Erases every conversation of the customer with `email`: those verified as that customer,
/// those where the address was written (an unverified customer giving their email), and those
/// by email from that address.
pub fn erase_customer(
    journal: &Journal,
    orders: &dyn OrderStore,
    email: &str,
) -> Result<Removed, PrivacyError> {
    let email = email.trim();
    if !EMAIL.is_match(email) || email.contains(char::is_whitespace) {
        return Err(PrivacyError::BadEmail(email.to_string()));
    }
    let customer_id = orders.customer_by_email(email)?.map(|c| c.id);
    let mut ids = journal.conversations_mentioning(email)?;
    ids.extend(journal.conversations_emailed_from(email)?);
    if let Some(id) = &customer_id {
        ids.extend(journal.conversations_of_customer(id)?);
    }
    ids.sort();
    ids.dedup();
    Ok(journal.delete_conversations(&ids)?)
}

/// Purges conversations whose last turn is older than `days` days (0 keeps everything).
pub fn purge_older_than(
    journal: &Journal,
    days: u32,
    now: time::OffsetDateTime,
) -> Result<Removed, PrivacyError> {
    if days == 0 {
        return Ok(Removed::default());
    }
    let cutoff = now - time::Duration::days(i64::from(days));
    let ids = journal.conversations_idle_since(cutoff)?;
    Ok(journal.delete_conversations(&ids)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_keep_their_first_letter_and_domain() {
        assert_eq!(
            mask("write to maya.chen@example.com please"),
            "write to m***@example.com please"
        );
    }

    #[test]
    fn phone_numbers_are_masked_in_common_shapes() {
        for phone in [
            "+1 (503) 555-0142",
            "503-555-0142",
            "+44 20 7946 0958",
            "07700 900123",
            "555.0142.99",
        ] {
            assert_eq!(
                mask(&format!("call me on {phone} tonight")),
                "call me on [phone] tonight",
                "{phone}"
            );
        }
    }

    #[test]
    fn card_numbers_keep_only_the_last_four_digits() {
        assert_eq!(
            mask("card 4242 4242 4242 4242 was charged"),
            "card [card ••••4242] was charged"
        );
        assert_eq!(mask("4111-1111-1111-1111"), "[card ••••1111]");
    }

    #[test]
    fn street_addresses_are_masked_with_their_flat() {
        assert_eq!(
            mask("ship to 742 Evergreen Terrace, Springfield"),
            "ship to [address], Springfield"
        );
        assert_eq!(
            mask("my address is 12 Market St, Apt 4B now"),
            "my address is [address] now"
        );
        assert_eq!(mask("1600 Pennsylvania Avenue"), "[address]");
    }

    #[test]
    fn order_facts_stay_readable() {
        for text in [
            "Order LF-100001 shipped on 2026-11-25 with UPS",
            "Tracking number: 1Z8V2E410300100001",
            "Refund of $129.00 to your Visa ending 4242",
            "order #W2378156, 3 items, total 1,234.56",
            "Return within 30 days of delivery",
            "on 25/11/2026 at 14:05",
        ] {
            assert_eq!(mask(text), text);
        }
        // A long digit run that fails Luhn is not a card (and too long to be a phone).
        assert_eq!(mask("ref 1234567812345678901"), "ref 1234567812345678901");
    }
}
