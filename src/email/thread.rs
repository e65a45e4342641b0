//! Threading headers of a reply (RFC 5322 3.6.4): In-Reply-To names the message answered,
//! References carries the chain so far plus that message, the subject gains one "Re: " (never
//! "Re: Re: "), and every message shopkeep sends gets a Message-ID on the store's own domain.

/// Longest References chain sent: the first message and the latest ones are what clients use.
const MAX_REFERENCES: usize = 20;

/// "Re: " + the subject without any reply prefixes it already had ("RE:", "Re[2]:", "AW:", "SV:").
pub fn reply_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        let prefix_len = ["re:", "aw:", "sv:", "antw:", "vs:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len())
            .or_else(|| {
                // "Re[2]:" / "Re(2):"
                let rest = lower.strip_prefix("re")?;
                let close = rest.find([']', ')'])?;
                (rest.starts_with(['[', '('])
                    && rest[1..close].chars().all(|c| c.is_ascii_digit())
                    && rest[close + 1..].starts_with(':'))
                .then_some(2 + close + 2)
            });
        match prefix_len {
            Some(n) => s = s[n..].trim_start(),
            None => break,
        }
    }
    if s.is_empty() {
        "Re: Your message".into()
    } else {
        format!("Re: {s}")
    }
}

/// Does the subject already start with a reply prefix?
pub fn is_reply(subject: &str) -> bool {
    reply_subject(subject) != format!("Re: {}", subject.trim())
}

/// The References of a reply to a message with `references` and `message_id`.
pub fn reply_references(references: &[String], message_id: &str) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    for r in references
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(message_id))
    {
        if !r.is_empty() && !refs.iter().any(|x| x == r) {
            refs.push(r.to_string());
        }
    }
    if refs.len() > MAX_REFERENCES {
        // Keep the thread's root and the most recent messages.
        let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs.truncate(1);
        refs.extend(tail);
    }
    refs
}

/// A new Message-ID (without angle brackets) on `domain`.
pub fn new_message_id(domain: &str) -> String {
    format!("shopkeep.{}@{domain}", uuid::Uuid::new_v4().simple())
}

/// The ids to look a reply's conversation up by, most telling first: In-Reply-To, then
/// References from the newest.
pub fn lookup_ids(in_reply_to: &[String], references: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = in_reply_to.to_vec();
    ids.extend(references.iter().rev().cloned());
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_get_exactly_one_re() {
        assert_eq!(
            reply_subject("Where is my order?"),
            "Re: Where is my order?"
        );
        assert_eq!(
            reply_subject("Re: Where is my order?"),
            "Re: Where is my order?"
        );
        assert_eq!(
            reply_subject("RE: re: Re[2]: AW: Where is my order?"),
            "Re: Where is my order?"
        );
        assert_eq!(
            reply_subject("Return policy"),
            "Re: Return policy",
            "a word starting with 're' is not a prefix"
        );
        assert_eq!(reply_subject("  "), "Re: Your message");
        assert!(is_reply("RE: Where is my order?") && !is_reply("Return policy"));
    }

    #[test]
    fn references_carry_the_chain_and_the_message_answered_once() {
        let refs = reply_references(&["a@x".into(), "b@y".into()], "c@z");
        assert_eq!(refs, ["a@x", "b@y", "c@z"]);
        assert_eq!(reply_references(&["a@x".into()], "a@x"), ["a@x"]);
        let long: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
        let refs = reply_references(&long, "new@x");
        assert_eq!(refs.len(), MAX_REFERENCES);
        assert_eq!(
            (refs[0].as_str(), refs[MAX_REFERENCES - 1].as_str()),
            ("m0@x", "new@x")
        );
    }

    #[test]
    fn message_ids_are_on_the_store_domain_and_addresses_are_checked() {
        use crate::config::address_domain;
        let id = new_message_id("shop.test");
        assert!(id.ends_with("@shop.test") && id != new_message_id("shop.test"));
        assert_eq!(address_domain("support@shop.test"), Some("shop.test"));
        assert_eq!(address_domain("not an address"), None);
        assert_eq!(address_domain("a@localhost"), None);
    }
}
