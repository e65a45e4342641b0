//! Whether the customer explicitly asks for a person: "let me talk to a human", "agent please",
//! "can I speak to a representative", "transfer me to customer service". Rules only.
//!
//! Asking *how* to reach the store ("what are your phone hours?") is the `contact_human` intent
//! but not this flag: the flag means "hand me over now". A refusal ("I don't need to talk to
//! anyone") is not a request.

use super::text::words;

/// Who a customer may ask for.
const PERSON: &[&str] = &[
    "human",
    "humans",
    "person",
    "agent",
    "agents",
    "representative",
    "representatives",
    "rep",
    "operator",
    "manager",
    "supervisor",
    "someone",
    "somebody",
    "staff",
    "employee",
    "associate",
];
/// Verbs (and openers) that make a following person a request.
const ASK: &[&str] = &[
    "speak",
    "speaking",
    "talk",
    "talking",
    "chat",
    "chatting",
    "connect",
    "transfer",
    "escalate",
    "escalating",
    "want",
    "need",
    "get",
    "reach",
    "contact",
    "have",
    "give",
    "put",
    "let",
    "prefer",
    "request",
    "requesting",
];
/// Verbs that make "customer service" / "support" a request to be handed over (asking how to
/// *contact* them is a question about contact details instead).
const HAND_OVER: &[&str] = &[
    "speak", "speaking", "talk", "talking", "chat", "chatting", "connect", "transfer", "escalate",
    "put",
];
const NEGATION: &[&str] = &[
    "don't", "dont", "not", "no", "never", "without", "doesn't", "didn't",
];
/// Words that may stand alone beside a person word: "agent please", "a real human!!".
const FILLER: &[&str] = &[
    "a", "an", "the", "please", "pls", "plz", "now", "real", "live", "actual", "just", "human",
    "customer", "service", "talk", "to",
];

/// True when the message asks to be handed to a person.
pub fn asks_for_human(text: &str) -> bool {
    let w = words(text);
    let is_person = |i: usize| {
        let x = w[i].as_str();
        PERSON.contains(&x)
            || x == "service" && i > 0 && w[i - 1] == "customer"
            || x == "support" && i > 0 && matches!(w[i - 1].as_str(), "customer" | "tech" | "live")
            || x == "team" && i > 0 && w[i - 1] == "support"
            || x == "chat" && i > 0 && w[i - 1] == "live"
    };
    // A message that is only a person word: "human", "agent please", "REPRESENTATIVE".
    if !w.is_empty()
        && w.iter().enumerate().any(|(i, _)| is_person(i))
        && w.iter()
            .enumerate()
            .all(|(i, x)| is_person(i) || FILLER.contains(&x.as_str()))
    {
        return w
            .iter()
            .any(|x| !matches!(x.as_str(), "someone" | "somebody"));
    }
    for i in 0..w.len() {
        if !is_person(i) {
            continue;
        }
        let team = matches!(w[i].as_str(), "service" | "support" | "team" | "chat");
        let from = i.saturating_sub(6);
        let verbs = if team { HAND_OVER } else { ASK };
        let Some(v) = (from..i).rev().find(|&k| verbs.contains(&w[k].as_str())) else {
            continue;
        };
        // "call me" style requests are not here; negation right before the verb cancels it.
        let negated = (v.saturating_sub(3)..v).any(|k| NEGATION.contains(&w[k].as_str()));
        if !negated {
            return true;
        }
    }
    // "call me back", "can someone call me".
    w.windows(2).any(|p| p[0] == "call" && p[1] == "me")
        && !w.iter().any(|x| NEGATION.contains(&x.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_requests_for_a_person() {
        for t in [
            "I want to speak with an agent",
            "how to talk to a human agent?",
            "can I chat with an operator?",
            "agent please",
            "HUMAN",
            "transfer me to customer service",
            "I need assistance speaking to customer support",
            "Can I get a real person on the line",
            "please have someone call me back",
        ] {
            assert!(asks_for_human(t), "{t}");
        }
    }

    #[test]
    fn questions_about_contact_details_and_refusals_are_not_requests() {
        for t in [
            "what hours can I reach customer service?",
            "I don't want to talk to a human, just tell me where my order is",
            "someone used my card",
            "where is my order LF-100234",
            "is customer service open on sundays",
        ] {
            assert!(!asks_for_human(t), "{t}");
        }
    }
}
